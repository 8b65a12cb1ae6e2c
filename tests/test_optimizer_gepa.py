"""GEPA: Pareto bookkeeping, merges, feedback metrics and the budget, with the stand-in."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from castlm import Example, LMRequest, LMResponse, Module
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.metrics import feedback_of, score_of
from castlm.compiler.optimizers import OptimizeContext, OptimizeResult, make_optimizer
from castlm.compiler.optimizers.gepa.engine import Engine, EpochSampler
from castlm.compiler.optimizers.gepa.merge import Merger, combine, judge, subsample
from castlm.compiler.optimizers.gepa.pareto import Pool
from castlm.compiler.optimizers.gepa.reflection import Reflector, evidence
from castlm.compiler.optimizers.gepa.rollouts import Outcome, Rollouts, Step
from castlm.compiler.optimizers.gepa.settings import GepaSettings, auto_budget
from castlm.testing import StandInLM
from support.ticket_task import examples, load_program, write_project

TRAIN, VAL, DEV = examples(24, 1), examples(20, 3), examples(40, 2)


class RecordingStandIn(StandInLM):
    """Keeps the requests it answered, to read what the reflection was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[LMRequest] = []

    def _send(self, request: LMRequest) -> LMResponse:
        self.requests.append(request)
        return super()._send(request)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_program(write_project(tmp_path_factory.mktemp("ticket")))


def counting(metric: Callable[..., Any], calls: Counter[str]) -> Callable[..., Any]:
    def counted(example: Example, pred: Any, trace: object = None) -> Any:
        calls["metric"] += 1
        return metric(example, pred, trace)

    return counted


class Run:
    def __init__(
        self,
        task: ModuleType,
        metric: Callable[..., Any],
        program: str = "Router",
        data: tuple[list[Example], list[Example]] = (TRAIN, VAL),
        **options: Any,
    ) -> None:
        self.calls: Counter[str] = Counter()
        self.metric = counting(metric, self.calls)
        self.task, self.program = task, program
        self.task_lm, self.prompt_lm = StandInLM(), RecordingStandIn()
        student: Module = getattr(task, program)()
        student.set_lm(self.task_lm)
        self.ctx = OptimizeContext(
            self.task_lm,
            Evaluator(self.metric, threads=2),
            self.metric,
            prompt_lm=self.prompt_lm,
            threads=2,
        )
        train, val = data
        self.result: OptimizeResult = make_optimizer("gepa", options).compile(
            student, trainset=train, valset=val, ctx=self.ctx
        )

    def dev_score(self, with_params: bool, dev: list[Example] = DEV) -> float:
        program: Module = getattr(self.task, self.program)()
        program.set_lm(StandInLM())
        if with_params:
            program.set_params(self.result.params)
        return Evaluator(self.task.accuracy, threads=2)(program, dev).score


def test_compiled_beats_zero_shot_and_the_stand_in_follows_the_new_instruction(
    task: ModuleType,
) -> None:
    run = Run(task, task.accuracy, max_metric_calls=400)
    original = task.Router().route.instructions
    instruction = run.result.params["route"].instructions
    assert instruction != original and instruction.startswith(original)
    assert run.dev_score(True) > run.dev_score(False)
    assert run.result.params["route"].demos == ()  # GEPA changes instructions only


def test_metric_and_reflection_calls_are_counted_and_the_budget_is_kept(
    task: ModuleType,
) -> None:
    for budget in (20, 57, 150):
        run = Run(task, task.accuracy, max_metric_calls=budget)
        stats = run.result.stats
        assert stats["metric_calls"] == run.calls["metric"] <= budget
        assert stats["metric_budget"] == budget
        # one proposal per reflection, each one LM call of the prompt model
        assert stats["reflection_calls"] == run.prompt_lm.stats.calls
        assert any(f"{stats['reflection_calls']} reflection calls" in n for n in run.result.notes)
    assert stats["reflection_calls"] > 0 and stats["candidates"] > 1
    with pytest.raises(CompileError, match="cannot even score"):
        Run(task, task.accuracy, max_metric_calls=len(VAL) - 1)


def test_the_reflection_reads_the_metrics_feedback(task: ModuleType) -> None:
    run = Run(task, task.accuracy_with_feedback, max_metric_calls=120)
    shown = "\n".join(m["content"] for r in run.prompt_lm.requests for m in r.messages)
    assert "Wrong queue: answered" in shown and "Correct queue." in shown
    assert run.result.stats["reflection_calls"] > 0


def test_per_predictor_feedback_goes_to_its_predictor(task: ModuleType) -> None:
    desk = task.Desk()
    value = task.desk_score(
        Example(ticket="refund please", queue="billing", urgent=True).with_inputs("ticket"),
        task.Route(ticket="refund please", queue="shipping"),
        [],
    )
    outcome = Outcome(
        Example(ticket="refund please", queue="billing", urgent=True).with_inputs("ticket"),
        score_of(value, task.desk_score),
        feedback_of(value),
        (
            Step("flag", {"ticket": "refund please"}, {"urgent": False}),
            Step("route", {"ticket": "refund please"}, {"queue": "shipping"}),
        ),
    )
    flag = evidence("flag", desk.flag, [outcome])
    route = evidence("route", desk.route, [outcome])
    assert [e.feedback for e in flag] == ["Expected urgent=True."]
    assert [e.feedback for e in route] == ["Expected queue billing."]
    assert route[0].expected == {"queue": "billing"} and route[0].outputs == {"queue": "shipping"}
    assert flag[0].expected == {"urgent": True}


def test_feedback_of_reads_tuples_objects_and_plain_scores() -> None:
    class Scored:
        score = 0.5
        feedback = {"route": "wrong queue"}

    assert feedback_of(0.7) is None and feedback_of(True) is None
    assert feedback_of((1.0, "fine")) == "fine" and feedback_of((1.0, "")) is None
    assert feedback_of(Scored()) == {"route": "wrong queue"}
    assert score_of(Scored(), lambda: None) == 0.5


def test_a_two_predictor_program_improves_with_per_predictor_feedback(task: ModuleType) -> None:
    data = (examples(24, 1, urgent=True), examples(20, 3, urgent=True))
    run = Run(task, task.desk_score, "Desk", data, max_metric_calls=400)
    changed = [
        name
        for name, params in run.result.params.items()
        if params.instructions != getattr(task.Desk(), name).instructions
    ]
    assert changed == ["route", "flag"]  # round robin reached both predictors
    dev = examples(40, 2, urgent=True)
    assert run.dev_score(True, dev) > run.dev_score(False, dev)


def test_stops_when_every_minibatch_is_perfect(task: ModuleType) -> None:
    run = Run(task, lambda example, pred, trace=None: 1.0, max_metric_calls=10_000)
    stats = run.result.stats
    assert stats["reflection_calls"] == 0 and stats["candidates"] == 1
    assert stats["skipped_perfect"] > 0
    assert stats["metric_calls"] == len(VAL) + len(TRAIN)  # each pair scored once
    assert any("an epoch without progress" in note for note in run.result.notes)


# -- the Pareto pool --------------------------------------------------------------------
def pool(*rows: tuple[dict[str, str], tuple[int, ...], list[float]]) -> Pool:
    built = Pool()
    for candidate, parents, scores in rows:
        built.add(candidate, parents, scores)
    return built


def test_fronts_hold_the_best_candidates_per_instance() -> None:
    p = pool(
        ({"a": "0"}, (), [0.0, 1.0, 0.0, 0.5]),
        ({"a": "1"}, (0,), [1.0, 1.0, 0.0, 0.2]),
        ({"a": "2"}, (0,), [0.0, 0.0, 1.0, 0.2]),
    )
    assert p.fronts() == [{1}, {0, 1}, {2}, {0}]
    assert p.best() == 1 and round(p.aggregate(1), 3) == 0.55
    assert p.ancestors(2) == {0}


def test_dominated_candidates_are_pruned_before_parent_selection() -> None:
    p = pool(
        ({"a": "0"}, (), [1.0, 0.0, 0.0]),
        ({"a": "1"}, (0,), [1.0, 1.0, 0.0]),  # on every front 0 is on: 0 is dominated
        ({"a": "2"}, (0,), [0.0, 0.0, 1.0]),
    )
    assert p.dominators() == {1, 2}
    assert p.front_counts() == {1: 2, 2: 1}
    rng = random.Random(0)
    drawn = Counter(p.select_parent(rng) for _ in range(3000))
    assert set(drawn) == {1, 2}
    assert 1.7 < drawn[1] / drawn[2] < 2.3  # in proportion to front membership
    assert p.select_parent(rng, "current_best") == 1


def test_a_candidate_tied_everywhere_keeps_the_stronger_one() -> None:
    p = pool(({"a": "0"}, (), [1.0, 1.0]), ({"a": "1"}, (0,), [1.0, 1.0]))
    assert len(p.dominators()) == 1


def test_epoch_sampler_covers_the_training_set_each_epoch() -> None:
    sampler = EpochSampler(7, 3, random.Random(1))
    first_epoch = [i for _ in range(3) for i in sampler.next()]
    assert sorted(set(first_epoch)) == list(range(7)) and len(first_epoch) == 9
    assert len(sampler.next()) == 3


def test_settings_budget() -> None:
    assert auto_budget(1, 6, 100) == 780  # the reference's light budget for one predictor
    settings = GepaSettings()
    assert settings.budget(1, 50, 100) == 780
    assert GepaSettings(max_full_evals=2).budget(1, 10, 20) == 60
    assert GepaSettings(max_metric_calls=99, auto="heavy").budget(3, 10, 20) == 99
    with pytest.raises(CompileError, match="not both"):
        make_optimizer("gepa", {"max_metric_calls": 5, "max_full_evals": 1})
    with pytest.raises(CompileError, match="did you mean 'use_merge'"):
        make_optimizer("gepa", {"use_merges": False})


# -- merges -----------------------------------------------------------------------------
SEED = {"route": "R0", "flag": "F0"}


def merge_pool() -> Pool:
    return pool(
        (SEED, (), [0.0] * 6),
        ({"route": "R1", "flag": "F0"}, (0,), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]),
        ({"route": "R0", "flag": "F1"}, (0,), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
    )


def test_merge_takes_each_predictors_change_from_the_candidate_that_made_it() -> None:
    p = merge_pool()
    merger = Merger()
    merge = merger.propose(p, random.Random(0))
    assert merge is not None
    assert (merge.first, merge.second, merge.ancestor) == (1, 2, 0)
    assert merge.candidate == {"route": "R1", "flag": "F1"}
    # judged on 5 instances covering where each parent wins
    assert len(merge.instances) == 5
    assert {i < 3 for i in merge.instances} == {True, False}
    assert judge(p, merge, [1.0] * 5) and not judge(p, merge, [0.0] * 5)
    assert merger.propose(p, random.Random(0)) is None  # the same merge is not tried twice


def test_merge_prefers_the_better_candidate_where_both_changed() -> None:
    p = merge_pool()
    p.candidates[2]["route"] = "R2"
    p.scores[2][0] = 1.0  # candidate 2 is now better on average
    merged, sources = combine(p, 1, 2, 0, random.Random(0))
    assert merged == {"route": "R2", "flag": "F1"} and sources == (2, 2)


def test_no_merge_without_a_common_ancestor_or_on_a_tiny_valset() -> None:
    p = pool(
        (SEED, (), [0.0] * 6),
        ({"route": "R1", "flag": "F0"}, (), [1.0] * 3 + [0.0] * 3),
        ({"route": "R0", "flag": "F1"}, (), [0.0] * 3 + [1.0] * 3),
    )
    assert Merger().propose(p, random.Random(0)) is None
    tiny = pool(
        (SEED, (), [0.0] * 4),
        ({"route": "R1", "flag": "F0"}, (0,), [1.0, 1.0, 0.0, 0.0]),
        ({"route": "R0", "flag": "F1"}, (0,), [0.0, 0.0, 1.0, 1.0]),
    )
    assert Merger().propose(tiny, random.Random(0)) is None
    assert sorted(subsample(merge_pool(), 1, 2, random.Random(0))) != []


def test_engine_accepts_a_merge_of_two_improved_lines(task: ModuleType, tmp_path: Path) -> None:
    """Two candidates that each fixed one predictor of Desk merge into one that has both
    fixes; it scores at least as well as either on the subsample and joins the pool."""
    student: Module = task.Desk()
    student.set_lm(StandInLM())
    train, val = examples(12, 1, urgent=True), examples(20, 3, urgent=True)
    metric = task.desk_score
    ctx = OptimizeContext(StandInLM(), Evaluator(metric, threads=2), metric, threads=2)
    settings = GepaSettings(max_metric_calls=500)
    rollouts = Rollouts(student, ctx, 500)
    reflector = Reflector(StandInLM(), student, None)
    engine = Engine(student, train, val, ctx, settings, rollouts, reflector, seed=0)
    base = {n: p.instructions for n, p in student.named_predictors()}
    route = (
        base["route"]
        + "\n\n"
        + "\n".join(
            f'When the ticket mentions "{kw}", queue is {queue}.'
            for queue, kws in {"billing": ["refund", "invoice"], "shipping": ["parcel"]}.items()
            for kw in kws
        )
    )
    flag = base["flag"] + '\n\nIf the ticket mentions "urgent", set urgent to true.'
    lines = [(base, ()), ({**base, "route": route}, (0,)), ({**base, "flag": flag}, (0,))]
    for candidate, parents in lines:
        engine._add(candidate, parents, rollouts.run(candidate, val))
    assert engine._merge(Merger(), random.Random(0)) is True
    assert engine.pool.candidates[-1] == {"route": route, "flag": flag}
    assert engine.pool.parents[-1] == (1, 2)
    assert engine.pool.aggregate(3) > max(engine.pool.aggregate(i) for i in (1, 2))
    assert engine.counts.merges_accepted == 1
    assert [t.label for t in ctx.trials][-1] == "gepa candidate 3 (from 1, 2)"
