"""Bootstrapped runs on every training example, with their traces.

BootstrapFewShot stops after a few successful examples; the ``knn`` and ``finetune``
optimizers want one outcome per training example instead: KNN ships demos for each example,
fine-tuning trains on every successful run. This module runs BootstrapFewShot's teacher (the
student primed with labeled demos, minus the example being run) on all examples in one
bounded pool, retrying failed ones in later rounds at temperature 1.0 under a new rollout id,
exactly as bootstrap's rounds do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from castlm import Example, Module, TraceStep

from .base import OptimizeContext
from .bootstrap import BootstrapFewShot, BootstrapSettings, _without_demo
from .parallel import Job, run_jobs


@dataclass(frozen=True)
class Call:
    """One predictor call of an accepted run: who was called, with what, and what it said."""

    predictor: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    step: TraceStep


@dataclass(frozen=True)
class Run:
    """The outcome for one training example (its last attempt)."""

    index: int
    example: Example
    accepted: bool
    calls: tuple[Call, ...] = ()
    error: str | None = None


def bootstrap_runs(
    student: Module,
    trainset: Sequence[Example],
    ctx: OptimizeContext,
    *,
    max_labeled_demos: int,
    max_rounds: int,
    metric_threshold: float | None,
    label: str,
) -> list[Run]:
    """One :class:`Run` per training example, in training-set order."""
    settings = BootstrapSettings(
        max_bootstrapped_demos=max(1, len(trainset)),
        max_labeled_demos=max_labeled_demos,
        max_rounds=max_rounds,
        metric_threshold=metric_threshold,
    )
    teacher = BootstrapFewShot(settings)._teacher(student, trainset, ctx)
    runs: list[Run | None] = [None] * len(trainset)
    for round_ in range(max_rounds):
        pending = [i for i, run in enumerate(runs) if run is None or not run.accepted]
        if not pending:
            break
        jobs = [_job(teacher, trainset[i], i, round_) for i in pending]
        results = run_jobs(ctx, jobs, f"{label} (round {round_ + 1})" if round_ else label)
        for job, result in zip(jobs, results, strict=True):
            accepted = result.error is None and _accepts(result.score, metric_threshold)
            calls = _calls(job.program, result.trace) if accepted else ()
            runs[job.index] = Run(job.index, job.example, accepted, calls, result.error)
    return [run for run in runs if run is not None]


def _job(teacher: Module, example: Example, index: int, round_: int) -> Job:
    program = _without_demo(teacher, example)
    if not round_:
        return Job(program, example, index)
    return Job(program, example, index, temperature=1.0, rollout=round_)


def _accepts(score: float, threshold: float | None) -> bool:
    return score >= threshold if threshold is not None else score > 0


def _calls(program: Module, steps: Sequence[TraceStep]) -> tuple[Call, ...]:
    names = {id(p): n for n, p in program.named_predictors()}
    return tuple(
        Call(names[id(step.predictor)], dict(step.inputs), dict(step.outputs), step)
        for step in steps
        if id(step.predictor) in names
    )
