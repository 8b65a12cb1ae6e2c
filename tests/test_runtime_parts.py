"""The runtime parts a package vendors only when its program, its LM or its config asks for
them (compiler/emit/runtime_features.py), and what a package without one says when asked."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import castlm as cl
import pytest
from castlm.base._features import PARTS, not_vendored
from castlm.compiler.config import ProgramConfig, build_config, load_config_file
from castlm.compiler.emit import EmitRequest, render_package
from castlm.compiler.emit.runtime_features import AFORWARD, FEATURES, feature_modules, lm_features
from castlm.compiler.emit.runtime_graph import import_edges, layer_of, module_files
from castlm.compiler.emit.runtime_standin import CORE, FIELDS, STANDIN_PARTS, USED_BY
from castlm.compiler.errors import CompileError
from test_emit_support import PARAMS, emit, imported, request_for, user_program, write_sources

HISTORY = '''\
"""Answers in a conversation."""

from castlm import History, InputField, Module, OutputField, Predict, Signature


class Chat(Signature):
    """Answer the question."""

    history: History = InputField()
    question: str = InputField()
    answer: str = OutputField()


class Bot(Module):
    def __init__(self) -> None:
        self.chat = Predict(Chat)

    def forward(self, history: History, question: str) -> Chat:
        return self.chat(history=history, question=question)
'''

IMAGE = '''\
"""Describes a picture."""

from castlm import Image, InputField, Module, OutputField, Predict, Signature


class Describe(Signature):
    """Describe the picture."""

    picture: Image = InputField()
    caption: str = OutputField()


class Bot(Module):
    def __init__(self) -> None:
        self.describe = Predict(Describe)

    def forward(self, picture: Image) -> Describe:
        return self.describe(picture=picture)
'''

# The compiler writes an ``aforward`` into the program's modules, not into the local modules
# it vendors as they are: Module.acall makes their twins with castlm._aforward.
HELPER = '''\
"""A module of the project's own."""

from castlm import InputField, Module, OutputField, Predict, Signature


class Ask(Signature):
    """Answer the question."""

    question: str = InputField()
    answer: str = OutputField()


class Inner(Module):
    def __init__(self) -> None:
        self.ask = Predict(Ask)

    def forward(self, question: str) -> Ask:
        return self.ask(question=question)
'''

OUTER = '''\
"""Answers through a module of its own project."""

from castlm import Module

from helpers import Ask, Inner


class Bot(Module):
    def __init__(self) -> None:
        self.inner = Inner()

    def forward(self, question: str) -> Ask:
        return self.inner(question=question)
'''

REFINE = '''\
"""Answers, retrying with advice."""

from typing import Any

from castlm import InputField, Module, OutputField, Predict, Refine, Signature


class Ask(Signature):
    """Answer the question."""

    question: str = InputField()
    answer: str = OutputField()


def reward(inputs: dict[str, Any], prediction: Any) -> float:
    return 1.0


class Bot(Module):
    def __init__(self) -> None:
        self.refine = Refine(Predict(Ask), N=2, reward_fn=reward, threshold=1.0)

    def forward(self, question: str) -> Ask:
        return self.refine(question=question)
'''

# A program of its own whose fields are ones the stand-in's parts answer.
NAMED_FIELDS = '''\
"""Gives advice."""

from castlm import InputField, Module, OutputField, Predict, Signature


class Advise(Signature):
    """Give advice on the question."""

    question: str = InputField()
    advice: str = OutputField()


class Recap(Signature):
    """Sum up what was done."""

    trajectory: str = InputField()
    summary: str = OutputField()


class Bot(Module):
    def __init__(self) -> None:
        self.advise = Predict(Advise)
        self.recap = Predict(Recap)

    def forward(self, question: str) -> Advise:
        return self.advise(question=question)
'''

STANDIN_FILES = {
    "testing/_standin_react.py",
    "testing/_standin_propose.py",
    "testing/_standin_embed.py",
}


class Advise(cl.Signature):
    """Give advice on the question."""

    question: str = cl.InputField()
    advice: str = cl.OutputField()


class Summarize(cl.Signature):
    """Summarize what the agent did."""

    trajectory: str = cl.InputField()
    summary: str = cl.OutputField()


OPTIONAL = {
    "lm/_litellm.py",
    "lm/_fallback.py",
    "core/_history.py",
    "base/_image.py",
    "core/_knn.py",
    "core/_aforward.py",
}


def _runtime(files: dict[str, bytes], package: str) -> set[str]:
    prefix = f"{package}/_runtime/"
    return {p.removeprefix(prefix) for p in files if p.startswith(prefix)}


def _request(tmp_path: Path, source: str, package: str, lm_name: str) -> EmitRequest:
    program = tmp_path / f"{package}_src.py"
    program.write_text(source)
    with user_program(program) as module:
        params = module.Bot().get_params()
    return request_for(program, package, params=params, module_class="Bot", lm_name=lm_name)


def test_a_predictor_program_vendors_none_of_the_optional_parts(tmp_path: Path) -> None:
    program = write_sources(tmp_path)
    runtime = _runtime(render_package(request_for(program, "pkg", lm_name="openai/m")), "pkg")
    assert not runtime & OPTIONAL
    assert not any(p.startswith("embed/") for p in runtime)  # only KNN demos embed


@pytest.mark.parametrize(
    ("source", "part", "name"),
    [(HISTORY, "core/_history.py", "History"), (IMAGE, "base/_image.py", "Image")],
)
def test_a_field_type_brings_its_part(tmp_path: Path, source: str, part: str, name: str) -> None:
    files = render_package(_request(tmp_path, source, "bot", "openai/m"))
    runtime = _runtime(files, "bot")
    assert runtime & OPTIONAL == {part}
    assert f'"{name}"' in files["bot/__init__.py"].decode()


def test_a_module_without_an_async_twin_brings_aforward(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text(HELPER)
    runtime = _runtime(render_package(_request(tmp_path, OUTER, "bot", "openai/m")), "bot")
    assert runtime & OPTIONAL == {"core/_aforward.py"}


def test_the_lm_name_and_the_config_bring_backends(tmp_path: Path) -> None:
    program = write_sources(tmp_path)
    litellm = render_package(request_for(program, "pkg", lm_name="litellm/openai/m"))
    assert _runtime(litellm, "pkg") & OPTIONAL == {"lm/_litellm.py"}
    assert '"LiteLLMLM"' in litellm["pkg/__init__.py"].decode()
    request = request_for(program, "pkg", lm_name="openai/m")
    both = dataclasses.replace(request, runtime_include=("fallback", "litellm"))
    assert _runtime(render_package(both), "pkg") & OPTIONAL == {
        "lm/_litellm.py",
        "lm/_fallback.py",
    }
    assert (lm_features("litellm/x/b"), lm_features("openai/m")) == ({"litellm"}, set())


def test_a_lean_package_names_the_setting_that_vendors_a_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = write_sources(tmp_path / "src")
    out = emit(request_for(program, "lean_pkg", lm_name="openai/m"), tmp_path / "out")
    monkeypatch.setenv("CASTLM_API_KEY", "k")
    with imported(out, "lean_pkg") as package:
        with pytest.raises(package.ConfigurationError, match=r'include = \["litellm"\]'):
            package.load(lm="litellm/openai/m")
        path = next(iter(PARAMS))
        monkeypatch.setenv(f"CASTLM_MODEL__{path.upper()}", "openai/a,openai/b")
        with pytest.raises(
            package.ConfigurationError, match=r'include = \["fallback"\].*\[runtime\]'
        ):
            package.load(lm="openai/m")


def test_the_readme_documents_only_the_lm_names_and_chains_the_package_runs(
    tmp_path: Path,
) -> None:
    # It used to offer "litellm/..." names, "standin" and fallback chains in every package.
    program = write_sources(tmp_path)
    lean = render_package(request_for(program, "pkg", lm_name="openai/m"))["README.md"].decode()
    configuring = lean.split("## Configuring the model")[1].split("## Predictors")[0]
    assert '"standin"' not in configuring and "fallback chain." not in configuring
    assert '- the litellm backend (`"litellm/<provider>/<model>"` names)' in configuring
    assert 'set `include = ["litellm", "fallback"]` under `[runtime]`' in configuring
    request = request_for(program, "pkg", lm_name="litellm/openai/m")
    full = render_package(dataclasses.replace(request, runtime_include=("fallback",)))
    configuring = full["README.md"].decode().split("## Configuring the model")[1]
    assert '  - `"litellm/<provider>/<model>"`: litellm' in configuring
    assert "A comma-separated list of names is a fallback chain." in configuring
    assert "compiled\n  without these parts" not in configuring
    standin = render_package(request_for(program, "pkg"))["README.md"].decode()
    assert '  - `"standin"`: castlm\'s offline stand-in' in standin
    # load()'s docstring names the same LM names.
    init = render_package(request_for(program, "pkg", lm_name="openai/m"))["pkg/__init__.py"]
    assert b"litellm" not in init and b'``"standin"``' not in init
    assert b'``"litellm/<provider>/<model>"``' in full["pkg/__init__.py"]


def test_the_runtime_and_the_compiler_name_the_same_parts() -> None:
    assert set(PARTS) == set(FEATURES)


def test_every_optional_import_is_a_part_the_compiler_decides() -> None:
    """The closure does not follow an import made inside ``try``: a new one needs a rule in
    runtime_features.py, or no package would ever vendor its target."""
    optional = {e.target for e in import_edges() if e.kind == "optional"}
    decided = feature_modules(FEATURES) | {AFORWARD}
    assert {m for m in optional if layer_of(m) != "testing"} == {
        m for m in decided if layer_of(m) != "testing"
    }
    # The stand-in's: runtime_standin.py decides each of them.
    assert {m for m in optional if layer_of(m) == "testing"} <= {*CORE, *STANDIN_PARTS}


def test_an_unrelated_missing_module_is_not_called_a_missing_part() -> None:
    error = ModuleNotFoundError("No module named 'litellm'", name="litellm")
    assert not_vendored("litellm", "the LM", error) is error


def _config(runtime: object) -> ProgramConfig:
    raw = {"program": "p.py:Bot", "metric": "exact_match", "train": "t.jsonl", "lm": "openai/m"}
    return build_config({**raw, "runtime": runtime}, base=Path("/proj"), origin="castlm.toml")


def test_runtime_include_is_read_and_checked() -> None:
    config = _config({"include": ["litellm", "fallback", "litellm"]})
    assert config.runtime_include == ("litellm", "fallback")
    with pytest.raises(CompileError, match=r"'litelm'.*did you mean 'litellm'\?") as info:
        _config({"include": ["litelm"]})
    assert "castlm.toml" in str(info.value)
    with pytest.raises(CompileError, match=r"runtime\.includes; did you mean 'include'\?"):
        _config({"includes": ["litellm"]})
    with pytest.raises(CompileError, match=r"must be a list of names"):
        _config({"include": "litellm"})


def test_a_misspelled_part_is_reported_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "castlm.toml"
    config.write_text(
        'program = "p.py:Bot"\nmetric = "exact_match"\ntrain = "t.jsonl"\nlm = "openai/m"\n'
        '\n[runtime]\ninclude = ["fallbak"]\n'
    )
    with pytest.raises(CompileError, match="did you mean 'fallback'") as info:
        load_config_file(config)
    assert info.value.location == f"{config}:7"


@pytest.mark.parametrize(
    ("source", "parts"),
    [
        (REFINE, {"testing/_standin_propose.py"}),
        (NAMED_FIELDS, {"testing/_standin_propose.py", "testing/_standin_react.py"}),
    ],
)
def test_a_program_that_can_ask_for_a_stand_in_part_brings_it(
    tmp_path: Path, source: str, parts: set[str]
) -> None:
    runtime = _runtime(render_package(_request(tmp_path, source, "bot", "standin")), "bot")
    assert runtime & STANDIN_FILES == parts


def test_a_predictor_program_vendors_no_stand_in_part(tmp_path: Path) -> None:
    program = write_sources(tmp_path)
    files = render_package(request_for(program, "pkg"))
    runtime = _runtime(files, "pkg")
    assert "testing/_standin.py" in runtime and "testing/_scripted.py" in runtime
    assert not runtime & STANDIN_FILES
    init = files["pkg/_runtime/testing/__init__.py"].decode()
    assert "StandInEmbedder" not in init and '"ScriptedLM", "StandInLM"' in init


def test_naming_a_stand_in_part_vendors_the_stand_in(tmp_path: Path) -> None:
    program = write_sources(tmp_path)
    request = dataclasses.replace(
        request_for(program, "pkg", lm_name="openai/m"), runtime_include=("standin-agent",)
    )
    runtime = _runtime(render_package(request), "pkg")
    assert {"testing/_standin.py", "testing/_standin_react.py"} <= runtime
    assert not runtime & {"testing/_standin_propose.py", "testing/_standin_embed.py"}


@pytest.mark.parametrize(
    ("signature", "inputs", "part"),
    [
        (Advise, {"question": "How do I reset my password?"}, "standin-proposals"),
        (Summarize, {"trajectory": "tool_name_0: search\nobservation_0: found"}, "standin-agent"),
    ],
)
def test_a_stand_in_without_a_part_refuses_the_prompt_that_needs_it(
    tmp_path: Path, signature: type[cl.Signature], inputs: dict[str, str], part: str
) -> None:
    program = write_sources(tmp_path / "src")
    out = emit(request_for(program, "lean_standin"), tmp_path / "out")
    messages = tuple(cl.Predict(signature).messages(**inputs))
    with imported(out, "lean_standin") as package:
        runtime = package._runtime
        testing = importlib.import_module("lean_standin._runtime.testing")
        request = runtime.LMRequest("standin", messages)
        with pytest.raises(runtime.ConfigurationError) as info:
            testing.StandInLM().reply(request)
    message = str(info.value)
    assert "compiled without" in message and f'include = ["{part}"]' in message
    assert "the stand-in's answer to a prompt with the fields" in message
    # castlm itself has every part: the same prompt is answered.
    assert cl.testing.StandInLM().reply(cl.LMRequest("standin", messages))


def test_a_lean_package_traces_an_image_part_without_its_bytes(tmp_path: Path) -> None:
    program = write_sources(tmp_path / "src")
    out = emit(request_for(program, "no_image", lm_name="openai/m"), tmp_path / "out")
    assert not any((out / "no_image" / "_runtime" / "base").glob("_image*.py"))
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    text = {"type": "text", "text": "hello"}
    with imported(out, "no_image"):
        otel = importlib.import_module("no_image._runtime.observe._otel")
        assert "hello" in otel._messages_json(({"role": "user", "content": [text]},))
        traced = otel._messages_json(({"role": "user", "content": [text, image]},))
        assert "iVBORw0KGgo" not in traced and "<image, not shown>" in traced and "hello" in traced


def _declared_fields(tree: ast.Module) -> set[str]:
    """The field names a module declares: ``name: T = InputField()`` in a class body, and
    ``NewField("name", ...)`` (agents add fields to the user's signature so)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            call = node.value
            if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("Field"):
                names.add(node.target.id)
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("NewField"):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def test_every_runtime_module_sending_a_stand_in_part_s_fields_brings_the_part() -> None:
    """A new module whose prompts need a part of the stand-in must be named in USED_BY, or a
    package using it would have its prompts refused."""
    for module, path in module_files().items():
        if layer_of(module) in ("testing", "compiler"):
            continue
        declared = _declared_fields(ast.parse(path.read_bytes()))
        for part, fields in FIELDS.items():
            if declared & set(fields):
                assert module in USED_BY[part], (module, part)
