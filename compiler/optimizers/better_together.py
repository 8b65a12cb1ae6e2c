"""BetterTogether: prompt optimization and fine-tuning, alternated ("p -> w -> p").

As in the paper (Soylu, Potts and Khattab, arXiv 2407.10930) and DSPy's optimizer of that
name, a strategy such as ``p -> w -> p`` runs the steps in order, each on the program the
previous step produced: ``p`` a prompt optimizer (``random_search`` by default, or
``bootstrap``), ``w`` the ``finetune`` optimizer. The program before the first step and after
every step is scored on the validation data, and the best one is kept (the earliest on a
tie). The training set is shuffled before each step with the compile's seed.

What castlm adds: a ``p`` step after a ``w`` step keeps the fine-tuned model (its candidates
and its teacher run on it, and the result names it); a ``w`` step's teacher is the program
as the previous step left it (its instructions and demos, not re-primed with labeled demos,
as DSPy's BootstrapFinetune uses the student itself), unless a teacher is configured; a
later ``w`` step fine-tunes the model the earlier one trained. Every step's LM calls go
through the cache and fine-tuning jobs are remembered by their data (see finetune.py), so
an interrupted compile resumes without paying twice.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Literal

from castlm import Example, Module, PredictorParams
from pydantic import Field, ValidationInfo, field_validator

from ..errors import CompileError
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings, Trial
from .bootstrap import BootstrapFewShot
from .finetune import DATA_DIR, BootstrapFinetune
from .random_search import RandomSearch

STEP_SEPARATOR = "->"
PROMPT_OPTIMIZERS: dict[str, type[Optimizer[Any]]] = {
    "random_search": RandomSearch,
    "bootstrap": BootstrapFewShot,
}


class BetterTogetherSettings(Settings):
    strategy: str = Field(
        default="p -> w -> p",
        description="steps separated by '->': p (prompt optimization) or w (fine-tuning)",
    )
    prompt_optimizer: Literal["random_search", "bootstrap"] = "random_search"
    prompt_options: dict[str, Any] = Field(default_factory=dict)
    weight_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the finetune optimizer"
    )
    shuffle_trainset_between_steps: bool = True

    @field_validator("strategy")
    @classmethod
    def _known_steps(cls, strategy: str) -> str:
        parse_strategy(strategy)
        return strategy

    @field_validator("prompt_options")
    @classmethod
    def _prompt_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        chosen = PROMPT_OPTIMIZERS.get(info.data.get("prompt_optimizer", ""), RandomSearch)
        return _checked(chosen, options)

    @field_validator("weight_options")
    @classmethod
    def _weight_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        if options.get("job_id") is not None:
            raise ValueError(
                "job_id is not taken here: an interrupted compile waits for the fine-tuning "
                "jobs it had started by itself when it runs again"
            )
        return _checked(BootstrapFinetune, options)


def _checked(optimizer: type[Optimizer[Any]], options: dict[str, Any]) -> dict[str, Any]:
    try:
        optimizer.from_options(options)
    except CompileError as exc:
        raise ValueError(exc.message) from None
    return options


def parse_strategy(strategy: str) -> list[str]:
    """``"p -> w -> p"`` -> ``["p", "w", "p"]``; a ValueError says what is wrong."""
    steps = [step.strip().lower() for step in strategy.split(STEP_SEPARATOR)]
    wrong = [step for step in steps if step not in ("p", "w")]
    if wrong:
        raise ValueError(
            f"a strategy is steps p (prompt optimization) and w (fine-tuning) separated by "
            f"'->', e.g. 'p -> w -> p'; got {strategy!r}"
        )
    return steps


@dataclass(frozen=True)
class _Step:
    """One scored program: the strategy that made it, its parameters, its score."""

    strategy: str
    params: dict[str, PredictorParams]
    score: float


class BetterTogether(Optimizer[BetterTogetherSettings]):
    name = "better_together"
    settings_model: ClassVar[type[Settings]] = BetterTogetherSettings

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        steps = parse_strategy(self.opts.strategy)
        rng = random.Random(f"better_together:{ctx.seed}")
        train = list(trainset)
        program = student.deepcopy()
        scored = [self._score(program, "", valset, ctx)]
        notes: list[str] = []
        files: dict[str, bytes] = {}
        for number, code in enumerate(steps, start=1):
            if self.opts.shuffle_trainset_between_steps:
                rng.shuffle(train)
            strategy = f" {STEP_SEPARATOR} ".join(steps[:number])
            result = self._run(code, number, program, train, valset, ctx)
            params = _with_models(program, result.params) if code == "p" else result.params
            program = student.deepcopy()
            program.set_params(params)
            scored.append(self._score(program, strategy, valset, ctx))
            notes += [f"step {number} ({code}): {note}" for note in result.notes]
            files.update(_step_files(result.files, number))
        best = max(scored, key=lambda s: s.score)  # max() keeps the earliest of equal scores
        summary = ", ".join(f"{s.strategy or 'start'} {s.score:.1f}" for s in scored)
        notes.insert(0, f"validation scores: {summary}; kept: {best.strategy or 'the start'}")
        trials = tuple(Trial(_label(s.strategy), s.score, s.params) for s in scored)
        return OptimizeResult(dict(best.params), trials, tuple(notes), files=files)

    def _score(
        self, program: Module, strategy: str, valset: Sequence[Example], ctx: OptimizeContext
    ) -> _Step:
        label = _label(strategy)
        score = ctx.evaluate(program, valset, f"better_together: {label}")
        params = program.get_params()
        ctx.offer(label, params, score)
        return _Step(strategy, params, score)

    def _run(
        self,
        code: str,
        number: int,
        program: Module,
        train: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        """One step; the candidates it scores are offered under the step's name."""
        own = _StepContext(**{f.name: getattr(ctx, f.name) for f in fields(ctx)})
        own.prefix = f"step {number} ({code})"
        if code == "w" and ctx.teacher_program is None:  # the program as it stands teaches
            own.teacher_program = _as_teacher(program, ctx)
        optimizer = self._prompt() if code == "p" else self._weight(program)
        return optimizer.compile(program.deepcopy(), trainset=train, valset=valset, ctx=own)

    def _prompt(self) -> Optimizer[Any]:
        return PROMPT_OPTIMIZERS[self.opts.prompt_optimizer].from_options(self.opts.prompt_options)

    def _weight(self, program: Module | None = None) -> Optimizer[Any]:
        """finetune; a later ``w`` step trains on from the model an earlier one trained."""
        options = dict(self.opts.weight_options)
        models = {p.model for p in program.predictors()} if program is not None else set()
        if "base_model" not in options and len(models) == 1 and None not in models:
            options["base_model"] = models.pop()
        return BootstrapFinetune.from_options(options)

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """Each step's optimizer at most, plus one validation run per program scored (the
        start and every step)."""
        steps = parse_strategy(self.opts.strategy)
        prompt, weight = self._prompt(), self._weight()
        calls = (len(steps) + 1) * n_val * n_predictors
        for code in steps:
            chosen = prompt if code == "p" else weight
            calls += chosen.estimate_calls(n_predictors, n_train, n_val)
        return calls

    def estimate_demos(self) -> int:
        return self._prompt().estimate_demos() if "p" in parse_strategy(self.opts.strategy) else 0


@dataclass
class _StepContext(OptimizeContext):
    """The compile's context (the same trials list: a budget stop sees every candidate
    offered before it), with the step's name before each candidate's label."""

    prefix: str = ""

    def offer(self, label: str, params: Mapping[str, PredictorParams], score: float) -> None:
        super().offer(f"{self.prefix}: {label}", params, score)


def _label(strategy: str) -> str:
    return strategy or "start (no optimization)"


def _with_models(
    program: Module, params: Mapping[str, PredictorParams]
) -> dict[str, PredictorParams]:
    """A prompt step's parameters, keeping the models an earlier step fine-tuned."""
    before = program.get_params()
    return {
        name: p
        if p.model is not None or name not in before
        else replace(p, model=before[name].model)
        for name, p in params.items()
    }


def _as_teacher(program: Module, ctx: OptimizeContext) -> Module:
    """The program as a teacher, as it is; on the teacher LM when one is set (which then
    answers as its own model, not as the fine-tuned one)."""
    teacher = program.deepcopy()
    for predictor in teacher.predictors():
        if ctx.teacher_lm is not None:
            predictor.lm, predictor.model = ctx.teacher_lm, None
        else:
            predictor.lm = predictor.lm or ctx.task_lm
    return teacher


def _step_files(files: Mapping[str, bytes], number: int) -> dict[str, bytes]:
    """A step's extra files (the training data), under a folder of that step's own."""
    prefix = f"{DATA_DIR}/"
    return {
        f"{prefix}step{number}/{path.removeprefix(prefix)}"
        if path.startswith(prefix)
        else path: data
        for path, data in files.items()
    }
