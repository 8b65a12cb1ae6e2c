"""An emitted package vendors only the runtime modules it reaches (compiler/emit/runtime_copy.py),
its ``_runtime/__init__.py`` names only those, and the manifest says how much was vendored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from castlm.compiler.emit import render_package
from castlm.compiler.emit.runtime_graph import module_files, runtime_root
from castlm.compiler.emit.runtime_init import vendored_init
from castlm.compiler.verify import verify_package
from test_emit_support import emit, imported, request_for, user_program, write_sources

AGENT = '''\
"""Answers with a tool."""

from castlm import InputField, Module, OutputField, ReAct, Signature, Tool


class Ask(Signature):
    """Answer the question."""

    question: str = InputField()
    answer: str = OutputField()


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class Agent(Module):
    def __init__(self) -> None:
        self.agent = ReAct(Ask, tools=[Tool(add)])

    def forward(self, question: str) -> Ask:
        return self.agent(question=question)
'''

SOLVER = '''\
"""Answers by running code."""

from castlm import InputField, Module, OutputField, ProgramOfThought, Signature


class Solve(Signature):
    """Solve the problem."""

    question: str = InputField()
    answer: str = OutputField()


class Solver(Module):
    def __init__(self) -> None:
        self.solve = ProgramOfThought(Solve)

    def forward(self, question: str) -> Solve:
        return self.solve(question=question)
'''


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CASTLM = shutil.which("castlm", path=str(Path(sys.executable).parent))
# What every package compiled with the stand-in carries of it: the model and ScriptedLM.
STANDIN_CORE = {
    f"testing/{name}.py"
    for name in (
        "__init__",
        "_scripted",
        "_standin",
        "_standin_answer",
        "_standin_guess",
        "_standin_parts",
        "_standin_prompt",
        "_standin_read",
        "_standin_retry",
        "_standin_rules",
        "_standin_text",
        "_standin_types",
    )
}


def _runtime(files: dict[str, bytes], package: str) -> dict[str, bytes]:
    prefix = f"{package}/_runtime/"
    return {p.removeprefix(prefix): d for p, d in files.items() if p.startswith(prefix)}


def _layers(runtime: dict[str, bytes]) -> set[str]:
    return {p.split("/")[0] for p in runtime if "/" in p}


def test_a_predictor_program_vendors_the_kernel_only(tmp_path: Path) -> None:
    program = write_sources(tmp_path)
    files = render_package(request_for(program, "pkg", lm_name="openai/gpt-4o-mini"))
    runtime = _runtime(files, "pkg")
    assert _layers(runtime) == {"base", "observe", "lm", "core"}
    assert "py.typed" in runtime
    root = runtime_root()
    for path, data in runtime.items():  # copied byte for byte, but for the root's __init__
        if path not in ("__init__.py", "py.typed"):
            assert data == (root / path).read_bytes(), path


def test_the_manifest_and_the_package_say_what_was_vendored(tmp_path: Path) -> None:
    program = write_sources(tmp_path)
    files = render_package(request_for(program, "pkg", lm_name="openai/gpt-4o-mini"))
    manifest = json.loads(files["pkg/manifest.json"])
    runtime = _runtime(files, "pkg")
    assert manifest["runtime"] == {
        "bytes": sum(map(len, runtime.values())),
        "files": len(runtime),
        "layers": ["base", "core", "lm", "observe"],
    }
    assert manifest["runtime"]["bytes"] < sum(p.stat().st_size for p in module_files().values())


def test_the_stand_in_comes_only_with_a_package_compiled_with_it(tmp_path: Path) -> None:
    program = write_sources(tmp_path)
    standin = _runtime(render_package(request_for(program, "pkg")), "pkg")
    real = _runtime(render_package(request_for(program, "pkg", lm_name="gpt-4o-mini")), "pkg")
    assert "testing" in _layers(standin)
    assert "testing" not in _layers(real)


def test_an_agent_program_vendors_the_agent_and_its_tools_only(tmp_path: Path) -> None:
    program = tmp_path / "agent.py"
    program.write_text(AGENT)
    with user_program(program) as module:
        params = module.Agent().get_params()
    request = request_for(program, "agent_pkg", params=params, module_class="Agent")
    runtime = _runtime(render_package(request), "agent_pkg")
    assert {"agents/_react.py", "tools/_tool.py"} <= set(runtime)
    assert not {"agents/_codeact.py", "tools/_mcp.py"} & set(runtime)
    assert not {"sandbox", "retrieval", "modules"} & _layers(runtime)


def test_the_sandbox_comes_with_the_child_it_runs(tmp_path: Path) -> None:
    """_sandbox.py reads _sandbox_child.py rather than importing it."""
    program = tmp_path / "solver.py"
    program.write_text(SOLVER)
    with user_program(program) as module:
        params = module.Solver().get_params()
    request = request_for(program, "solver_pkg", params=params, module_class="Solver")
    runtime = _runtime(render_package(request), "solver_pkg")
    assert {"sandbox/_sandbox.py", "sandbox/_sandbox_child.py"} <= set(runtime)


def test_a_partly_vendored_runtime_type_checks(tmp_path: Path) -> None:
    """An agent package compiled with a real model: part of agents/, no sandbox, no stand-in
    (whose optional imports then find nothing), under mypy --strict."""
    program = tmp_path / "src" / "agent.py"
    program.parent.mkdir()
    program.write_text(AGENT)
    with user_program(program) as module:
        params = module.Agent().get_params()
    request = request_for(
        program, "agent_pkg", params=params, module_class="Agent", lm_name="gpt-4o-mini"
    )
    out = emit(request, tmp_path / "out")
    assert not (out / "agent_pkg" / "_runtime" / "testing").exists()
    report = verify_package(
        out, "agent_pkg", dev_inputs=[], expected=None, lm_name="gpt-4o-mini", cache_dir=None
    )
    assert report.mypy_errors == ()
    assert report.import_error is None


def test_the_vendored_init_names_only_what_was_vendored(tmp_path: Path) -> None:
    program = write_sources(tmp_path / "src")
    out = emit(request_for(program, "lean_pkg", lm_name="gpt-4o-mini"), tmp_path / "out")
    with imported(out, "lean_pkg") as package:
        runtime = package._runtime
        assert "ReAct" not in runtime.__all__ and "Predict" in runtime.__all__
        for name in runtime.__all__:  # each one loads
            getattr(runtime, name)
        with pytest.raises(AttributeError, match="ReAct"):
            _ = runtime.ReAct


def test_a_lean_package_names_the_missing_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = write_sources(tmp_path / "src")
    out = emit(request_for(program, "real_pkg", lm_name="gpt-4o-mini"), tmp_path / "out")
    monkeypatch.setenv("CASTLM_MODEL", "standin")
    with imported(out, "real_pkg") as package:
        refused = pytest.raises(package.ConfigurationError, match="'standin' LM is not available")
        with refused:
            package.load()


def test_dropping_keeps_the_closing_brackets_in_place() -> None:
    source = (
        b"if TYPE_CHECKING:\n    from .a._x import X\n\n"
        b'_LAZY = {\n    "Y": ".b._y",\n    "X": ".a._x",\n}\n'
        b'__all__ = [\n    "X",\n    "Y",\n]\n'
    )
    assert vendored_init(source, {"b._y"}) == (
        b"if TYPE_CHECKING:\n    pass\n\n"
        b'_LAZY = {\n    "Y": ".b._y",\n}\n'
        b'__all__ = [\n    "Y",\n]\n'
    )


# agent: ReAct (its steps and its extract read a trajectory) and KNN demos (embed/).
@pytest.mark.parametrize(
    ("example", "parts"),
    [
        ("triage", set()),
        ("pipeline", set()),
        ("multihop", set()),
        ("agent", {"testing/_standin_react.py", "testing/_standin_embed.py"}),
    ],
)
def test_each_example_vendors_only_the_stand_in_and_image_parts_it_uses(
    tmp_path: Path, example: str, parts: set[str]
) -> None:
    assert CASTLM is not None
    command = [CASTLM, "compile", str(EXAMPLES / example), "--out", str(tmp_path)]
    options = ["--no-verify", "--no-cache", "--force"]
    # A child process: compiling imports the example's own modules (tools, corpus).
    subprocess.run([*command, *options], check=True, capture_output=True, timeout=600)
    (package,) = [p.parent for p in tmp_path.glob("*/py.typed")]
    root = package / "_runtime"
    vendored = {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    assert {p for p in vendored if p.startswith("testing/")} == STANDIN_CORE | parts
    assert not {p for p in vendored if p.startswith("base/_image")}


def test_a_program_naming_the_stand_in_embedder_gets_it(tmp_path: Path) -> None:
    """castlm.testing's re-exports name their modules, as castlm's own do."""
    source = AGENT.replace(
        "from castlm import", "from castlm.testing import StandInEmbedder\nfrom castlm import"
    ).replace(
        "        self.agent =", "        self.embedder = StandInEmbedder()\n        self.agent ="
    )
    program = tmp_path / "agent.py"
    program.write_text(source)
    with user_program(program) as module:
        params = module.Agent().get_params()
    request = request_for(program, "agent_pkg", params=params, module_class="Agent")
    files = render_package(request)
    runtime = _runtime(files, "agent_pkg")
    assert "testing/_standin_embed.py" in runtime and "embed" not in _layers(runtime)
    assert b"StandInEmbedder" in runtime["testing/__init__.py"]
