"""BootstrapFewShotWithRandomSearch: many demo sets, each scored, the best one kept.

Candidates, by seed (as in DSPy): -3 zero-shot, -2 labeled demos only, -1 BootstrapFewShot on
the training set in order, and seeds 0.. BootstrapFewShot on a shuffled training set with a
random number of bootstrapped demos (1..max_bootstrapped_demos). Every candidate is scored on
the validation set and the strictly best wins (the earliest seed on a tie).

Unlike the reference, the bootstraps run in parallel (each one sequentially, so it stops right
after its last needed success, exactly like a lone BootstrapFewShot with one thread), all
candidate evaluations share one bounded pool, identical candidates are scored once, and all
randomness is drawn up front, so the result does not depend on thread timing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from castlm import Example, Module, PredictorParams
from pydantic import Field

from ..errors import CompileError
from ..progress import NoProgress
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings, Trial
from .bootstrap import BootstrapFewShot, BootstrapSettings
from .labeled import LabeledFewShot, LabeledSettings
from .parallel import evaluate_many, parallel_map


class RandomSearchSettings(Settings):
    num_candidate_programs: int = Field(
        default=16, ge=0, description="shuffled bootstrap candidates (seeds 0..n-1)"
    )
    max_bootstrapped_demos: int = Field(default=4, ge=1)
    max_labeled_demos: int = Field(default=16, ge=0)
    max_rounds: int = Field(default=1, ge=1)
    metric_threshold: float | None = None
    valset_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="share of the trainset held out to score candidates; 0: use the valset",
    )


@dataclass(frozen=True)
class _Candidate:
    seed: int
    label: str
    params: dict[str, PredictorParams]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Plan:
    """What one bootstrap candidate will do, drawn before anything runs."""

    seed: int
    trainset: tuple[Example, ...]
    size: int


class RandomSearch(Optimizer):
    name = "random_search"
    settings_model: ClassVar[type[Settings]] = RandomSearchSettings

    @property
    def opts(self) -> RandomSearchSettings:
        assert isinstance(self.settings, RandomSearchSettings)
        return self.settings

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        train, val = self._split(trainset, valset, ctx.seed)
        candidates = self._candidates(student, train, val, ctx)
        scores = self._score(student, candidates, val, ctx)
        trials = []
        for cand, score in zip(candidates, scores, strict=True):
            ctx.offer(cand.label, cand.params, score)
            trials.append(Trial(cand.label, score, cand.params))
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        notes = [
            f"scored {len(candidates)} candidates on {len(val)} "
            f"{'held-out training' if self.opts.valset_fraction else 'validation'} examples; "
            f"best: {candidates[best].label} ({scores[best]:.1f}; zero-shot {scores[0]:.1f})",
            *candidates[best].notes,
        ]
        return OptimizeResult(dict(candidates[best].params), tuple(trials), tuple(notes))

    # -- data ----------------------------------------------------------------------------
    def _split(
        self, trainset: Sequence[Example], valset: Sequence[Example], seed: int
    ) -> tuple[list[Example], list[Example]]:
        fraction = self.opts.valset_fraction
        if not fraction:
            return list(trainset), list(valset)
        order = list(range(len(trainset)))
        random.Random(f"random_search-split:{seed}").shuffle(order)
        held = set(order[: max(1, round(fraction * len(trainset)))])
        train = [ex for i, ex in enumerate(trainset) if i not in held]
        if not train:
            raise CompileError(
                f"optimizer 'random_search': valset_fraction={fraction} leaves no training "
                f"example out of {len(trainset)}; lower it or add data"
            )
        return train, [ex for i, ex in enumerate(trainset) if i in held]

    # -- candidates ----------------------------------------------------------------------
    def _candidates(
        self,
        student: Module,
        train: list[Example],
        val: list[Example],
        ctx: OptimizeContext,
    ) -> list[_Candidate]:
        opts = self.opts
        labeled = LabeledFewShot(LabeledSettings(k=opts.max_labeled_demos))
        fixed = [
            _Candidate(-3, "zero-shot", student.get_params()),
            _Candidate(
                -2,
                f"labeled ({opts.max_labeled_demos} demos)",
                labeled.compile(student, trainset=train, valset=val, ctx=ctx).params,
            ),
        ]
        plans = [_Plan(-1, tuple(train), opts.max_bootstrapped_demos)]
        for seed in range(opts.num_candidate_programs):
            rng = random.Random(f"random_search:{ctx.seed}:{seed}")
            shuffled = list(train)
            rng.shuffle(shuffled)
            plans.append(_Plan(seed, tuple(shuffled), rng.randint(1, opts.max_bootstrapped_demos)))
        # One sequential bootstrap per worker: ctx.threads teacher runs at a time in all.
        inner = replace(ctx, threads=1, progress=NoProgress(), trials=[])
        ctx.progress.start("random search: bootstrap", len(plans))
        try:
            built = parallel_map(
                lambda plan: self._bootstrap(student, plan, val, inner, ctx), plans, ctx.threads
            )
        finally:
            ctx.progress.finish()
        return fixed + built

    def _bootstrap(
        self,
        student: Module,
        plan: _Plan,
        val: list[Example],
        inner: OptimizeContext,
        outer: OptimizeContext,
    ) -> _Candidate:
        opts = self.opts
        settings = BootstrapSettings(
            max_bootstrapped_demos=plan.size,
            max_labeled_demos=opts.max_labeled_demos,
            max_rounds=opts.max_rounds,
            metric_threshold=opts.metric_threshold,
        )
        result = BootstrapFewShot(settings).compile(
            student, trainset=plan.trainset, valset=val, ctx=inner
        )
        outer.progress.advance()
        label = "bootstrap" if plan.seed == -1 else f"seed {plan.seed} (bootstrap, {plan.size})"
        return _Candidate(plan.seed, label, result.params, tuple(result.notes))

    # -- scoring -------------------------------------------------------------------------
    def _score(
        self,
        student: Module,
        candidates: list[_Candidate],
        val: list[Example],
        ctx: OptimizeContext,
    ) -> list[float]:
        """Each candidate's score; identical parameter sets are evaluated once."""
        unique: dict[str, int] = {}
        programs: list[Module] = []
        slots = []
        for cand in candidates:
            key = params_key(cand.params)
            if key not in unique:
                unique[key] = len(programs)
                program = student.deepcopy()
                program.set_params(cand.params)
                programs.append(program)
            slots.append(unique[key])
        results = evaluate_many(ctx, programs, val, "random search: evaluate")
        return [results[slot].score for slot in slots]

    # -- cost ----------------------------------------------------------------------------
    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """At most how many LM calls :meth:`compile` makes (empty cache, one call per predictor
        per run): (num_candidate_programs + 3) validation-set runs, plus, for each of the
        num_candidate_programs + 1 bootstraps, at most max_rounds runs per training example
        (a bootstrap stops once it has its demos, usually far earlier)."""
        opts = self.opts
        train, val = n_train, n_val
        if opts.valset_fraction:
            val = max(1, round(opts.valset_fraction * n_train)) if n_train else 0
            train = n_train - val
        boots = (opts.num_candidate_programs + 1) * opts.max_rounds * train
        evals = (opts.num_candidate_programs + 3) * val
        return (boots + evals) * n_predictors


def params_key(params: Mapping[str, PredictorParams]) -> str:
    """A canonical text for a parameter set (demos are JSON data), to find duplicates."""
    data = {
        name: [p.instructions, [dict(d) for d in p.demos]] for name, p in sorted(params.items())
    }
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
