"""Golden files: what the emitter writes for a small program, byte for byte.

Set ``CASTLM_UPDATE_GOLDEN=1`` to rewrite them after an intended change, then review the diff.
The vendored ``_runtime/``, its file hashes and its size in ``manifest.json`` are left out: they
change whenever the runtime does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from castlm import PredictorParams
from castlm.compiler.analyze import analyze_file
from castlm.compiler.emit import EmitRequest, render_package
from castlm.compiler.emit.runtime_init import vendored_init
from test_emit_support import request_for, write_sources

GOLDEN = Path(__file__).parent / "golden" / "emit"
PACKAGE = "qa_bot"
RUNTIME_PREFIX = f"{PACKAGE}/_runtime/"

PROGRAM = '''\
"""Answers questions about the castlm docs."""

from castlm import ChainOfThought, InputField, Module, OutputField, Signature


class Answer(Signature):
    """Answer the question in one sentence."""

    question: str = InputField()
    answer: str = OutputField(desc="one sentence")


class QA(Module):
    """Question answering with a reasoning step."""

    def __init__(self) -> None:
        self.answer = ChainOfThought(Answer)

    def forward(self, question: str) -> Answer:
        return self.answer(question=question)
'''

PARAMS = {
    "answer": PredictorParams(
        instructions="Answer in one sentence.\nQuote the docs when you can; never guess.",
        demos=(
            {
                "question": "What does `castlm compile` emit?",
                "reasoning": "The docs say it writes a package.",
                "answer": 'A standalone package; see "Emitting".',
            },
        ),
    )
}

MANIFEST = {
    "castlm_version": "0.1.0",
    "source_hash": "sha256:0123",
    "dataset_hash": "sha256:4567",
    "optimizer": {"name": "bootstrap", "max_demos": 1},
    "scores": {"baseline": 0.25, "compiled": 0.75},
    "lm_name": "standin",
}


def _render(tmp_path: Path) -> dict[str, bytes]:
    program = tmp_path / "qa.py"
    program.write_text(PROGRAM, encoding="utf-8")
    request = EmitRequest(
        program_path=program,
        module_class="QA",
        package=PACKAGE,
        params=PARAMS,
        lm_name="standin",
        manifest=MANIFEST,
        ir=analyze_file(program),
    )
    return render_package(request)


def _stable(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files minus the vendored runtime, and the manifest minus the runtime's hashes and
    size."""
    kept = {path: data for path, data in files.items() if not path.startswith(RUNTIME_PREFIX)}
    manifest = json.loads(kept[f"{PACKAGE}/manifest.json"])
    manifest["files"] = {
        p: digest for p, digest in manifest["files"].items() if not p.startswith(RUNTIME_PREFIX)
    }
    del manifest["runtime"]
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
    kept[f"{PACKAGE}/manifest.json"] = text.encode("ascii")
    return kept


def _on_disk(case: Path) -> dict[str, bytes]:
    return {
        p.relative_to(case).as_posix(): p.read_bytes()
        for p in sorted(case.rglob("*"))
        if p.is_file()
    }


def test_golden_package(tmp_path: Path) -> None:
    files = _stable(_render(tmp_path))
    case = GOLDEN / "qa"
    if os.environ.get("CASTLM_UPDATE_GOLDEN") == "1":
        shutil.rmtree(case, ignore_errors=True)
        for path, data in files.items():
            (case / path).parent.mkdir(parents=True, exist_ok=True)
            (case / path).write_bytes(data)
    expected = _on_disk(case)
    assert sorted(files) == sorted(expected), "set CASTLM_UPDATE_GOLDEN=1 to rewrite"
    for path, data in files.items():
        assert data.decode("utf-8") == expected[path].decode("utf-8"), path


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    assert _render(tmp_path) == _render(tmp_path)


def test_the_runtime_is_vendored_byte_for_byte(tmp_path: Path) -> None:
    import castlm

    files = _render(tmp_path)
    runtime = Path(castlm.__file__).parent
    vendored = {
        p.removeprefix(RUNTIME_PREFIX): d for p, d in files.items() if p.startswith(RUNTIME_PREFIX)
    }
    modules = {p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in vendored}
    init = (runtime / "__init__.py").read_bytes()
    assert vendored["__init__.py"] == vendored_init(init, modules)
    testing = (runtime / "testing" / "__init__.py").read_bytes()
    assert vendored["testing/__init__.py"] == vendored_init(testing, modules, "testing")
    assert b"StandInEmbedder" not in vendored["testing/__init__.py"]  # no embed/, no embedder
    assert "agents/_react.py" not in vendored  # only what the program reaches
    assert "py.typed" in vendored
    assert not any(p.startswith("compiler/") or "__pycache__" in p for p in vendored)
    assert all(p.endswith(".py") or p == "py.typed" for p in vendored)


RUFF_RULES = "E,F,W,I,UP,B,SIM,RUF"
# The support sample's annotations use Optional[...]; they are re-declared verbatim, so
# pyupgrade's opinions about them are the user's business.
USER_STYLE_RULES = "UP045"


@pytest.mark.parametrize("sample", ["qa", "support"])
def test_generated_python_is_ruff_clean(tmp_path: Path, sample: str) -> None:
    """Generated modules lint clean under the project's rules; ``__init__.py`` is in ruff's
    format too (``_frozen.py`` keeps one string literal per instruction line, which ruff
    would join when the result fits on one line)."""
    if sample == "qa":
        files, package = _render(tmp_path), PACKAGE
    else:
        program = write_sources(tmp_path / "src")
        files, package = render_package(request_for(program, "support_pkg")), "support_pkg"
    for name in ("__init__.py", "_frozen.py"):
        path = tmp_path / name
        path.write_bytes(files[f"{package}/{name}"])
        ruff = [sys.executable, "-m", "ruff", "--isolated"]
        lint = [*ruff, "check", "--line-length", "100", "--select", RUFF_RULES]
        lint += ["--ignore", USER_STYLE_RULES, str(path)]
        linted = subprocess.run(lint, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout
        if name != "__init__.py":
            continue
        formatted = subprocess.run(
            [*ruff, "format", "--line-length", "100", "--diff", str(path)],
            capture_output=True,
            text=True,
        )
        assert formatted.returncode == 0, formatted.stdout
