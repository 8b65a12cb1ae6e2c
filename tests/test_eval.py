"""``castlm eval``: scores with confidence intervals, the paired A/B test, the CI gates, the
checks before any LM call, and one run through a local OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from castlm.compiler import eval_stats
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from support.fake_openai import FakeOpenAI, free_port
from support.project import rows, write_jsonl, write_project


# -- the statistics ----------------------------------------------------------------------
def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = eval_stats.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert eval_stats.wilson(0, 5)[0] == 0.0 and eval_stats.wilson(0, 5)[1] > 0.4
    assert eval_stats.interval([1.0, 0.0, 1.0]).method == "wilson"
    fractional = eval_stats.interval([0.5, 0.25, 1.0, 0.75])
    assert fractional.method == "bootstrap" and 25.0 <= fractional.low < fractional.high <= 100


def test_sign_test_is_exact_and_ignores_ties() -> None:
    assert eval_stats.sign_test(0, 6) == pytest.approx(2 / 64)
    assert eval_stats.sign_test(3, 3) == 1.0 and eval_stats.sign_test(0, 0) == 1.0
    test = eval_stats.paired([0, 0, 0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 0])
    assert (test.wins, test.losses, test.ties) == (1, 6, 1)
    assert test.difference == pytest.approx(-62.5)
    assert test.p_value == pytest.approx(eval_stats.sign_test(1, 6))
    assert not test.worse(0.05) and test.worse(0.15)  # p = 0.125
    assert test.interval.low < test.difference < test.interval.high < 0


def test_percentiles_interpolate_between_ranks() -> None:
    assert eval_stats.latency([4.0, 1.0, 2.0, 3.0]) == {"p50": 2.5, "p95": 3.85, "p99": 3.97}


# -- the command, with the offline stand-in ----------------------------------------------
@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("eval") / "p", optimizer="labeled")
    assert main(["compile", str(root), "--no-verify"]) == EXIT_OK
    write_jsonl(root / "data/holdout.jsonl", rows(24, offset=3000))
    return root


def _eval(capsys: pytest.CaptureFixture[str], project: Path, *argv: str) -> tuple[int, str, str]:
    os.chdir(project)
    code = main(["eval", *argv, "--data", "data/holdout.jsonl", "--metric", "program.py:accuracy"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_package_scores_like_its_compile_on_the_dev_set(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    code = main(["eval", "build/reviewer", "--data", "data/dev.jsonl", "--metric",
                 "program.py:accuracy", "--json"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == EXIT_OK
    data = json.loads(out)
    manifest = json.loads((project / "build/reviewer/reviewer/manifest.json").read_text())
    target = data["targets"][0]
    assert target["score"] == pytest.approx(manifest["scores"]["compiled"])
    assert target["kind"] == "package" and target["lm"] == "standin" and target["rows"] == 6
    assert target["cache_hits"] == 6 and target["lm_calls"] == 0  # the compile's cache
    assert set(target["latency_s"]) == {"p50", "p95", "p99"} and target["cost"] == 0.0
    assert target["ci_method"] == "wilson" and len(target["results"]) == 6
    assert data["failures"] == [] and "comparison" not in data


def test_a_b_comparison_prints_rows_scores_and_the_paired_test(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    code, out, _ = _eval(capsys, project, "build/reviewer", "program.py:Reviewer", "--lm",
                         "standin")  # fmt: skip
    assert code == EXIT_OK
    assert out.splitlines()[0].split() == ["row", "A", "A", "s", "B", "B", "s", "error"]
    assert len([line for line in out.splitlines() if line[:3].strip().isdigit()]) == 24
    assert "A: build/reviewer (package, LM standin)" in out
    assert "B: program.py:Reviewer (program, LM standin)" in out
    assert "95% CI [" in out and "latency p50" in out and "exact sign test" in out


def test_the_gates_fail_with_a_message(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    code, out, _ = _eval(capsys, project, "program.py:Reviewer", "build/reviewer", "--lm",
                         "standin", "--json")  # fmt: skip
    data = json.loads(out)
    worse, better = data["targets"]
    comparison = data["comparison"]
    assert code == EXIT_OK and worse["score"] < better["score"]
    assert comparison["losses"] > comparison["wins"] and comparison["p_value"] < 0.05
    code, _, err = _eval(capsys, project, "program.py:Reviewer", "--lm", "standin",
                         "--fail-if-worse-than", "build/reviewer")  # fmt: skip
    assert code == EXIT_USER
    assert "program.py:Reviewer is significantly worse than build/reviewer" in err
    assert f"p = {comparison['p_value']:.4g} < 0.05" in err
    code, _, _ = _eval(capsys, project, "build/reviewer", "--fail-if-worse-than",
                       "program.py:Reviewer", "--lm", "standin")  # fmt: skip
    assert code == EXIT_OK  # the better one passes
    above, below = f"{better['score'] + 0.5:g}", f"{better['score'] - 0.5:g}"
    code, _, err = _eval(capsys, project, "build/reviewer", "--fail-under", above)
    assert code == EXIT_USER
    assert f"scores {better['score']:.2f}, below --fail-under {above}" in err
    assert _eval(capsys, project, "build/reviewer", "--fail-under", below)[0] == EXIT_OK


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["program.py:Reviewer"], "is a program, not a compiled package: pass --lm"),
        (["nowhere"], "not a compiled package (no manifest.json"),
        (["build/reviewer", "--lm-setting", "temprature=0"], "temprature"),
        (
            ["build/reviewer", "--data", "data/bad.jsonl"],
            "bad.jsonl:2: missing input field 'review'",
        ),
        (["build/reviewer", "--metric", "program.py:acuracy"], "did you mean 'accuracy'"),
    ],
)
def test_mistakes_are_caught_before_any_lm_call(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(project)
    write_jsonl(project / "data/bad.jsonl", [*rows(1), {"reveiw": "typo", "label": "mixed"}])
    # An LM at a port nothing listens on: a call would fail with another message.
    dead = ["--lm", "openai/m", "--base-url", f"http://127.0.0.1:{free_port()}/v1"]
    lm = [] if argv == ["program.py:Reviewer"] else dead
    common = ["--data", "data/holdout.jsonl", "--metric", "program.py:accuracy", *lm]
    code = main(["eval", *common, *argv])
    err = capsys.readouterr().err
    assert code == EXIT_USER and message in err, err


# -- a real endpoint: the CLI in a subprocess, a local OpenAI-compatible server ----------
def _label_reply(body: dict[str, Any]) -> str:
    """Calls a review negative when it says "arrived", else positive: mixed ones miss. The
    package asks in castlm's chat format (its compile-time settings), the program in JSON."""
    text = json.dumps(body["messages"][-1]["content"])
    label = "negative" if "arrived" in text else "positive"
    if "response_format" in body:  # JSON mode, as the program's LM asks by default
        return json.dumps({"label": label})
    return f"[[ ## label ## ]]\n{label}\n\n[[ ## completed ## ]]"


def test_eval_through_the_cli_against_a_local_server(project: Path, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "castlm.compiler.cli", "eval", "build/reviewer",
        "program.py:Reviewer", "--data", "data/holdout.jsonl", "--metric", "program.py:accuracy",
        "--lm", "openai/m", "--no-cache", "--threads", "2", "--json",
    ]  # fmt: skip
    with FakeOpenAI(_label_reply) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-not-a-secret"}
        done = subprocess.run(
            [*command, "--base-url", server.base_url],
            cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        calls = len(server.chat_requests)
    assert done.returncode == EXIT_OK, done.stderr
    data = json.loads(done.stdout)
    package, program = data["targets"]
    assert calls == 48 and package["lm_calls"] == program["lm_calls"] == 24
    assert package["score"] == program["score"] == pytest.approx(100 * 16 / 24)  # no "mixed"
    assert package["errors"] == program["errors"] == 0
    assert package["prompt_tokens"] > 0 and package["latency_s"]["p50"] > 0
    assert data["comparison"]["p_value"] == 1.0 and data["comparison"]["ties"] == 24
    assert "sk-test-not-a-secret" not in done.stdout + done.stderr
