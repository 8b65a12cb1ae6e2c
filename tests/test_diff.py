"""``castlm diff OLD NEW``: a golden test of both outputs, and the exit codes.

Set ``CASTLM_UPDATE_GOLDEN=1`` to rewrite the golden files after an intended change, then
review the diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from castlm.compiler.cli import EXIT_DIFFERENT, EXIT_OK, EXIT_USER, main
from support.project import write_project

GOLDEN = Path(__file__).parent / "golden" / "diff"


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two builds of one program: the second with a longer instruction, k=1 and seed 3."""
    root = write_project(tmp_path_factory.mktemp("diff") / "p", optimizer="labeled",
                         options={"k": 2})  # fmt: skip
    assert main(["compile", str(root), "--no-verify", "--out", str(root / "build/old")]) == 0
    program = root / "program.py"
    program.write_text(
        program.read_text().replace(
            "Classify the sentiment of a product review.",
            "Classify the sentiment of a product review:\n    positive, negative or mixed.",
        )
    )
    new = ["--out", str(root / "build/new"), "--option", "k=1", "--seed", "3"]
    # Another process: this one has imported program.py already and would keep its classes.
    command = [sys.executable, "-m", "castlm.compiler.cli", "compile", str(root), "--no-verify"]
    subprocess.run([*command, *new], check=True, capture_output=True, timeout=300)
    return root


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CASTLM_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), "set CASTLM_UPDATE_GOLDEN=1 to rewrite"


@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["text", "json"])
def test_diff_output_is_golden(
    builds: Path,
    flags: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(builds)
    capsys.readouterr()
    code = main(["diff", "build/old", "build/new", *flags])
    out = capsys.readouterr().out
    assert code == EXIT_DIFFERENT
    _check_golden("reviewer.json" if flags else "reviewer.txt", out)
    if flags:
        data = json.loads(out)
        change = data["predictors"]["classify"]
        assert change["demos"]["count"] == [2, 1] and data["identical"] is False
        assert data["settings"]["seed"] == {"old": 0, "new": 3}


def test_identical_builds_exit_0(
    builds: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(builds)
    capsys.readouterr()
    assert main(["diff", "build/new", "build/new/reviewer"]) == EXIT_OK
    assert capsys.readouterr().out.endswith("no differences\n")


def test_a_folder_without_a_build_is_named(
    builds: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(builds)
    capsys.readouterr()
    assert main(["diff", "build/old", "data"]) == EXIT_USER
    err = capsys.readouterr().err
    assert "data: not a compiled package (no manifest.json" in err
