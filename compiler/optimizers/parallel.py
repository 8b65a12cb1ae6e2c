"""Bounded, order-preserving parallelism for optimizers.

Optimizers score many (program, example) pairs. Running each candidate's evaluation in a
pool of its own would multiply the concurrency (candidates x threads); instead every pair of
a batch goes through one pool of ``ctx.threads`` workers, and results come back in the order
the jobs were given, so an optimizer's choices never depend on thread timing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from castlm import Example, Module, context

from ..evaluate import EvalResult, ExampleResult
from .base import OptimizeContext

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """``fn`` over ``items`` with at most ``threads`` running at once; results in item order."""
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        # Each job runs in a copy of the caller's context (its LM overrides and traces).
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        return [f.result() for f in futures]


@dataclass(frozen=True)
class Job:
    """One run of ``program`` on ``example``, optionally sampled (temperature and rollout)."""

    program: Module
    example: Example
    index: int = 0
    temperature: float | None = None
    rollout: int | None = None


def run_jobs(ctx: OptimizeContext, jobs: Sequence[Job], label: str) -> list[ExampleResult]:
    """Run and score every job (errors score 0 and are kept), in one bounded pool."""
    evaluator = ctx.evaluator

    def one(job: Job) -> ExampleResult:
        overrides: dict[str, Any] = {}
        if job.temperature is not None:
            overrides["temperature"] = job.temperature
        if job.rollout is not None:
            overrides["rollout"] = job.rollout
        with context(**overrides):
            return evaluator.run_one(job.program, job.index, job.example)

    ctx.progress.start(label, len(jobs))
    try:
        return parallel_map(one, jobs, ctx.threads)
    finally:
        ctx.progress.finish()


def evaluate_many(
    ctx: OptimizeContext, programs: Sequence[Module], examples: Sequence[Example], label: str
) -> list[EvalResult]:
    """Each program scored on all ``examples``; all runs share one pool of ``ctx.threads``."""
    jobs = [Job(p, ex, i) for p in programs for i, ex in enumerate(examples)]
    results = run_jobs(ctx, jobs, label)
    n = len(examples)
    return [EvalResult(tuple(results[k * n : (k + 1) * n])) for k in range(len(programs))]
