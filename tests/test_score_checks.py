"""Scores that must not pass quietly: every example failing, a compiled program worse than its
baseline, and the require_improvement / min_score gates that fail such builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from castlm.compiler.config import build_config
from castlm.compiler.errors import CompileError
from castlm.compiler.score_checks import below_baseline, improved
from support.fake_openai import FakeOpenAI
from support.project import rows, write_jsonl, write_project

_ROTATE = {"positive": "negative", "negative": "mixed", "mixed": "positive"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def worse_project(root: Path, extra: str = "") -> Path:
    """Labeled demos with wrong labels: with the stand-in, the compiled program answers by
    analogy with them and scores below the zero-shot baseline (50.0 → 0.0)."""
    project = write_project(root, optimizer="labeled", options={"k": 6}, extra=extra)
    wrong = [{**r, "label": _ROTATE[r["label"]]} for r in rows(18)]
    write_jsonl(project / "data" / "train.jsonl", wrong)
    return project


def test_a_compile_below_its_baseline_says_so_loudly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = worse_project(tmp_path / "p")
    code, out, err = run(capsys, "compile", str(project), "--no-verify")
    assert code == EXIT_OK, err
    assert "BELOW BASELINE" in out
    assert "warning: the compiled program scores 0.0 on the dev set, BELOW its zero-shot " in out
    report = (project / "build/reviewer/report.md").read_text(encoding="utf-8")
    assert "**warning: the compiled program scores 0.0" in report
    code, out, err = run(capsys, "compile", str(project), "--no-verify", "--force", "--json")
    assert code == EXIT_OK, err
    assert json.loads(out)["warnings"] == [below_baseline(50.0, 0.0)]


def test_require_improvement_fails_the_build_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = worse_project(tmp_path / "p")
    code, _, err = run(capsys, "compile", str(project), "--no-verify", "--require-improvement")
    assert code == EXIT_USER
    assert "require_improvement is set, but the compiled program scores 0.0, not above its " in err
    assert "zero-shot baseline 50.0" in err and "Nothing was written" in err
    assert not (project / "build").exists()


def test_min_score_from_the_config_fails_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = worse_project(tmp_path / "p", extra="min_score = 40\n")
    code, _, err = run(capsys, "compile", str(project), "--no-verify")
    assert code == EXIT_USER
    assert "min_score is 40, but the compiled program scores 0.0" in err
    assert str(project / "castlm.toml") in err
    assert not (project / "build").exists()
    code, _, err = run(capsys, "compile", str(project), "--no-verify", "--min-score", "0")
    assert code == EXIT_OK, err  # the flag wins over the file


def test_gate_settings_are_checked() -> None:
    raw = {"program": "p.py:P", "metric": "exact_match", "train": "t.jsonl", "lm": "standin"}
    config = build_config(
        {**raw, "min_score": 75, "require_improvement": True}, base=Path("."), origin="x.toml"
    )
    assert config.min_score == 75.0 and config.require_improvement
    with pytest.raises(CompileError, match="min_score is a dev score from 0 to 100"):
        build_config({**raw, "min_score": 0.9e3}, base=Path("."), origin="x.toml")
    with pytest.raises(CompileError, match="'require_improvement' must be bool"):
        build_config({**raw, "require_improvement": "yes"}, base=Path("."), origin="x.toml")


def test_improvement_means_above_the_baseline_unless_it_is_perfect() -> None:
    assert improved(50.0, 50.1) and not improved(50.0, 50.0) and not improved(50.0, 40.0)
    assert improved(100.0, 100.0)
    assert below_baseline(50.0, 50.0) is None and below_baseline(50.0, 60.0) is None


def test_every_dev_example_failing_is_an_error_not_a_score_of_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "p")
    with FakeOpenAI(reply="I would rather not say.") as server:  # no field ever parses
        code, _, err = run(
            capsys,
            "compile", str(project), "--no-verify", "--lm", "served", "--base-url", server.base_url,
        )  # fmt: skip
        calls = len(server.chat_requests)
    assert code == EXIT_USER
    assert "every one of the 6 dev examples failed in the baseline evaluation (6 ParseError)" in err
    assert "dev example 0: ParseError" in err
    assert not (project / "build").exists()
    assert calls <= 6 * 2  # the baseline (a parse retry each), and no optimization after it


def test_a_score_of_0_from_real_predictions_is_a_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "p", optimizer="labeled")
    source = project / "program.py"
    source.write_text(
        source.read_text(encoding="utf-8")
        + "\n\ndef never(example: cl.Example, pred: Sentiment) -> float:\n    return 0.0\n",
        encoding="utf-8",
    )
    code, out, err = run(
        capsys, "compile", str(project), "--no-verify", "--metric", f"{source}:never"
    )
    assert code == EXIT_OK, err
    assert "baseline 0.0 → compiled 0.0" in out and "BELOW BASELINE" not in out
