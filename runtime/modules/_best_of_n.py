"""BestOfN: run a module up to N times and keep the best answer by a reward function.

The first attempt runs the module as it is; later attempts sample (``temperature``, default
1.0) with their own rollout ids, so each gets a fresh answer instead of a cache hit. Attempts
stop as soon as one reaches ``threshold``. Only the kept attempt's predictor calls go into an
enclosing ``castlm.trace()``, so bootstrapping learns from the answer that was used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..base._errors import ConfigurationError
from ..core._context import TraceStep, context, current, trace
from ..core._module import Module

T = TypeVar("T")

Reward = float | bool | tuple[float, str]
"""What a reward function returns: a score, or a score and feedback for the next attempt."""

RewardFn = Callable[[dict[str, Any], Any], Reward]


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """One run of the wrapped module: its prediction, score, feedback and trace."""

    prediction: T
    score: float
    feedback: str
    steps: list[TraceStep]


def scored(reward: Reward) -> tuple[float, str]:
    """A reward function's answer as (score, feedback)."""
    if isinstance(reward, tuple):
        score, feedback = reward
        return float(score), str(feedback)
    return float(reward), ""


class BestOfN(Module, Generic[T]):
    """Runs ``module`` up to ``N`` times; returns the prediction with the highest reward.

    ``reward_fn(inputs, prediction)`` returns a float (or bool), or ``(score, feedback)``.
    Attempts stop at the first score >= ``threshold``. Up to ``fail_count`` attempts (default
    ``N``) may raise; one more failure re-raises it, and so does a run where every attempt
    failed. A failing ``reward_fn`` counts as a failed attempt.
    """

    def __init__(
        self,
        module: Callable[..., T],
        N: int,
        reward_fn: RewardFn,
        threshold: float,
        *,
        fail_count: int | None = None,
        temperature: float = 1.0,
    ) -> None:
        if N < 1:
            raise ConfigurationError(f"{type(self).__name__}: N must be at least 1")
        self.module = module
        self.N = N
        self.reward_fn = reward_fn
        self.threshold = threshold
        self.fail_count = N if fail_count is None else fail_count
        self.temperature = temperature

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        result: T = super().__call__(*args, **kwargs)
        return result

    async def acall(self, *args: Any, **kwargs: Any) -> T:
        result: T = await super().acall(*args, **kwargs)
        return result

    def forward(self, **inputs: Any) -> T:
        best: Attempt[T] | None = None
        failures: list[Exception] = []
        hint: str | None = None
        for number in range(self.N):
            with self._attempt(number, hint), trace() as steps:
                try:
                    prediction = self.module(**inputs)
                    score, feedback = scored(self.reward_fn(dict(inputs), prediction))
                except Exception as exc:
                    self._failed(exc, failures)
                    continue
            attempt = Attempt(prediction, score, feedback, steps)
            best = attempt if best is None or score > best.score else best
            if score >= self.threshold or number == self.N - 1:
                break
            hint = self._hint(inputs, attempt)
        return self._kept(best, failures)

    async def aforward(self, **inputs: Any) -> T:
        best: Attempt[T] | None = None
        failures: list[Exception] = []
        hint: str | None = None
        for number in range(self.N):
            with self._attempt(number, hint), trace() as steps:
                try:
                    prediction = await self._acall_module(inputs)
                    score, feedback = scored(self.reward_fn(dict(inputs), prediction))
                except Exception as exc:
                    self._failed(exc, failures)
                    continue
            attempt = Attempt(prediction, score, feedback, steps)
            best = attempt if best is None or score > best.score else best
            if score >= self.threshold or number == self.N - 1:
                break
            hint = await self._ahint(inputs, attempt)
        return self._kept(best, failures)

    async def _acall_module(self, inputs: Mapping[str, Any]) -> T:
        acall: Callable[..., Awaitable[T]] | None = getattr(self.module, "acall", None)
        if acall is not None:
            return await acall(**inputs)
        return await asyncio.to_thread(self.module, **inputs)

    # -- hooks (Refine) --------------------------------------------------------------------
    def _hint(self, inputs: Mapping[str, Any], attempt: Attempt[T]) -> str | None:
        """Advice for the next attempt; BestOfN gives none."""
        return None

    async def _ahint(self, inputs: Mapping[str, Any], attempt: Attempt[T]) -> str | None:
        return None

    @contextlib.contextmanager
    def _attempt(self, number: int, hint: str | None) -> Generator[None, None, None]:
        """Attempt 0 runs as configured; later ones sample with their own rollout id."""
        if number == 0:
            yield
            return
        base = current().rollout
        rollout = number if base is None else base * 1000 + number
        with context(temperature=self.temperature, rollout=rollout):
            yield

    # -- bookkeeping -----------------------------------------------------------------------
    def _failed(self, exc: Exception, failures: list[Exception]) -> None:
        failures.append(exc)
        if len(failures) > self.fail_count:
            raise exc

    def _kept(self, best: Attempt[T] | None, failures: list[Exception]) -> T:
        if best is None:
            raise failures[-1]
        outer = current().trace
        if outer is not None:  # only the kept attempt teaches (see the module docstring)
            outer.extend(best.steps)
        return best.prediction
