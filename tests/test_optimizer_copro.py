"""copro (COPRO) on examples/triage, and on a two-predictor program, with the stand-in.

LM calls: every candidate program is scored once on the training set through the task LM,
and every proposal is one prompt-model call, so the counts equal estimate_calls exactly when
no two proposals coincide (a repeated proposal is not scored again: estimate_calls is an
upper bound by n_train x n_predictors per repeat).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import castlm as cl
import pytest
from castlm.compiler.cli import main
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.optimizers import OptimizeContext, OptimizeResult, make_optimizer
from castlm.testing import StandInLM
from support.triage_task import Roles, cli_args, triage

SMALL = {"breadth": 3, "depth": 2}
Compiled = tuple[OptimizeResult, OptimizeContext, Roles]
# The stand-in writes rules in one of three forms (see docs/standin.md).
RULE = re.compile(
    r'(?:(?:When|If) the ticket mentions "([^"]+)", (?:set )?category (?:is|to) (\w+)\.)'
    r'|(?:Tickets that mention "([^"]+)" are (billing|bug|account|feature_request|other)\.)'
)


@pytest.fixture(scope="module")
def small() -> Compiled:
    return triage().compile("copro", SMALL)


def test_compiled_program_beats_zero_shot_on_held_out_data(small: Compiled) -> None:
    task = triage()
    result, _, _ = small
    zero_shot = task.score(task.module_class().get_params(), task.dev)
    compiled = task.score(result.params, task.dev)
    assert compiled >= zero_shot + 15, (zero_shot, compiled)


def test_the_new_instruction_differs_and_the_stand_in_follows_it(small: Compiled) -> None:
    task = triage()
    result, _, _ = small
    original = task.module_class().predictor("triage").instructions
    learned = result.params["triage"].instructions
    assert learned != original
    assert result.params["triage"].demos == ()  # COPRO only changes instructions
    found = RULE.search(learned)
    assert found, learned
    phrase, category = found.group(1) or found.group(3), found.group(2) or found.group(4)
    program = task.student(StandInLM())
    program.set_params(result.params)
    assert program(ticket=f"Hello, a note about {phrase} today.").category == category


def test_later_rounds_see_earlier_attempts_worst_first_with_scores(small: Compiled) -> None:
    _, ctx, roles = small
    first_round, second_round = roles.prompt.requests[:2], roles.prompt.requests[2:]
    assert len(first_round) == 2 and len(second_round) == 3
    # The first round asks for an instruction; later ones show the attempts, worst first.
    assert all("attempted_instructions" not in r.messages[-1]["content"] for r in first_round)
    for request in second_round:
        attempts = [json.loads(line) for line in _field(request, "attempted_instructions")]
        scores = [a["score"] for a in attempts]
        assert len(scores) == 3 and scores == sorted(scores)
        assert max(scores) == pytest.approx(max(t.score for t in ctx.trials[:3]), abs=0.05)
    # proposals differ from one another: distinct tips, rollouts and evidence samples
    assert len({r.rollout for r in roles.prompt.requests}) == 5


def test_evidence_carries_outputs_expected_labels_and_feedback(small: Compiled) -> None:
    _, _, roles = small
    records = [json.loads(line) for line in _field(roles.prompt.requests[0], "examples")]
    assert records and all({"inputs", "outputs", "expected", "feedback"} <= set(r) for r in records)
    assert any("expected" in r["feedback"] and "got" in r["feedback"] for r in records)


def test_same_result_whatever_the_thread_count(small: Compiled) -> None:
    four, ctx_four, _ = small  # four threads
    one, ctx_one, _ = triage().compile("copro", SMALL, threads=1)
    assert four.params == one.params
    assert [(t.label, t.score) for t in ctx_four.trials] == [
        (t.label, t.score) for t in ctx_one.trials
    ]


def test_lm_calls_match_the_estimate(small: Compiled) -> None:
    task = triage()
    _, ctx, roles = small
    n = len(task.train)
    proposals = 1 * (2 * 3 - 1)
    assert roles.prompt.stats.calls == proposals
    assert roles.task.stats.calls == len(ctx.trials) * n  # each program scored once
    assert roles.teacher.stats.calls == 0
    estimate = make_optimizer("copro", SMALL).estimate_calls(1, n, n)
    assert estimate == (1 + proposals) * n + proposals
    repeats = 1 + proposals - len(ctx.trials)
    assert roles.calls == estimate - repeats * n


# -- several predictors: greedy per predictor, past scores kept ------------------------------


class Category(cl.Signature):
    """Pick the category of a support ticket."""

    ticket: str = cl.InputField()
    category: Literal["billing", "bug", "account", "feature_request", "other"] = cl.OutputField()


class Urgency(cl.Signature):
    """Say whether a support ticket is urgent."""

    ticket: str = cl.InputField()
    category: str = cl.InputField()
    urgent: bool = cl.OutputField()


class TwoSteps(cl.Module):
    """Categorize a ticket, then judge its urgency."""

    def __init__(self) -> None:
        self.categorize = cl.Predict(Category)
        self.judge = cl.Predict(Urgency)

    def forward(self, ticket: str) -> dict[str, Any]:
        category = self.categorize(ticket=ticket).category
        return {"category": category, "urgent": self.judge(ticket=ticket, category=category).urgent}


def both_right(example: cl.Example, pred: dict[str, Any], trace: object = None) -> float:
    hits = (pred["category"] == example["category"], pred["urgent"] == example["urgent"])
    return float(sum(hits)) / 2


def _two_steps(options: dict[str, Any]) -> tuple[OptimizeResult, OptimizeContext, Roles]:
    task = triage()
    roles = Roles()
    ctx = OptimizeContext(
        roles.task, Evaluator(both_right), both_right, prompt_lm=roles.prompt, threads=4
    )
    student = TwoSteps()
    student.set_lm(roles.task)
    result = make_optimizer("copro", options).compile(
        student, trainset=task.train, valset=task.train, ctx=ctx
    )
    return result, ctx, roles


def test_two_predictors_are_improved_in_turn() -> None:
    task = triage()
    options = {"breadth": 3, "depth": 2}
    result, ctx, roles = _two_steps(options)
    n = len(task.train)
    proposals = 2 * (2 * 3 - 1)
    assert roles.prompt.stats.calls == proposals
    assert roles.task.stats.calls == len(ctx.trials) * n * 2
    assert roles.calls <= make_optimizer("copro", options).estimate_calls(2, n, n)
    assert result.params["categorize"].instructions != Category.__doc__
    student = TwoSteps()
    student.set_lm(roles.task)
    before = Evaluator(both_right)(student, task.dev).score
    after = student.deepcopy()
    after.set_params(result.params)
    assert Evaluator(both_right)(after, task.dev).score > before


def test_past_instructions_are_rescored_with_the_others_current_ones() -> None:
    """DSPy's COPRO re-scores a predictor's past candidates once the other predictors have
    changed, so its pick compares like with like; castlm used to keep stale scores."""
    _, ctx, _ = _two_steps({"breadth": 3, "depth": 2})
    rescored = [t for t in ctx.trials if "rescore" in t.label]
    assert rescored
    # Each pick compares like with like: the candidates re-scored for one predictor in one
    # round all run with the same instruction for the other predictor.
    groups: dict[str, set[str]] = {}
    for trial in rescored:
        group = trial.label.split(" rescore")[0]
        other = "judge" if " categorize" in group else "categorize"
        groups.setdefault(group, set()).add(trial.params[other].instructions)
    assert all(len(others) == 1 for others in groups.values())


def test_without_rescore_past_scores_are_kept() -> None:
    _, ctx, _ = _two_steps({"breadth": 3, "depth": 2, "rescore": False})
    assert len(ctx.trials) <= 1 + 2 * (2 * 3 - 1)
    assert not [t for t in ctx.trials if "rescore" in t.label]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"breadth": 1}, "breadth"),
        ({"depth": 0}, "depth"),
        ({"breath": 4}, "did you mean 'breadth'"),
        ({"init_temperature": -1}, "init_temperature"),
    ],
)
def test_settings_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(CompileError, match=message):
        make_optimizer("copro", options)


def test_defaults_follow_the_reference() -> None:
    settings = make_optimizer("copro", {}).describe()["settings"]
    assert (settings["breadth"], settings["depth"], settings["init_temperature"]) == (10, 3, 1.4)
    # 30 training-set evaluations for one predictor, as in DSPy
    assert make_optimizer("copro", {}).estimate_calls(1, 10, 10) == 30 * 10 + 29


def test_cli_compiles_triage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli_args(tmp_path / "out", "copro", "breadth=4", "depth=2")) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["scores"]["compiled"] > outcome["scores"]["baseline"]
    frozen = (tmp_path / "out" / "triage_bot" / "_frozen.py").read_text()
    assert "the ticket mentions" in frozen


def _field(request: cl.LMRequest, name: str) -> list[str]:
    """The lines of one input field of a chat-format proposer prompt."""
    text = request.messages[-1]["content"]
    body = text.split(f"[[ ## {name} ## ]]\n", 1)[1].split("\n\n[[ ## ", 1)[0]
    return [line for line in body.splitlines() if line.strip()]
