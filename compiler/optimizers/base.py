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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from castlm import LM, Example, Module, PredictorParams
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
class OptimizeResult:
    params: dict[str, PredictorParams]
    trials: tuple[Trial, ...] = ()
    notes: tuple[str, ...] = ()


class Optimizer:
    """Base class; subclasses set ``name`` and ``settings_model`` and implement :meth:`compile`."""

    name: ClassVar[str]
    settings_model: ClassVar[type[Settings]] = Settings

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_options(cls, options: Mapping[str, Any], origin: str | None = None) -> Optimizer:
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
            return cls(cls.settings_model.model_validate(dict(options)))
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

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        raise NotImplementedError
