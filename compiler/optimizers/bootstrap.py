"""BootstrapFewShot: demos from the traces of runs that the metric accepts.

A teacher (the student primed with labeled demos, on the teacher LM) runs over the training
set; every run the metric accepts turns each of its predictor calls into a demo for that
predictor. Unlike the reference implementation, runs go in parallel waves (results are still
taken in training-set order, so the outcome does not depend on thread timing), and each
predictor samples its labeled fill-up independently.
"""

from __future__ import annotations

import contextvars
import random
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from castlm import Example, Module, PredictorParams, TraceStep, context, trace
from pydantic import Field

from ..budget import BudgetExhausted
from ..errors import is_fatal
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings
from .labeled import sample_labeled
from .propose import dumps

Demo = Mapping[str, Any]


class BootstrapSettings(Settings):
    max_bootstrapped_demos: int = Field(default=4, ge=0)
    max_labeled_demos: int = Field(default=16, ge=0)
    max_rounds: int = Field(default=1, ge=1)
    metric_threshold: float | None = None


@dataclass(frozen=True)
class _Attempt:
    index: int
    demos: dict[str, list[Demo]]
    accepted: bool
    error: str | None = None


class BootstrapFewShot(Optimizer[BootstrapSettings]):
    name = "bootstrap"
    scores_candidates = False
    settings_model: ClassVar[type[Settings]] = BootstrapSettings

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """At most one teacher run per training example and round; it usually stops far
        earlier, once ``max_bootstrapped_demos`` runs have succeeded."""
        if self.opts.max_bootstrapped_demos == 0:
            return 0
        return self.opts.max_rounds * n_train * n_predictors

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        teacher = self._teacher(student, trainset, ctx)
        found, used, errors = self.bootstrap(teacher, trainset, ctx)
        params = self._student_params(student, found, used, trainset, ctx.seed)
        notes = [
            f"bootstrapped {len(used)} successful run(s) from {len(trainset)} training examples"
        ]
        if errors:
            notes.append(f"{len(errors)} teacher run(s) failed, e.g. {errors[0]}")
        return OptimizeResult(params, notes=tuple(notes))

    def _teacher(
        self, student: Module, trainset: Sequence[Example], ctx: OptimizeContext
    ) -> Module:
        if ctx.teacher_program is not None:  # run as it is: it is not primed with demos
            return ctx.teacher_program.deepcopy()
        teacher = student.deepcopy()
        if ctx.teacher_lm is not None:  # it answers as its own model, not a fine-tuned one
            teacher.set_lm(ctx.teacher_lm)
            for predictor in teacher.predictors():
                predictor.model = None
        else:  # the student's own LMs teach (a predictor may have an LM of its own)
            for predictor in teacher.predictors():
                predictor.lm = predictor.lm or ctx.task_lm
        for name, predictor in teacher.named_predictors():
            demos = sample_labeled(name, predictor, trainset, self.opts.max_labeled_demos, ctx.seed)
            predictor.demos = demos
        return teacher

    def bootstrap(
        self, teacher: Module, trainset: Sequence[Example], ctx: OptimizeContext
    ) -> tuple[dict[str, list[Demo]], list[int], list[str]]:
        """Run the teacher in parallel waves until enough examples succeeded."""
        found: dict[str, list[Demo]] = {name: [] for name, _ in teacher.named_predictors()}
        used: list[int] = []
        errors: list[str] = []
        wanted = self.opts.max_bootstrapped_demos
        if wanted == 0:
            return found, used, errors
        ctx.progress.start("bootstrap", len(trainset) * self.opts.max_rounds)
        try:
            for round_ in range(self.opts.max_rounds):
                pending = [i for i in range(len(trainset)) if i not in used]
                for start in range(0, len(pending), ctx.threads):
                    wave = pending[start : start + ctx.threads]
                    for attempt in self._run_wave(teacher, trainset, wave, round_, ctx):
                        if attempt.error:
                            errors.append(f"example {attempt.index}: {attempt.error}")
                        if attempt.accepted and len(used) < wanted:
                            used.append(attempt.index)
                            for name, demos in attempt.demos.items():
                                found.setdefault(name, []).extend(demos)
                    if len(used) >= wanted:
                        return found, used, errors
        finally:
            ctx.progress.finish()
        return found, used, errors

    def _run_wave(
        self,
        teacher: Module,
        trainset: Sequence[Example],
        wave: list[int],
        round_: int,
        ctx: OptimizeContext,
    ) -> list[_Attempt]:
        with ThreadPoolExecutor(max_workers=max(1, ctx.threads)) as pool:
            futures = [
                pool.submit(
                    contextvars.copy_context().run,
                    self._attempt,
                    teacher,
                    trainset[i],
                    i,
                    round_,
                    ctx,
                )
                for i in wave
            ]
            return [f.result() for f in futures]

    def _attempt(
        self, teacher: Module, example: Example, index: int, round_: int, ctx: OptimizeContext
    ) -> _Attempt:
        program = _without_demo(teacher, example)
        names = {id(p): n for n, p in program.named_predictors()}
        # Later rounds sample at temperature 1.0 under a new rollout id, past the cache.
        overrides: dict[str, Any] = {"temperature": 1.0, "rollout": round_} if round_ else {}
        try:
            with context(**overrides), trace() as steps:
                prediction = program(**ctx.evaluator.call_args(example))
            score = ctx.evaluator.score(example, prediction, steps)
        except Exception as exc:  # a failed run teaches nothing; it is counted, not raised
            # ...unless no run could succeed (endpoint down, key refused). A spent budget is
            # not raised: the demos collected so far are this optimizer's result.
            if is_fatal(exc) and not isinstance(exc, BudgetExhausted):
                raise
            return _Attempt(index, {}, False, f"{type(exc).__name__}: {exc}")
        finally:
            ctx.progress.advance()
        threshold = self.opts.metric_threshold
        accepted = score >= threshold if threshold is not None else score > 0
        return _Attempt(index, _demos_from(steps, names) if accepted else {}, accepted)

    def _student_params(
        self,
        student: Module,
        found: Mapping[str, list[Demo]],
        used: list[int],
        trainset: Sequence[Example],
        seed: int,
    ) -> dict[str, PredictorParams]:
        rest = [ex for i, ex in enumerate(trainset) if i not in set(used)]
        params = {}
        for name, predictor in student.named_predictors():
            boot = list(found.get(name, []))[: self.opts.max_bootstrapped_demos]
            fill = max(0, self.opts.max_labeled_demos - len(boot))
            labeled = sample_labeled(name, predictor, rest, fill, seed)
            demos = predictor.normalize_demos(boot + labeled)
            # A model the student's predictor has (a fine-tuned one) stays with it.
            params[name] = PredictorParams(predictor.instructions, demos, model=predictor.model)
        return params


def _without_demo(teacher: Module, example: Example) -> Module:
    """The teacher, minus ``example`` among its demos (a model must not see the answer)."""
    row = example.to_dict()
    if not any(_is_from(d, row) for p in teacher.predictors() for d in p.demos):
        return teacher
    copy = teacher.deepcopy()
    for predictor in copy.predictors():
        predictor.demos = [d for d in predictor.demos if not _is_from(d, row)]
    return copy


def _is_from(demo: Demo, row: Mapping[str, Any]) -> bool:
    return all(row.get(k) == v for k, v in demo.items())


def _demos_from(steps: Sequence[TraceStep], names: Mapping[int, str]) -> dict[str, list[Demo]]:
    """One demo per predictor from one accepted run, as DSPy takes them: a predictor called
    several times gives its last call or, half the time, one of the earlier calls (drawn from
    a hash of the calls, so the choice is the same in every compile)."""
    calls: dict[str, list[Demo]] = {}
    for step in steps:
        name = names.get(id(step.predictor))
        if name is not None:
            calls.setdefault(name, []).append({**step.inputs, **step.outputs})
    demos: dict[str, list[Demo]] = {}
    for name, made in calls.items():
        if len(made) > 1:
            rng = random.Random(zlib.crc32(dumps(made).encode()))
            made = [rng.choice(made[:-1]) if rng.random() < 0.5 else made[-1]]
        demos[name] = made
    return demos
