"""The language-model interface every backend implements.

A backend only has to turn one :class:`LMRequest` into one :class:`LMResponse` (``_send`` and,
optionally, ``_asend``). Caching, call accounting and the request/response types live here,
once, so the OpenAI-compatible client, the litellm backend and the test doubles all behave the
same way.
"""

from __future__ import annotations

import abc
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import LMResponseError
from ._instrument import LMCall, observe
from ._unicode import surrogate_in

if TYPE_CHECKING:
    from ._breaker import BreakerPolicy, CircuitBreaker
    from ._gate import Gate
    from ._ratelimit import RateLimit, RateLimiter

Message = Mapping[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one or more LM calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True, slots=True)
class LMRequest:
    """Everything that determines an LM's answer; its hash is the cache key.

    ``rollout`` is never sent to the endpoint: it only separates requests that are otherwise
    identical (a second bootstrapping round at a higher temperature must not hit the cache).
    """

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: Mapping[str, Any] | None = None
    stop: tuple[str, ...] | None = None
    rollout: int | None = None
    #: Function tools in the OpenAI format (``{"type": "function", "function": {...}}``) for
    #: native function calling; None (the default) leaves the body, and the cache key, as is.
    tools: tuple[Mapping[str, Any], ...] | None = None

    def payload(self) -> dict[str, Any]:
        """The OpenAI-compatible request body (without ``stream``)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.response_format is not None:
            body["response_format"] = dict(self.response_format)
        if self.stop:
            body["stop"] = list(self.stop)
        if self.tools:
            body["tools"] = [dict(t) for t in self.tools]
        return body

    def cache_key(self, namespace: str = "") -> str:
        """A stable hash of the whole request, scoped by ``namespace`` (the endpoint)."""
        material = {"ns": namespace, "rollout": self.rollout, **self.payload()}
        # ASCII escapes keep lone surrogates (valid in a Python str) hashable.
        blob = json.dumps(material, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call a model asked for (an OpenAI ``tool_calls`` entry).

    ``arguments`` is the JSON text the model wrote, unparsed: it may be malformed.
    """

    name: str
    arguments: str
    id: str = ""


@dataclass(frozen=True, slots=True)
class LMResponse:
    """One completion; ``tool_calls`` is non-empty when a request with ``tools`` got calls."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    cached: bool = False
    tool_calls: tuple[ToolCall, ...] = ()


class ResponseCache(Protocol):
    """What an LM needs from a cache (see ``castlm.LMCache``)."""

    def get(self, key: str) -> LMResponse | None: ...

    def put(self, key: str, response: LMResponse) -> None: ...


@dataclass(slots=True)
class LMStats:
    """Calls made through one LM object: real calls, cache hits and tokens spent."""

    calls: int = 0
    cache_hits: int = 0
    usage: Usage = field(default_factory=Usage)

    def snapshot(self) -> LMStats:
        return LMStats(self.calls, self.cache_hits, self.usage)

    def since(self, earlier: LMStats) -> LMStats:
        return LMStats(
            self.calls - earlier.calls,
            self.cache_hits - earlier.cache_hits,
            Usage(
                self.usage.prompt_tokens - earlier.usage.prompt_tokens,
                self.usage.completion_tokens - earlier.usage.completion_tokens,
            ),
        )


class LM(abc.ABC):
    """Base class of every language-model backend.

    Subclasses implement :meth:`_send` (and :meth:`_asend` when they have a native async
    path). Callers use :meth:`complete` / :meth:`acomplete`, which consult the cache first and
    keep :attr:`stats`.
    """

    #: Whether the endpoint accepts ``response_format`` (structured output). Backends that
    #: learn otherwise at run time switch it off.
    supports_response_format: bool = True
    #: Whether the backend sends ``LMRequest.tools`` and reads ``tool_calls`` back (native
    #: function calling). ReAct uses its text protocol where this is False.
    supports_tools: bool = False
    #: A circuit breaker for this LM's endpoint (see castlm.BreakerPolicy); None: no breaker.
    breaker: BreakerPolicy | CircuitBreaker | None = None
    #: A client-side quota for this endpoint and model (see castlm.RateLimit); None: none.
    rate_limit: RateLimit | RateLimiter | None = None
    #: Called as ``send_guard(lm, request)`` before each request that goes to the backend
    #: (never for a cache hit); it may raise to refuse the request, as the compiler's LM-call
    #: and cost budgets do. None: every request goes.
    send_guard: Callable[[LM, LMRequest], None] | None = None

    def __init__(
        self,
        model: str,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache = cache
        self.stats = LMStats()
        self._stats_lock = threading.Lock()

    # -- what backends implement -------------------------------------------------------
    @abc.abstractmethod
    def _send(self, request: LMRequest) -> LMResponse:
        """Perform one request against the backend, uncached."""

    async def _asend(self, request: LMRequest) -> LMResponse:
        # Imported here, not at the top: asyncio costs 20+ ms and 3 MiB at import (it loads ssl),
        # and a program that never awaits should not pay for it (benchmarks/README.md).
        import asyncio

        return await asyncio.to_thread(self._send, request)

    def _send_stream(self, request: LMRequest) -> Iterator[str | LMResponse]:
        """Text deltas as they arrive, then the complete response. Without native streaming,
        the response alone (one final chunk)."""
        yield self._send(request)

    async def _asend_stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        yield await self._asend(request)

    @property
    def cache_namespace(self) -> str:
        """Separates cache entries of different endpoints serving the same model name."""
        return type(self).__name__

    # -- what callers use ----------------------------------------------------------------
    def request(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        stop: Sequence[str] | None = None,
        rollout: int | None = None,
    ) -> LMRequest:
        """Build a request with this LM's defaults filled in."""
        return LMRequest(
            model=self.model,
            messages=tuple(messages),
            temperature=self.temperature if temperature is None else temperature,
            max_tokens=self.max_tokens if max_tokens is None else max_tokens,
            response_format=response_format if self.supports_response_format else None,
            stop=tuple(stop) if stop else None,
            rollout=rollout,
        )

    def complete(self, request: LMRequest, *, use_cache: bool = True) -> LMResponse:
        call = observe(self, request)
        try:
            response = self._complete(request, use_cache)
        except BaseException as exc:
            if call is not None:
                call.fail(exc)
            raise
        if call is not None:
            call.finish(response)
        return response

    async def acomplete(self, request: LMRequest, *, use_cache: bool = True) -> LMResponse:
        call = observe(self, request)
        try:
            response = await self._acomplete(request, use_cache)
        except BaseException as exc:
            if call is not None:
                call.fail(exc)
            raise
        if call is not None:
            call.finish(response)
        return response

    def stream(self, request: LMRequest, *, use_cache: bool = True) -> Iterator[str | LMResponse]:
        """Text deltas as they arrive, then the complete :class:`LMResponse` (always last).

        A cache hit, or a backend that cannot stream, yields the response alone.
        """
        # Observers are captured now, in the caller's context, not when iteration starts.
        call = observe(self, request, streaming=True)
        return self._stream(request, use_cache, call)

    def astream(
        self, request: LMRequest, *, use_cache: bool = True
    ) -> AsyncIterator[str | LMResponse]:
        """The asynchronous :meth:`stream`."""
        call = observe(self, request, streaming=True)
        return self._astream(request, use_cache, call)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    # -- internals -----------------------------------------------------------------------
    def _complete(self, request: LMRequest, use_cache: bool) -> LMResponse:
        key = self._lookup_key(request, use_cache)
        if key is not None and (hit := self._cache_get(key)) is not None:
            return hit
        gate = self._admit(request)
        if gate is None:
            response = self._send(request)
        else:
            gate.enter()
            try:
                response = self._send(request)
            except BaseException as exc:
                gate.exit(None, exc)
                raise
            gate.exit(response, None)
        self._record(response, key)
        return response

    async def _acomplete(self, request: LMRequest, use_cache: bool) -> LMResponse:
        key = self._lookup_key(request, use_cache)
        if key is not None and (hit := self._cache_get(key)) is not None:
            return hit
        gate = self._admit(request)
        if gate is None:
            response = await self._asend(request)
        else:
            await gate.aenter()
            try:
                response = await self._asend(request)
            except BaseException as exc:
                gate.exit(None, exc)
                raise
            gate.exit(response, None)
        self._record(response, key)
        return response

    def _stream(
        self, request: LMRequest, use_cache: bool, call: LMCall | None
    ) -> Iterator[str | LMResponse]:
        try:
            key = self._lookup_key(request, use_cache)
            response = self._cache_get(key) if key is not None else None
            if response is None:
                response = yield from self._stream_uncached(request)
                self._record(response, key)
        except BaseException as exc:
            if call is not None:
                call.fail(exc)
            raise
        if call is not None:
            call.finish(response)
        yield response

    def _stream_uncached(self, request: LMRequest) -> Generator[str, None, LMResponse]:
        gate = self._admit(request)
        if gate is not None:
            gate.enter()
        response: LMResponse | None = None
        try:
            for piece in self._send_stream(request):
                if isinstance(piece, LMResponse):
                    response = piece
                else:
                    yield piece
            response = self._streamed(response)
        except BaseException as exc:
            if gate is not None:
                gate.exit(None, exc)
            raise
        if gate is not None:
            gate.exit(response, None)
        return response

    async def _astream(
        self, request: LMRequest, use_cache: bool, call: LMCall | None
    ) -> AsyncIterator[str | LMResponse]:
        response: LMResponse | None = None
        try:
            key = self._lookup_key(request, use_cache)
            response = self._cache_get(key) if key is not None else None
            if response is None:
                gate = self._admit(request)
                if gate is not None:
                    await gate.aenter()
                try:
                    async for piece in self._asend_stream(request):
                        if isinstance(piece, LMResponse):
                            response = piece
                        else:
                            yield piece
                    response = self._streamed(response)
                except BaseException as exc:
                    if gate is not None:
                        gate.exit(None, exc)
                    raise
                if gate is not None:
                    gate.exit(response, None)
                self._record(response, key)
        except BaseException as exc:
            if call is not None:
                call.fail(exc)
            raise
        if call is not None:
            call.finish(response)
        yield response

    def _streamed(self, response: LMResponse | None) -> LMResponse:
        if response is None:  # a backend bug, not an endpoint failure
            raise LMResponseError(f"{self!r}: the stream ended without a final response")
        return response

    def _admit(self, request: LMRequest) -> Gate | None:
        """Let the send guard refuse a request bound for the backend, then gate it."""
        if self.send_guard is not None:
            self.send_guard(self, request)
        if self.breaker is None and self.rate_limit is None:
            return None
        from ._gate import gate_for  # loaded only by LMs that declare a breaker or a limit

        return gate_for(self, request)

    def _lookup_key(self, request: LMRequest, use_cache: bool) -> str | None:
        if self.cache is None or not use_cache:
            return None
        return request.cache_key(self.cache_namespace)

    def _cache_get(self, key: str) -> LMResponse | None:
        assert self.cache is not None
        hit = self.cache.get(key)
        if hit is None:
            return None
        with self._stats_lock:
            self.stats.cache_hits += 1
        return replace(hit, cached=True)

    def _record(self, response: LMResponse, key: str | None) -> None:
        with self._stats_lock:
            self.stats.calls += 1
            self.stats.usage = self.stats.usage + response.usage
        found = surrogate_in([response.text, *(c.arguments for c in response.tool_calls)])
        if found:  # not cached: it would fail every later use the same way
            raise LMResponseError(
                f"{self!r}: the reply holds {found}, which is not valid Unicode text; the "
                f"endpoint sent a broken \\u escape"
            )
        if key is not None and self.cache is not None:
            self.cache.put(key, response)
