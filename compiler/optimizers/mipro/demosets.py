"""Step 1 of MIPROv2: N candidate demo sets per predictor, built in parallel.

The sets are, in order: the program's own demos (the unmodified program, usually none),
labeled demos only, a bootstrap over the training set in order, and bootstraps over seeded
shuffles of it, each collecting a random number (1..max_bootstrapped_demos) of successful
runs. Bootstraps reuse BootstrapFewShot, so they share its parallel waves and its labeled
fill-up. Where DSPy builds the sets one after another, they run here side by side, the
``threads`` split between them so the total concurrency stays ``ctx.threads``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from castlm import Example, Module

from ...progress import NoProgress
from ..base import OptimizeContext
from ..bootstrap import BootstrapFewShot, BootstrapSettings
from ..labeled import sample_labeled
from ..parallel import parallel_map

Demos = tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class DemoSet:
    """One candidate set: the demos each predictor shows, and which of them were traced."""

    label: str
    demos: Mapping[str, Demos]
    bootstrapped: Mapping[str, Demos]
    failures: int = 0


@dataclass(frozen=True)
class _Spec:
    kind: str  # "unmodified" | "labeled" | "bootstrap"
    shuffle: int | None = None  # the shuffle seed of a shuffled bootstrap


def specs(count: int) -> list[_Spec]:
    """The ``count`` sets DSPy builds: unmodified, labeled, in-order bootstrap, shuffles."""
    base = [_Spec("unmodified"), _Spec("labeled"), _Spec("bootstrap")]
    return (base + [_Spec("bootstrap", i) for i in range(max(0, count - 3))])[: max(1, count)]


@dataclass(frozen=True)
class Plan:
    """How to build the sets."""

    count: int
    max_bootstrapped: int
    max_labeled: int
    threshold: float | None
    seed: int


def build_demo_sets(
    student: Module, trainset: Sequence[Example], ctx: OptimizeContext, plan: Plan
) -> list[DemoSet]:
    """``plan.count`` demo sets for every predictor of ``student`` (see the module docstring)."""
    todo = specs(plan.count)
    sub = dataclasses.replace(
        # A quiet copy of the context: the sets run side by side, each with its share of the
        # threads, and progress is reported per set here.
        ctx,
        threads=max(1, ctx.threads // len(todo)),
        progress=NoProgress(),
        trials=[],
    )
    ctx.progress.start("mipro: demo sets", len(todo))

    def build(spec: _Spec) -> DemoSet:
        try:
            return _build(spec, student, trainset, sub, plan)
        finally:
            ctx.progress.advance()

    try:
        return parallel_map(build, todo, min(ctx.threads, len(todo)))
    finally:
        ctx.progress.finish()


def _build(
    spec: _Spec, student: Module, trainset: Sequence[Example], ctx: OptimizeContext, plan: Plan
) -> DemoSet:
    named = student.named_predictors()
    if spec.kind == "unmodified":
        return DemoSet("unmodified", {n: p.demos for n, p in named}, {})
    if spec.kind == "labeled":
        k = plan.max_labeled
        demos = {n: tuple(sample_labeled(n, p, trainset, k, plan.seed)) for n, p in named}
        return DemoSet(f"{k} labeled", demos, {})
    order = list(trainset)
    size = plan.max_bootstrapped
    label = f"bootstrap ({size} runs)"
    seed = plan.seed
    if spec.shuffle is not None:
        seed = plan.seed + spec.shuffle
        rng = random.Random(seed)
        rng.shuffle(order)
        size = rng.randint(1, size) if size else 0
        label = f"bootstrap (shuffle {spec.shuffle}, {size} runs)"
    settings = BootstrapSettings(
        max_bootstrapped_demos=size,
        max_labeled_demos=plan.max_labeled,
        metric_threshold=plan.threshold,
    )
    sub = dataclasses.replace(ctx, seed=seed)
    return _bootstrap(label, BootstrapFewShot(settings), student, order, sub)


def _bootstrap(
    label: str,
    optimizer: BootstrapFewShot,
    student: Module,
    order: Sequence[Example],
    ctx: OptimizeContext,
) -> DemoSet:
    teacher = optimizer._teacher(student, order, ctx)
    found, used, errors = optimizer.bootstrap(teacher, order, ctx)
    params = optimizer._student_params(student, found, used, order, ctx.seed)
    size = optimizer.opts.max_bootstrapped_demos
    traced = {
        name: predictor.normalize_demos(list(found.get(name, []))[:size])
        for name, predictor in student.named_predictors()
    }
    return DemoSet(label, {n: p.demos for n, p in params.items()}, traced, len(errors))
