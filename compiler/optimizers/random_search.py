"""BootstrapFewShotWithRandomSearch: many demo sets, each scored, the best one kept.

Candidates, by seed (as in DSPy): -3 zero-shot, -2 labeled demos only, -1 BootstrapFewShot on
the training set in order, and seeds 0.. BootstrapFewShot on a shuffled training set with a
random number of bootstrapped demos (1..max_bootstrapped_demos). Every candidate is scored on
the validation set and the strictly best wins (the earliest seed on a tie).

Unlike the reference, bootstraps share ``teachers`` teachers (default 1: one primed with
labeled demos from the training set in order; each further one primed with labeled demos from
its own shuffle of the training set, so its runs, hence its demos, differ). Candidate seed s
bootstraps from teacher s mod ``teachers``; each training example runs through each teacher at
most once per round and every candidate's shuffled walk picks from those outcomes: teacher
calls are bounded by ``teachers`` x the training set, not by the number of candidates (the
reference primes one teacher per candidate, which is most diverse and most costly). Each
candidate still takes exactly the runs a lone sequential BootstrapFewShot would (it stops
right after its last needed success).
All candidate evaluations share one bounded pool, identical candidates are scored once, and
all randomness is drawn up front, so the result does not depend on thread timing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from castlm import Example, Module, PredictorParams
from pydantic import Field

from ..errors import CompileError
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings, Trial
from .bootstrap import BootstrapFewShot, BootstrapSettings, Demo, _Attempt
from .labeled import LabeledFewShot, LabeledSettings
from .parallel import evaluate_many, parallel_map


class RandomSearchSettings(Settings):
    num_candidate_programs: int = Field(
        default=16, ge=0, description="shuffled bootstrap candidates (seeds 0..n-1)"
    )
    max_bootstrapped_demos: int = Field(default=4, ge=1)
    max_labeled_demos: int = Field(default=16, ge=0)
    max_rounds: int = Field(default=1, ge=1)
    teachers: int = Field(
        default=1,
        ge=1,
        description="teachers primed with different labeled demos; candidates take turns "
        "(more: more diverse demos, up to this many teacher runs per training example)",
    )
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
    """What one bootstrap candidate will do, drawn before anything runs: the order in which
    it walks the training set (indices into it) and how many demos it bootstraps."""

    seed: int
    order: tuple[int, ...]
    size: int
    teacher: int = 0  # which shared teacher the candidate bootstraps from


Key = tuple[int, int, int]  # (teacher, round, training-example index): one teacher run


@dataclass
class _Walk:
    """One candidate's sequential bootstrap replayed over the shared teacher outcomes."""

    used: list[int]  # positions in the candidate's order whose runs became demos
    found: dict[str, list[Demo]]
    errors: list[str]
    needed: list[Key]  # unknown outcomes the walk stopped at (empty: finished)


class RandomSearch(Optimizer[RandomSearchSettings]):
    name = "random_search"
    settings_model: ClassVar[type[Settings]] = RandomSearchSettings

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
        plans = [_Plan(-1, tuple(range(len(train))), opts.max_bootstrapped_demos)]
        for seed in range(opts.num_candidate_programs):
            rng = random.Random(f"random_search:{ctx.seed}:{seed}")
            order = list(range(len(train)))
            rng.shuffle(order)  # the same draws as shuffling the examples themselves
            size = rng.randint(1, opts.max_bootstrapped_demos)
            plans.append(_Plan(seed, tuple(order), size, seed % opts.teachers))
        walks = self._bootstrap_all(student, train, plans, ctx)
        return fixed + [
            self._candidate(student, train, plan, walk, ctx.seed)
            for plan, walk in zip(plans, walks, strict=True)
        ]

    def _booter(self, size: int) -> BootstrapFewShot:
        opts = self.opts
        return BootstrapFewShot(
            BootstrapSettings(
                max_bootstrapped_demos=size,
                max_labeled_demos=opts.max_labeled_demos,
                max_rounds=opts.max_rounds,
                metric_threshold=opts.metric_threshold,
            )
        )

    def _bootstrap_all(
        self, student: Module, train: list[Example], plans: list[_Plan], ctx: OptimizeContext
    ) -> list[_Walk]:
        """Every candidate's bootstrap, sharing one teacher and each teacher run.

        The teacher (the student with labeled demos sampled from the training set in order)
        is the same for all candidates, so a training example's run in a round has one
        outcome whoever asks for it. Each wave runs, in one pool of ``ctx.threads``, the
        union of the runs that the unfinished candidates certainly need next (a candidate
        needing k more demos needs at least its next k unknown examples), then every
        candidate replays its sequential walk over the known outcomes. Teacher calls are
        at most ``max_rounds * len(train)`` whatever the number of candidates, and the
        outcomes, hence the demos, do not depend on thread timing.
        """
        booter = self._booter(self.opts.max_bootstrapped_demos)
        teachers = [booter._teacher(student, train, ctx)]
        for number in range(1, self.opts.teachers):
            shuffled = list(train)
            random.Random(f"random_search-teacher:{ctx.seed}:{number}").shuffle(shuffled)
            teachers.append(booter._teacher(student, shuffled, ctx))
        outcomes: dict[Key, _Attempt] = {}

        def run(key: Key) -> _Attempt:
            number, round_, index = key
            return booter._attempt(teachers[number], train[index], index, round_, ctx)

        runs = self.opts.teachers * self.opts.max_rounds * len(train)
        ctx.progress.start("random search: bootstrap", runs)
        try:
            while True:
                walks = [self._walk(plan, outcomes) for plan in plans]
                wave = list(dict.fromkeys(key for w in walks for key in w.needed))
                if not wave:
                    return walks
                outcomes.update(zip(wave, parallel_map(run, wave, ctx.threads), strict=True))
        finally:
            ctx.progress.finish()

    def _walk(self, plan: _Plan, outcomes: Mapping[Key, _Attempt]) -> _Walk:
        """``BootstrapFewShot.bootstrap`` with one thread, over the training set in
        ``plan.order``, as far as the known outcomes go."""
        walk = _Walk([], {}, [], [])
        ahead = 0  # known successes past an unknown run: they count only optimistically
        for round_ in range(self.opts.max_rounds):
            for pos, index in enumerate(plan.order):
                if pos in walk.used:
                    continue
                attempt = outcomes.get((plan.teacher, round_, index))
                if attempt is None or walk.needed:
                    # Counting every unknown run as a success, fewer than plan.size runs
                    # succeed before an unknown one, so each run asked for is needed.
                    if attempt is None:
                        walk.needed.append((plan.teacher, round_, index))
                    elif attempt.accepted:
                        ahead += 1
                    if len(walk.used) + len(walk.needed) + ahead >= plan.size:
                        return walk
                    continue
                if attempt.error:
                    walk.errors.append(f"example {pos}: {attempt.error}")
                if attempt.accepted:
                    walk.used.append(pos)
                    for name, demos in attempt.demos.items():
                        walk.found.setdefault(name, []).extend(demos)
                    if len(walk.used) >= plan.size:
                        return walk
            if walk.needed:  # the next round's pending examples depend on these
                return walk
        return walk

    def _candidate(
        self, student: Module, train: list[Example], plan: _Plan, walk: _Walk, seed: int
    ) -> _Candidate:
        trainset = [train[i] for i in plan.order]
        params = self._booter(plan.size)._student_params(
            student, walk.found, walk.used, trainset, seed
        )
        notes = [
            f"bootstrapped {len(walk.used)} successful run(s) from {len(train)} training examples"
        ]
        if walk.errors:
            notes.append(f"{len(walk.errors)} teacher run(s) failed, e.g. {walk.errors[0]}")
        label = "bootstrap" if plan.seed == -1 else f"seed {plan.seed} (bootstrap, {plan.size})"
        return _Candidate(plan.seed, label, params, tuple(notes))

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
        per run): (num_candidate_programs + 3) validation-set runs, plus at most
        teachers x max_rounds teacher runs per training example, shared by all the
        bootstraps (they stop once they have their demos, usually far earlier)."""
        opts = self.opts
        train, val = n_train, n_val
        if opts.valset_fraction:
            val = max(1, round(opts.valset_fraction * n_train)) if n_train else 0
            train = n_train - val
        boots = min(opts.teachers, opts.num_candidate_programs + 1) * opts.max_rounds * train
        evals = (opts.num_candidate_programs + 3) * val
        return (boots + evals) * n_predictors


def params_key(params: Mapping[str, PredictorParams]) -> str:
    """A canonical text for a parameter set (demos are JSON data), to find duplicates."""
    data = {
        name: [p.instructions, [dict(d) for d in p.demos]] for name, p in sorted(params.items())
    }
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
