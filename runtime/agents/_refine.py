"""Refine: BestOfN that tells each new attempt what was wrong with the last one.

After an attempt scores below the threshold, Refine turns the reward function's feedback (the
text of a ``(score, feedback)`` answer) or, when there is none, the advice of its own
``feedback`` predictor (an LM call that sees the inputs, the outputs and the score) into a hint.
The next attempt's predictors see that hint at the end of their prompt: Refine wraps their LMs
for the attempt, through ``castlm.context(override_lm=...)``, so the wrapped module needs no
change. The hint is not part of the recorded trace, so it never ends up in a demo.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ..core._context import context
from ..core._module import Module
from ..core._predict import ChainOfThought, Predict
from ..core._signature import InputField, OutputField, Signature
from ..lm._lm import LM, LMRequest, LMResponse
from ..modules._best_of_n import Attempt, BestOfN, RewardFn
from ._react import current_lm

T = TypeVar("T")

HINT_OPENING = "Advice from an earlier attempt that fell short:"


class RefineFeedback(Signature):
    """A program ran on the inputs below and produced the outputs below, which a reward
    function scored below the threshold. Write short, concrete advice for the program's next
    attempt on the same inputs, so that its outputs reach the threshold."""

    program_inputs: str = InputField(desc="the program's inputs, as JSON")
    program_outputs: str = InputField(desc="what the program produced, as JSON")
    score: float = InputField(desc="the reward of these outputs")
    threshold: float = InputField(desc="the reward an answer must reach")
    advice: str = OutputField(desc="what to do differently next time, in a few sentences")


class Refine(BestOfN[T]):
    """Like :class:`castlm.BestOfN`, and each retry gets advice on the previous attempt.

    Parameters are BestOfN's. Predictors: the wrapped module's, and ``feedback`` (used only
    when ``reward_fn`` returns a bare score).
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
        super().__init__(
            module, N, reward_fn, threshold, fail_count=fail_count, temperature=temperature
        )
        self.feedback = ChainOfThought(RefineFeedback)

    def _hint(self, inputs: Mapping[str, Any], attempt: Attempt[T]) -> str | None:
        if attempt.feedback:
            return attempt.feedback
        return str(self.feedback(**self._feedback_inputs(inputs, attempt)).advice)

    async def _ahint(self, inputs: Mapping[str, Any], attempt: Attempt[T]) -> str | None:
        if attempt.feedback:
            return attempt.feedback
        advice = await self.feedback.acall(**self._feedback_inputs(inputs, attempt))
        return str(advice.advice)

    def _feedback_inputs(self, inputs: Mapping[str, Any], attempt: Attempt[T]) -> dict[str, Any]:
        return {
            "program_inputs": _json(dict(inputs)),
            "program_outputs": _json(attempt.prediction),
            "score": attempt.score,
            "threshold": self.threshold,
        }

    @contextlib.contextmanager
    def _attempt(self, number: int, hint: str | None) -> Generator[None, None, None]:
        with super()._attempt(number, hint):
            if not hint:
                yield
                return
            hinted: dict[Any, LM] = {}
            for predictor in _predictors_of(self.module):
                lm = current_lm(predictor)
                if lm is not None:
                    hinted[predictor] = HintedLM(lm, hint)
            with context(override_lm=hinted):
                yield


def _predictors_of(module: Any) -> list[Predict[Any]]:
    if isinstance(module, Predict):
        return [module]
    if isinstance(module, Module):
        return module.predictors()
    return []


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    else:
        data = to_jsonable_python(value, fallback=str)
    return json.dumps(data, ensure_ascii=False)


class HintedLM(LM):
    """Another LM whose requests get ``hint`` appended to their last user message."""

    def __init__(self, inner: LM, hint: str) -> None:
        super().__init__(inner.model, temperature=inner.temperature, max_tokens=inner.max_tokens)
        self.inner = inner
        self.hint = hint
        self.structured_output = inner.structured_output
        self.supports_tools = inner.supports_tools

    def with_hint(self, request: LMRequest) -> LMRequest:
        messages = list(request.messages)
        note = f"{HINT_OPENING} {self.hint}"
        if messages and messages[-1].get("role") == "user":
            last = messages[-1]
            content = last.get("content", "")
            if isinstance(content, str):
                messages[-1] = {**last, "content": f"{content}\n\n{note}"}
            else:  # content parts (images): the hint is one more text part
                messages[-1] = {**last, "content": [*content, {"type": "text", "text": note}]}
        else:
            messages.append({"role": "user", "content": note})
        return replace(request, messages=tuple(messages))

    # Everything goes to the inner LM (its cache, limits, statistics and observers).
    def request(self, *args: Any, **kwargs: Any) -> LMRequest:
        return self.inner.request(*args, **kwargs)

    def complete(self, request: LMRequest, *, use_cache: bool = True) -> LMResponse:
        return self.inner.complete(self.with_hint(request), use_cache=use_cache)

    async def acomplete(self, request: LMRequest, *, use_cache: bool = True) -> LMResponse:
        return await self.inner.acomplete(self.with_hint(request), use_cache=use_cache)

    def stream(self, request: LMRequest, *, use_cache: bool = True) -> Iterator[str | LMResponse]:
        return self.inner.stream(self.with_hint(request), use_cache=use_cache)

    def astream(
        self, request: LMRequest, *, use_cache: bool = True
    ) -> AsyncIterator[str | LMResponse]:
        return self.inner.astream(self.with_hint(request), use_cache=use_cache)

    def _send(self, request: LMRequest) -> LMResponse:
        return self.inner.complete(self.with_hint(request))

    def __repr__(self) -> str:
        return f"HintedLM({self.inner!r})"
