"""The ``castlm`` command's contract: compile from flags or config, --json, exit codes, check,
inspect and verify. Commands run in-process through ``castlm.compiler.cli.main``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from castlm.compiler import pipeline
from castlm.compiler.cli import EXIT_INTERNAL, EXIT_OK, EXIT_USER, main
from support.project import BROKEN_PROGRAM, write_jsonl, write_project

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

TOP_KEYS = {
    "program", "package", "out", "up_to_date", "scores", "train_size", "val_size", "dev_size",
    "errors", "lm_calls", "cache_hits", "tokens", "cost", "phases", "lms", "plan", "budget",
    "stopped", "optimizer_stats", "report", "seconds", "verified", "notes", "warnings",
    "runtime",
}  # fmt: skip
PHASE_KEYS = {
    "name", "calls", "cache_hits", "tokens", "seconds", "prompt_tokens", "completion_tokens",
    "cost", "by_lm", "threads",
}  # fmt: skip
LM_USE_KEYS = {"roles", "lm", "calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost"}
PLAN_KEYS = {
    "phases", "calls", "tokens", "cost", "calls_per_run", "prompt_tokens_per_call",
    "completion_tokens_per_call", "demo_tokens", "demos_per_predictor", "measured_by",
    "optimizer_estimate", "max_lm_calls", "max_cost", "unpriced", "warnings",
}  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compile_from_flags_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "src")
    (project / "castlm.toml").unlink()
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        capsys,
        "compile", "src/program.py:Reviewer",
        "--train", "src/data/train.jsonl", "--dev", "src/data/dev.jsonl",
        "--metric", "src/program.py:accuracy", "--optimizer", "labeled", "--option", "k=3",
        "--lm", "standin", "--out", "out", "--no-verify",
    )  # fmt: skip
    assert code == EXIT_OK, err
    assert "plan for Reviewer" in err  # the plan goes to stderr, before any LM call
    assert "dev score (6 examples)" in out and "report:" in out
    summary = " ".join(out.split())  # the console may wrap lines
    layers = "base, core, lm, observe, testing"
    assert re.search(rf"runtime: [\d.]+ kB in \d+ files \({layers}\) vendored", summary)
    manifest = json.loads((tmp_path / "out/reviewer/manifest.json").read_text())
    assert manifest["optimizer"] == {"name": "labeled", "settings": {"k": 3}}
    assert (tmp_path / "out/report.md").is_file() and (tmp_path / ".castlm").is_dir()


def test_compile_dir_and_the_json_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p")
    code, out, err = run(capsys, "compile", str(root), "--no-verify", "--json")
    assert code == EXIT_OK, err
    data = json.loads(out)
    assert set(data) == TOP_KEYS
    assert data["up_to_date"] is False and data["verified"] is False
    assert data["runtime"]["bytes"] > 0 and "agents" not in data["runtime"]["layers"]
    assert [p["name"] for p in data["phases"]] == ["baseline", "optimize", "compiled"]
    for phase in data["phases"]:
        assert set(phase) == PHASE_KEYS
        assert all(set(use) == LM_USE_KEYS for use in phase["by_lm"])
    assert data["phases"][0]["calls"] == 6 and data["phases"][0]["threads"] == 8
    assert set(data["plan"]) == PLAN_KEYS and data["plan"]["phases"][0]["name"] == "baseline"
    assert data["budget"] == {"max_lm_calls": None, "max_cost": None, "lm_calls": 12 + _opt(data),
                              "cost": 0.0}  # fmt: skip
    assert data["lms"] == [{"roles": "task+teacher+prompt", "name": "standin", "price": [0, 0]}]
    assert data["report"] == str(root / "build/reviewer/report.md")
    assert "plan for Reviewer" in err


def _opt(data: dict[str, Any]) -> int:
    calls: int = data["phases"][1]["calls"]
    return calls


def test_up_to_date_detection_and_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_project(tmp_path / "p", optimizer="labeled")
    assert run(capsys, "compile", str(root), "--no-verify")[0] == EXIT_OK
    code, out, err = run(capsys, "compile", str(root), "--no-verify", "--json")
    data = json.loads(out)
    assert code == EXIT_OK and data["up_to_date"] is True and data["lm_calls"] == 0
    assert data["plan"] is None and "plan for" not in err  # nothing to spend, nothing planned
    code, out, _ = run(capsys, "compile", str(root), "--no-verify")
    assert "up to date" in out and "--force rebuilds" in out
    # Budgets do not change what a complete compile emits: still up to date.
    code, out, _ = run(capsys, "compile", str(root), "--no-verify", "--max-lm-calls", "5")
    assert "up to date" in out
    code, out, _ = run(capsys, "compile", str(root), "--no-verify", "--json", "--force")
    assert json.loads(out)["up_to_date"] is False
    write_jsonl(root / "data/train.jsonl", [{"review": "changed", "label": "mixed"}] * 4)
    code, out, _ = run(capsys, "compile", str(root), "--no-verify", "--json")
    assert json.loads(out)["up_to_date"] is False  # the data changed


def test_compile_with_no_argument_builds_every_configured_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p")
    (root / "castlm.toml").write_text(
        'metric = "program.py:accuracy"\nlm = "standin"\ntrain = "data/train.jsonl"\n'
        'dev = "data/dev.jsonl"\noptimizer = "labeled"\n\n'
        '[[programs]]\nprogram = "program.py:Reviewer"\npackage = "first"\n\n'
        '[[programs]]\nprogram = "program.py:Reviewer"\npackage = "second"\n'
        "optimizer_options = { k = 2 }\n"
    )
    monkeypatch.chdir(root)
    code, out, err = run(capsys, "compile", "--no-verify", "--json")
    assert code == EXIT_OK, err
    data = json.loads(out)
    assert [d["package"] for d in data] == ["first", "second"]
    assert (root / "build/first/first/manifest.json").is_file()
    assert (root / "build/second/second/manifest.json").is_file()
    assert err.count("plan for Reviewer") == 2


def test_exit_code_1_for_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_project(tmp_path / "p")
    code, _, err = run(capsys, "compile", str(root), "--optimizer", "bootstrapp")
    assert code == EXIT_USER and "did you mean 'bootstrap'" in err
    code, _, err = run(capsys, "compile", str(tmp_path / "nowhere"))
    assert code == EXIT_USER and "no castlm.toml" in err
    code, _, err = run(capsys, "compile", str(root), "--max-lm-calls", "-1")
    assert code == EXIT_USER and "max_lm_calls must be a whole number >= 0" in err


def test_an_unreachable_endpoint_stops_the_compile_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from support.fake_openai import free_port

    project = write_project(tmp_path / "p")
    monkeypatch.setenv("CASTLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    code, _out, err = run(
        capsys, "compile", str(project), "--lm", "openai/some-model", "--no-cache",
        "--option", "max_bootstrapped_demos=1", "--no-verify",
    )  # fmt: skip
    assert code == EXIT_USER
    assert "could not connect to http://127.0.0.1:" in err
    assert "CASTLM_BASE_URL" in err  # the message says how to fix it
    assert not (project / "build").exists()


def test_exit_code_2_for_internal_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a castlm bug")

    monkeypatch.setattr(pipeline, "compile_program", broken)
    code, _, err = run(capsys, "compile", str(write_project(tmp_path / "p")))
    assert code == EXIT_INTERNAL
    assert "RuntimeError: a castlm bug" in err and "internal error" in err


def test_check_reports_diagnostics_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = tmp_path / "broken.py"
    program.write_text(BROKEN_PROGRAM)
    code, out, err = run(capsys, "check", f"{program}:Broken")
    assert code == EXIT_USER
    assert "CL201" in out and "'questoin'" in out and "did you mean 'question'" in out
    assert "1 error(s)" in err
    code, _, err = run(capsys, "check", str(write_project(tmp_path / "ok")))
    assert code == EXIT_OK and "0 error(s)" in err


def test_inspect_prints_text_and_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    program = str(EXAMPLES / "pipeline/program.py")
    code, out, _ = run(capsys, "inspect", program)
    assert code == EXIT_OK
    assert "SupportDesk.forward(email: str) -> ChooseAction" in out
    assert "```mermaid\nflowchart LR" in out and "issue <- read.issue" in out
    code, out, _ = run(capsys, "inspect", f"{program}:SupportDesk", "--format", "mermaid")
    assert out.startswith("flowchart LR") and "```" not in out
    code, out, _ = run(capsys, "inspect", program, "--format", "text")
    assert "flowchart" not in out and "decide = ChainOfThought(ChooseAction)" in out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("verify") / "p", optimizer="labeled")
    assert main(["compile", str(root), "--no-verify"]) == EXIT_OK
    return root


def test_verify_passes_on_a_compiled_package(
    compiled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "verify", str(compiled / "build/reviewer"))
    assert code == EXIT_OK, err
    assert "verified" in out


def test_verify_fails_on_a_tampered_package(
    compiled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = Path(shutil.copytree(compiled / "build/reviewer", compiled / "build/tampered"))
    frozen = tampered / "reviewer/_frozen.py"
    text = frozen.read_text()
    assert "Classify the sentiment of a product review." in text
    frozen.write_text(text.replace("of a product review.", "of a product review!"))
    code, _, err = run(capsys, "verify", str(tampered))
    assert code == EXIT_USER
    assert "reviewer/_frozen.py was changed after the compile" in err
    assert str(frozen) in err and "castlm compile --force" in err


def test_verify_fails_on_an_edit_that_changes_no_prompt(
    compiled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = Path(shutil.copytree(compiled / "build/reviewer", compiled / "build/commented"))
    frozen = edited / "reviewer/_frozen.py"
    frozen.write_text(frozen.read_text() + "# a harmless-looking comment\n")
    code, _, err = run(capsys, "verify", str(edited))
    assert code == EXIT_USER
    assert f"{frozen}: reviewer/_frozen.py was changed after the compile" in err


def test_verify_fails_on_an_edited_manifest(
    compiled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = Path(shutil.copytree(compiled / "build/reviewer", compiled / "build/relisted"))
    manifest = edited / "reviewer/manifest.json"
    manifest.write_text(manifest.read_text().replace('"seed": 0', '"seed": 1'))
    code, _, err = run(capsys, "verify", str(edited))
    assert code == EXIT_USER and "reviewer/manifest.json was changed" in err


def test_a_metric_that_raises_stops_the_compile_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "p")
    source = project / "program.py"
    source.write_text(
        source.read_text() + "\n\ndef broken(example: object, pred: object) -> float:\n"
        "    labels: dict[str, float] = {}\n"
        "    return labels['no_such_label']\n"
    )
    code, _out, err = run(
        capsys, "compile", str(project), "--metric", f"{source}:broken", "--no-verify"
    )
    assert code == EXIT_USER
    assert "the metric broken raised KeyError" in err
    assert f"{source}:" in err
