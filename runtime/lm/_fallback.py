"""FallbackLM: several LMs behind one, each tried when the ones before it fail.

Every LM of the chain keeps its own cache, retries, circuit breaker, rate limit, spans and
usage records: the chain only decides who answers. The next LM is tried when one raises an
:class:`castlm.LMError` (after its own retries ran out, or at once when its breaker is open).
A stream falls back only until its first text has been delivered.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..base._errors import ConfigurationError, FallbackError, LMError
from ..base._structured import Dialect
from ._lm import LM, LMRequest, LMResponse, Message

_QUOTE_CHARS = 300


class FallbackLM(LM):
    """``FallbackLM([primary, secondary, ...])``: the first LM that answers wins.

    Requests are built with each LM's own defaults (temperature, max tokens, structured
    output support). When all fail, :class:`castlm.FallbackError` lists every error in
    ``errors``, in order.
    """

    def __init__(self, lms: Sequence[LM]) -> None:
        if not lms:
            raise ConfigurationError("FallbackLM needs at least one LM")
        super().__init__(lms[0].model)
        self.lms: tuple[LM, ...] = tuple(lms)
        # Native tool calls only when every LM of the chain can answer them.
        self.supports_tools: bool = all(lm.supports_tools for lm in lms)
        # The first LM decides the prompt format (JSON when it constrains its output).
        self.structured_output: Dialect = lms[0].structured_output

    @property
    def cache_namespace(self) -> str:
        return "fallback:" + "|".join(lm.cache_namespace for lm in self.lms)

    def __repr__(self) -> str:
        return f"FallbackLM({list(self.lms)!r})"

    # -- building requests -----------------------------------------------------------------
    def request(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        stop: Sequence[str] | None = None,
        rollout: int | None = None,
        default_max_tokens: int | None = None,
    ) -> LMRequest:
        # Only what the caller set; each LM fills in its own defaults in _for. The signature's
        # cap applies only where no member bounds replies itself.
        if max_tokens is None and all(lm.max_tokens is None for lm in self.lms):
            max_tokens = default_max_tokens
        return LMRequest(
            model=self.model,
            messages=tuple(messages),
            temperature=temperature,
            max_tokens=max_tokens,
            response_format=response_format,
            stop=tuple(stop) if stop else None,
            rollout=rollout,
        )

    def _for(self, lm: LM, request: LMRequest) -> LMRequest:
        return lm.fill(replace(request, model=lm.model))

    # -- calling ---------------------------------------------------------------------------
    def _send(self, request: LMRequest) -> LMResponse:
        return self.complete(request, use_cache=False)

    def complete(self, request: LMRequest, *, use_cache: bool = True) -> LMResponse:
        errors: list[LMError] = []
        for lm in self.lms:
            try:
                response = lm.complete(self._for(lm, request), use_cache=use_cache)
            except LMError as exc:
                errors.append(exc)
                continue
            return self._answered(response)
        raise self._exhausted(errors)

    async def acomplete(self, request: LMRequest, *, use_cache: bool = True) -> LMResponse:
        errors: list[LMError] = []
        for lm in self.lms:
            try:
                response = await lm.acomplete(self._for(lm, request), use_cache=use_cache)
            except LMError as exc:
                errors.append(exc)
                continue
            return self._answered(response)
        raise self._exhausted(errors)

    def stream(self, request: LMRequest, *, use_cache: bool = True) -> Iterator[str | LMResponse]:
        # The context of this call (usage reports, the calling predictor, the current span)
        # is where every LM of the chain must report, even those started later.
        return self._chain_stream(request, use_cache, contextvars.copy_context())

    def astream(
        self, request: LMRequest, *, use_cache: bool = True
    ) -> AsyncIterator[str | LMResponse]:
        return self._chain_astream(request, use_cache, contextvars.copy_context())

    def _chain_stream(
        self, request: LMRequest, use_cache: bool, ctx: contextvars.Context
    ) -> Iterator[str | LMResponse]:
        errors: list[LMError] = []
        for lm in self.lms:
            delivered = False
            try:
                for piece in ctx.run(lm.stream, self._for(lm, request), use_cache=use_cache):
                    delivered = delivered or isinstance(piece, str)
                    yield self._answered(piece) if isinstance(piece, LMResponse) else piece
                return
            except LMError as exc:
                if delivered:
                    raise
                errors.append(exc)
        raise self._exhausted(errors)

    async def _chain_astream(
        self, request: LMRequest, use_cache: bool, ctx: contextvars.Context
    ) -> AsyncIterator[str | LMResponse]:
        errors: list[LMError] = []
        for lm in self.lms:
            delivered = False
            try:
                async for piece in ctx.run(lm.astream, self._for(lm, request), use_cache=use_cache):
                    delivered = delivered or isinstance(piece, str)
                    yield self._answered(piece) if isinstance(piece, LMResponse) else piece
                return
            except LMError as exc:
                if delivered:
                    raise
                errors.append(exc)
        raise self._exhausted(errors)

    # -- bookkeeping -----------------------------------------------------------------------
    def _answered(self, response: LMResponse) -> LMResponse:
        with self._stats_lock:
            if response.cached:
                self.stats.cache_hits += 1
            else:
                self.stats.calls += 1
                self.stats.usage = self.stats.usage + response.usage
        return response

    def _exhausted(self, errors: list[LMError]) -> FallbackError:
        lines = "; ".join(
            f"{i}) {lm.model}: {type(e).__name__}: {str(e)[:_QUOTE_CHARS]}"
            for i, (lm, e) in enumerate(zip(self.lms, errors, strict=True), 1)
        )
        error = FallbackError(
            f"all {len(errors)} LMs of the fallback chain failed: {lines}", errors=tuple(errors)
        )
        error.__cause__ = errors[-1]
        return error
