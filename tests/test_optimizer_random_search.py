"""random_search (BootstrapFewShotWithRandomSearch) on examples/triage with the stand-in.

Compiled on the training split, scored on the held-out dev split. LM-call counts: candidate
evaluations go through the task LM and are exact (unique candidates x validation examples);
bootstraps go through the teacher LM and stay within estimate_calls, which is an upper bound
(a bootstrap stops once it has its demos).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from castlm.compiler.cli import main
from castlm.compiler.errors import CompileError
from castlm.compiler.optimizers import (
    OPTIMIZERS,
    OptimizeContext,
    OptimizeResult,
    make_optimizer,
)
from castlm.compiler.optimizers.random_search import params_key
from support.triage_task import Roles, cli_args, triage

SMALL = {"num_candidate_programs": 4, "max_labeled_demos": 8}
Compiled = tuple[OptimizeResult, OptimizeContext, Roles]


@pytest.fixture(scope="module")
def small() -> Compiled:
    return triage().compile("random_search", SMALL)


def test_registered_by_name() -> None:
    assert OPTIMIZERS["random_search"].name == "random_search"


def test_compiled_program_beats_zero_shot_on_held_out_data(small: Compiled) -> None:
    task = triage()
    result, _, _ = small
    zero_shot = task.score(task.module_class().get_params(), task.dev)
    compiled = task.score(result.params, task.dev)
    assert compiled >= zero_shot + 15, (zero_shot, compiled)


def test_candidates_in_reference_order_and_the_strictly_best_wins(small: Compiled) -> None:
    result, ctx, _ = small
    labels = [t.label for t in ctx.trials]
    assert labels[:3] == ["zero-shot", "labeled (8 demos)", "bootstrap"]
    assert len(labels) == 4 + 3
    for seed, label in enumerate(labels[3:]):
        found = re.fullmatch(rf"seed {seed} \(bootstrap, (\d)\)", label)
        assert found and 1 <= int(found.group(1)) <= 4  # a random demo count in 1..4
    best = max(t.score for t in ctx.trials)
    first_best = next(t for t in ctx.trials if t.score == best)
    assert result.params == first_best.params
    assert ctx.trials[0].params == triage().module_class().get_params()  # zero-shot as is


def test_same_result_whatever_the_thread_count(small: Compiled) -> None:
    four, ctx_four, _ = small  # four threads
    one, ctx_one, _ = triage().compile("random_search", SMALL, threads=1)
    assert four.params == one.params
    assert [(t.label, t.score) for t in ctx_four.trials] == [
        (t.label, t.score) for t in ctx_one.trials
    ]


def test_the_seed_changes_the_search(small: Compiled) -> None:
    _, first, _ = small
    _, other, _ = triage().compile("random_search", SMALL, seed=1)
    assert [t.label for t in first.trials] != [t.label for t in other.trials] or [
        t.score for t in first.trials
    ] != [t.score for t in other.trials]


def test_lm_calls_per_role_and_against_the_estimate(small: Compiled) -> None:
    task = triage()
    _, ctx, roles = small
    n = len(task.train)
    unique = len({params_key(t.params) for t in ctx.trials})
    assert roles.task.stats.calls == unique * n  # every distinct candidate once, on the valset
    assert roles.prompt.stats.calls == 0
    # one shared teacher: each training example runs through it at most once
    assert 0 < roles.teacher.stats.calls <= n
    asked = [r.messages[-1]["content"] for r in roles.teacher.requests]
    assert len(asked) == len(set(asked)) == roles.teacher.stats.calls
    estimate = make_optimizer("random_search", SMALL).estimate_calls(1, n, n)
    assert estimate == n + (4 + 3) * n
    assert 0.5 * estimate <= roles.calls <= estimate


def test_valset_fraction_scores_candidates_on_held_out_training_examples() -> None:
    task = triage()
    options = {**SMALL, "valset_fraction": 0.25}
    result, ctx, roles = task.compile("random_search", options)
    held = round(0.25 * len(task.train))
    unique = len({params_key(t.params) for t in ctx.trials})
    assert roles.task.stats.calls == unique * held
    estimate = make_optimizer("random_search", options).estimate_calls(1, len(task.train), 0)
    assert roles.calls <= estimate
    # candidates were scored on `held` training examples, none of which became a demo
    asked = {r.messages[-1]["content"] for r in roles.task.requests}
    scored = {ex["ticket"] for ex in task.train if any(ex["ticket"] in a for a in asked)}
    assert len(scored) == held
    demos = {d["ticket"] for d in result.params["triage"].demos}
    assert demos and not demos & scored


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_candidates": 3}, "did you mean 'num_candidate_programs'"),
        ({"max_bootstrapped_demos": 0}, "max_bootstrapped_demos"),
        ({"valset_fraction": 1.0}, "valset_fraction"),
        ({"num_candidate_programs": -1}, "num_candidate_programs"),
    ],
)
def test_settings_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(CompileError, match=message):
        make_optimizer("random_search", options)


def test_a_fraction_that_leaves_no_training_data_is_an_error() -> None:
    task = triage()
    with pytest.raises(CompileError, match="leaves no training example"):
        task.compile("random_search", {"valset_fraction": 0.5}, train=task.train[:1])


def test_cli_compiles_triage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = cli_args(tmp_path / "out", "random_search", "num_candidate_programs=4")
    assert main(args) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["scores"]["compiled"] > outcome["scores"]["baseline"]
    manifest = json.loads((tmp_path / "out" / "triage_bot" / "manifest.json").read_text())
    assert manifest["optimizer"]["name"] == "random_search"
    assert manifest["optimizer"]["settings"]["num_candidate_programs"] == 4


def test_teacher_runs_are_shared_by_the_candidates(small: Compiled) -> None:
    """Doubling the candidates adds evaluations, never teacher runs beyond the training set;
    each bootstrap still gets the demo count it drew."""
    task = triage()
    _, _, four = small
    result, ctx, eight = task.compile("random_search", {**SMALL, "num_candidate_programs": 8})
    assert four.teacher.stats.calls <= eight.teacher.stats.calls <= len(task.train)
    assert result.params
    for trial in ctx.trials[3:]:
        found = re.fullmatch(r"seed \d+ \(bootstrap, (\d)\)", trial.label)
        assert found
        assert len(trial.params["triage"].demos) == 8  # bootstrapped + labeled fill-up


def test_several_teachers_give_more_diverse_demos_within_their_bound(small: Compiled) -> None:
    """With teachers=3 the candidates bootstrap from three teachers primed differently: more
    distinct demos than from one shared teacher, and at most 3 teacher runs per example."""
    task = triage()
    _, one_ctx, _ = small
    _, three_ctx, three = task.compile("random_search", {**SMALL, "teachers": 3})
    assert three.teacher.stats.calls <= 3 * len(task.train)

    def distinct(ctx: OptimizeContext) -> int:
        return len(
            {
                json.dumps(d, sort_keys=True)
                for t in ctx.trials[3:]
                for p in t.params.values()
                for d in p.demos
                if "reasoning" in d  # bootstrapped, not labeled
            }
        )

    assert distinct(three_ctx) > distinct(one_ctx)
    estimate = make_optimizer("random_search", {**SMALL, "teachers": 3}).estimate_calls(
        1, len(task.train), len(task.train)
    )
    assert three.calls <= estimate
