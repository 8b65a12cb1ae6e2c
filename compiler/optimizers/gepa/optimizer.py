"""GEPA: reflective prompt evolution with Pareto selection and merges (arXiv 2507.19457).

The engine (engine.py) evolves a pool of candidates, each a map from predictor name to
instruction; this module sizes the budget, runs it and reports what it cost: metric calls
(what the budget limits) and reflection calls (which the reference engine does not count).
Demos are left as the program has them: GEPA optimizes instructions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from castlm import Example, Module

from ...errors import CompileError
from ..base import OptimizeContext, Optimizer, OptimizeResult, Settings
from ..usage import UsageMeter
from .engine import Engine
from .reflection import Reflector
from .rollouts import Rollouts
from .settings import GepaSettings


class GEPA(Optimizer[GepaSettings]):
    name = "gepa"
    settings_model: ClassVar[type[Settings]] = GepaSettings

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """Each metric call is one program run; reflections add at most one call per
        iteration, and an iteration spends at least one metric call."""
        budget = self.opts.budget(n_predictors, n_train, n_val)
        return budget * n_predictors + budget

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        s = self.opts
        train, val = list(trainset), list(valset) or list(trainset)
        if not train:
            raise CompileError("gepa needs training examples")
        predictors = len(student.named_predictors())
        budget = s.budget(predictors, len(train), len(val))
        if budget < len(val):
            raise CompileError(
                f"gepa's budget of {budget} metric calls cannot even score the program once on "
                f"the {len(val)} validation examples; raise max_metric_calls"
            )
        seed = s.seed + ctx.seed
        rollouts = Rollouts(student, ctx, budget, s.failure_score)
        reflector = Reflector(ctx.prompter, student, s.reflection_temperature, s.prompt_template)
        engine = Engine(student, train, val, ctx, s, rollouts, reflector, seed)
        ctx.progress.note(
            f"gepa: budget {budget} metric calls (each one program run) on {len(train)} "
            f"training and {len(val)} validation examples"
        )
        meter = UsageMeter.of(ctx)
        with meter.phase("gepa"):
            pool = engine.run()
        best = pool.best()
        counts = engine.counts
        notes: tuple[str, ...] = (
            f"gepa: {len(pool)} candidates from {counts.iterations} iterations; stopped by "
            f"{counts.stopped_by}",
            f"{rollouts.used} of {budget} metric calls, {reflector.calls} reflection calls, "
            f"{counts.merges_accepted} of {counts.merges_tried} merges accepted; "
            f"{meter.summary()}",
            f"best candidate {best}: {100 * pool.aggregate(best):.1f} on validation "
            f"(seed {100 * pool.aggregate(0):.1f})",
        )
        if reflector.errors:
            notes += (f"{len(reflector.errors)} reflection(s) failed, e.g. {reflector.errors[0]}",)
        stats = {
            **meter.stats(),
            "metric_calls": rollouts.used,
            "metric_budget": budget,
            "reflection_calls": reflector.calls,
            "iterations": counts.iterations,
            "candidates": len(pool),
            "accepted": counts.accepted,
            "rejected": counts.rejected,
            "skipped_perfect": counts.perfect,
            "unchanged": counts.unchanged,
            "merges_tried": counts.merges_tried,
            "merges_accepted": counts.merges_accepted,
            "best_score": 100 * pool.aggregate(best),
        }
        params = rollouts.params(pool.candidates[best])
        return OptimizeResult(params, trials=tuple(ctx.trials), notes=notes, stats=stats)
