"""An LM-judge metric's calls are counted: metered (the "metric" role in the usage table) and
held to the compile's budget like every other LM call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from castlm.compiler.cli import EXIT_OK, main
from castlm.compiler.metric_lms import metric_lms
from castlm.testing import StandInLM
from support.project import write_project

JUDGE = '''\
import castlm as cl
from castlm.testing import StandInLM


class Grade(cl.Signature):
    """Say whether the label matches the expected one."""

    label: str = cl.InputField()
    expected: str = cl.InputField()
    same: bool = cl.OutputField()


JUDGE = cl.Predict(Grade, lm=StandInLM(model="judge"))


def judged(example: cl.Example, pred: object, trace: object = None) -> float:
    JUDGE(label=str(getattr(pred, "label", "")), expected=str(example["label"]))
    return float(getattr(pred, "label", None) == example["label"])
'''


def test_the_judge_is_found_in_the_metrics_globals_and_closure() -> None:
    judge, other = StandInLM(model="judge"), StandInLM(model="other")

    def metric(example: object, pred: object, trace: object = None) -> float:
        return float(judge is not None)

    assert metric_lms(metric) == [judge]
    assert other not in metric_lms(metric)


def test_judge_calls_are_metered_and_budgeted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p", n_train=8, n_dev=4, optimizer="labeled")
    (root / "judge.py").write_text(JUDGE, encoding="utf-8")
    config = (root / "castlm.toml").read_text()
    (root / "castlm.toml").write_text(
        config.replace('metric = "program.py:accuracy"', 'metric = "judge.py:judged"')
    )
    assert main(["compile", str(root), "--json", "--no-verify", "--no-cache"]) == EXIT_OK
    outcome = json.loads(capsys.readouterr().out)
    (judge,) = [lm for lm in outcome["lms"] if lm["roles"] == "metric"]
    assert judge["name"] == "judge"
    uses = [u for p in outcome["phases"] for u in p["by_lm"] if u["roles"] == "metric"]
    assert sum(u["calls"] for u in uses) >= 8  # baseline and compiled: 4 dev rows each
    assert outcome["budget"]["lm_calls"] == outcome["lm_calls"]  # the judge's calls included
