"""simba (SIMBA) on examples/triage with the stand-in.

LM calls: estimate_calls is an upper bound that assumes every candidate is new and gets a
rule; a candidate identical to a program of the pool is skipped and demo candidates need no
prompt-model call, so a compile lands within 10% below it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from castlm.compiler.cli import main
from castlm.compiler.errors import CompileError
from castlm.compiler.optimizers import OptimizeResult, make_optimizer
from castlm.compiler.optimizers.base import OptimizeContext
from support.triage_task import Roles, cli_args, triage

SMALL = {"bsize": 16, "num_candidates": 3, "max_steps": 3}
RULES_ONLY = {**SMALL, "max_demos": 0}

Compiled = tuple[OptimizeResult, OptimizeContext, Roles]


@pytest.fixture(scope="module")
def small() -> Compiled:
    return triage().compile("simba", SMALL)


@pytest.fixture(scope="module")
def rules_only() -> Compiled:
    return triage().compile("simba", RULES_ONLY)


def test_compiled_program_beats_zero_shot_on_held_out_data(small: Compiled) -> None:
    task = triage()
    result, _, _ = small
    zero_shot = task.score(task.module_class().get_params(), task.dev)
    compiled = task.score(result.params, task.dev)
    assert compiled >= zero_shot + 10, (zero_shot, compiled)


def test_rules_change_the_instruction_and_raise_the_held_out_score(rules_only: Compiled) -> None:
    task = triage()
    result, _, _ = rules_only
    learned = result.params["triage"].instructions
    assert learned != task.module_class().predictor("triage").instructions
    assert "the ticket mentions" in learned
    assert result.params["triage"].demos == ()
    zero_shot = task.score(task.module_class().get_params(), task.dev)
    assert task.score(result.params, task.dev) >= zero_shot + 10


def test_trajectories_are_sampled_hot_under_distinct_rollouts(rules_only: Compiled) -> None:
    _, _, roles = rules_only
    sampled = [r for r in roles.task.requests if r.temperature == 1.0]
    assert {r.rollout for r in sampled} == {0, 1, 2}  # one rollout per resampled "model"
    scored = [r for r in roles.task.requests if r.temperature != 1.0]
    assert scored and all(r.rollout is None for r in scored)  # candidates score as deployed


def test_rules_come_from_runs_with_outputs_and_feedback(rules_only: Compiled) -> None:
    _, _, roles = rules_only
    assert roles.prompt.requests
    for request in roles.prompt.requests:
        text = request.messages[-1]["content"]
        body = text.split("[[ ## examples ## ]]\n", 1)[1].split("\n\n[[ ## ", 1)[0]
        body = body.split("\n\nRespond with", 1)[0]
        records = [json.loads(line) for line in body.splitlines()]
        assert len(records) == SMALL["bsize"]  # the contrasted example, then the mini-batch
        assert all({"outputs", "expected", "feedback"} <= set(r) for r in records)
        assert "a better run" in records[0]["feedback"]
        assert "expected" in records[0]["feedback"] and "got" in records[0]["feedback"]


def test_demos_come_from_the_best_runs() -> None:
    task = triage()
    _, ctx, _ = task.compile("simba", {**SMALL, "max_steps": 6}, seed=1)
    demos = [d for t in ctx.trials for d in t.params["triage"].demos]
    assert demos, "some winner should carry a demo"
    tickets = {ex["ticket"] for ex in task.train}
    for demo in demos:
        assert demo["ticket"] in tickets
        assert {"reasoning", "category", "urgent", "customer"} <= set(demo)


def test_same_result_whatever_the_thread_count(small: Compiled) -> None:
    four, ctx_four, _ = small  # four threads
    one, ctx_one, _ = triage().compile("simba", SMALL, threads=1)
    assert four.params == one.params
    assert [(t.label, t.score) for t in ctx_four.trials] == [
        (t.label, t.score) for t in ctx_one.trials
    ]


def test_winners_are_scored_on_the_whole_training_set_and_the_best_returned(
    rules_only: Compiled,
) -> None:
    result, ctx, _ = rules_only
    assert ctx.trials[0].label == "simba original"
    assert 2 <= len(ctx.trials) <= SMALL["num_candidates"] + 1
    best = max(t.score for t in ctx.trials)
    assert result.params == next(t for t in ctx.trials if t.score == best).params
    assert best > ctx.trials[0].score


def test_lm_calls_within_ten_percent_below_the_estimate(rules_only: Compiled) -> None:
    n = len(triage().train)
    _, _, roles = rules_only
    estimate = make_optimizer("simba", RULES_ONLY).estimate_calls(1, n, n)
    # 3 steps x (3 sampled + 4 candidates) x 16, 4 winners x 56, 3 x 4 rules
    assert estimate == 3 * 7 * 16 + 4 * n + 3 * 4
    assert 0.9 * estimate <= roles.calls <= estimate
    assert roles.teacher.stats.calls == 0


def test_a_small_training_set_uses_a_smaller_mini_batch() -> None:
    task = triage()
    result, ctx, roles = task.compile("simba", RULES_ONLY, train=task.train[:10])
    assert result.params and ctx.trials
    assert roles.calls <= make_optimizer("simba", RULES_ONLY).estimate_calls(1, 10, 10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bsize": 0}, "bsize"),
        ({"num_candidates": 0}, "num_candidates"),
        ({"max_demos": -1}, "max_demos"),
        ({"temperature_for_sampling": 0}, "temperature_for_sampling"),
        ({"max_step": 2}, "did you mean 'max_steps'"),
    ],
)
def test_settings_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(CompileError, match=message):
        make_optimizer("simba", options)


def test_defaults_follow_the_reference() -> None:
    settings = make_optimizer("simba", {}).describe()["settings"]
    assert settings == {
        "bsize": 32,
        "num_candidates": 6,
        "max_steps": 8,
        "max_demos": 4,
        "temperature_for_sampling": 0.2,
        "temperature_for_candidates": 0.2,
        "prompt_template": None,
    }


def test_cli_compiles_triage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = cli_args(tmp_path / "out", "simba", "bsize=16", "num_candidates=3", "max_steps=3")
    assert main(args) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["scores"]["compiled"] > outcome["scores"]["baseline"]
    manifest = json.loads((tmp_path / "out" / "triage_bot" / "manifest.json").read_text())
    assert manifest["optimizer"]["name"] == "simba"
