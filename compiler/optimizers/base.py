"""The optimizer interface.

An optimizer takes a student program, data, a metric and an :class:`OptimizeContext` (the LMs
for each role, the evaluator, progress, a random seed) and returns an :class:`OptimizeResult`:
the learned parameters of every predictor plus a record of what it tried. It never writes
files and never touches global state; the pipeline emits whatever parameters it returns.

Settings are a pydantic model per optimizer, so a misspelled option is an error with a
did-you-mean, whether it came from a flag or from castlm.toml.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from castlm import LM, Ensemble, Example, Module, PredictorParams
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import CompileError
from ..evaluate import Evaluator
from ..metrics import Metric
from ..progress import NoProgress, Progress


class Settings(BaseModel):
    """Base of every optimizer's settings: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Trial:
    """One candidate an optimizer scored (for the compile report)."""

    label: str
    score: float
    params: Mapping[str, PredictorParams] = field(default_factory=dict)


@dataclass
class OptimizeContext:
    """What an optimizer may use. ``teacher_lm`` and ``prompt_lm`` default to ``task_lm``.

    Optimizers report every candidate they score with :meth:`offer`; the context keeps the
    trials (for the compile report) and the best candidate so far (what is emitted if the
    compile stops early, for instance when an LM-call budget runs out).
    """

    task_lm: LM
    evaluator: Evaluator
    metric: Metric
    teacher_lm: LM | None = None
    prompt_lm: LM | None = None
    seed: int = 0
    threads: int = 8
    progress: Progress = field(default_factory=NoProgress)
    trials: list[Trial] = field(default_factory=list)
    #: Where optimizers may keep state between compiles (the project's ``.castlm/``); None:
    #: nowhere (run from Python without a project).
    work_dir: Path | None = None
    #: A teacher *program* (a bigger or already compiled one, with the student's predictor
    #: names) that bootstrapping runs as it is, instead of the student primed with labeled
    #: demos; it calls its own LMs (the teacher LM, when one is configured).
    teacher_program: Module | None = None

    @property
    def teacher(self) -> LM:
        return self.teacher_lm or self.task_lm

    @property
    def prompter(self) -> LM:
        return self.prompt_lm or self.task_lm

    def offer(self, label: str, params: Mapping[str, PredictorParams], score: float) -> None:
        """Record a scored candidate (score in percent, on the optimizer's validation data)."""
        self.trials.append(Trial(label, score, dict(params)))

    def best(self) -> Trial | None:
        """The best candidate offered so far; the earliest wins a tie."""
        best: Trial | None = None
        for trial in self.trials:
            if best is None or trial.score > best.score:
                best = trial
        return best

    def evaluate(self, program: Module, examples: Sequence[Example], label: str) -> float:
        """Score ``program`` on ``examples`` in percent (errors count as 0)."""
        return self.evaluator(program, examples, label=label).score


@dataclass(frozen=True)
class ReducerRef:
    """A user function reducing an ensemble's outputs, and where the emitted package imports
    it from: ``module`` is its dotted name inside the package (``program`` or a local module)."""

    module: str
    name: str
    function: Callable[[list[Any]], Any]


@dataclass(frozen=True)
class OptimizeResult:
    params: dict[str, PredictorParams]
    trials: tuple[Trial, ...] = ()
    notes: tuple[str, ...] = ()
    #: Counters worth reporting (LM calls per phase, metric calls, trials, ...).
    stats: Mapping[str, float] = field(default_factory=dict)
    #: An ensemble: every member's parameters (``params`` is the first member's) and the
    #: reducer (None: castlm.majority).
    members: tuple[dict[str, PredictorParams], ...] = ()
    reducer: ReducerRef | None = None
    #: Extra files for the output folder, by path relative to it (e.g. training data).
    files: Mapping[str, bytes] = field(default_factory=dict)

    def program(self, student: Module) -> Module:
        """The compiled program in-process: a copy of ``student`` with these parameters, or
        the ensemble of one copy per member."""
        if not self.members:
            program = student.deepcopy()
            program.set_params(self.params)
            return program
        members = []
        for params in self.members:
            member = student.deepcopy()
            member.set_params(params)
            members.append(member)
        return Ensemble(members, reduce=self.reducer.function if self.reducer else None)


SettingsT = TypeVar("SettingsT", bound=Settings)


class Optimizer(Generic[SettingsT]):
    """Base class; subclasses set ``name`` and ``settings_model`` and implement :meth:`compile`.

    ``class Copro(Optimizer[CoproSettings])`` types ``self.opts`` as its own settings.
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[Settings]] = Settings
    #: Whether the optimizer scores candidates (and offers them with ``ctx.offer``). One that
    #: does not (it keeps what the metric accepted, as bootstrap does) has its result emitted
    #: as it stood when a budget stops the compile, instead of the unoptimized program.
    scores_candidates: ClassVar[bool] = True

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings

    @property
    def opts(self) -> SettingsT:
        return self.settings

    @classmethod
    def from_options(cls, options: Mapping[str, Any], origin: str | None = None) -> Optimizer[Any]:
        known = list(cls.settings_model.model_fields)
        for key in options:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = (
                    f"; did you mean {close[0]!r}?"
                    if close
                    else f"; it takes {', '.join(known) or 'none'}"
                )
                raise CompileError(
                    f"optimizer {cls.name!r} has no option {key!r}{hint}", path=origin
                )
        try:
            settings: Any = cls.settings_model.model_validate(dict(options))
            return cls(settings)
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise CompileError(
                f"optimizer {cls.name!r} option "
                f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}",
                path=origin,
            ) from exc

    def describe(self) -> dict[str, Any]:
        """The optimizer and its effective settings, as recorded in the manifest."""
        return {"name": self.name, "settings": self.settings.model_dump(mode="json")}

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """At most how many LM calls :meth:`compile` makes with an empty cache.

        The compile prints it in its plan before any LM call and uses it to size budgets. A
        program run costs about one call per predictor (``n_predictors``). The default, for
        an optimizer that does not override it, guesses one run over the training set and one
        over the validation set (the plan marks it as a guess); override it with the
        optimizer's own arithmetic, as LabeledFewShot (0) and BootstrapFewShot do.
        """
        return (n_train + n_val) * n_predictors

    def estimate_demos(self) -> int:
        """At most how many demos each predictor of the result carries (for prompt sizes).

        The default reads the conventional settings ``k``, ``max_demos``,
        ``max_labeled_demos`` and ``max_bootstrapped_demos`` and returns the largest, else 0.
        """
        names = ("k", "max_demos", "max_labeled_demos", "max_bootstrapped_demos")
        values = [getattr(self.settings, n, None) for n in names]
        return max((v for v in values if isinstance(v, int)), default=0)

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        raise NotImplementedError
