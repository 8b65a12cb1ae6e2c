"""The language-model interface every backend implements.

A backend only has to turn one :class:`LMRequest` into one :class:`LMResponse` (``_send`` and,
optionally, ``_asend``). Caching, call accounting and the request/response types live here,
once, so the OpenAI-compatible client, the litellm backend and the test doubles all behave the
same way.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

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
        return body

    def cache_key(self, namespace: str = "") -> str:
        """A stable hash of the whole request, scoped by ``namespace`` (the endpoint)."""
        material = {"ns": namespace, "rollout": self.rollout, **self.payload()}
        blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class LMResponse:
    """One completion."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    cached: bool = False


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
        return await asyncio.to_thread(self._send, request)

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
        key = self._lookup_key(request, use_cache)
        if key is not None and (hit := self._cache_get(key)) is not None:
            return hit
        response = self._send(request)
        self._record(response, key)
        return response

    async def acomplete(self, request: LMRequest, *, use_cache: bool = True) -> LMResponse:
        key = self._lookup_key(request, use_cache)
        if key is not None and (hit := self._cache_get(key)) is not None:
            return hit
        response = await self._asend(request)
        self._record(response, key)
        return response

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    # -- internals -----------------------------------------------------------------------
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
        if key is not None and self.cache is not None:
            self.cache.put(key, response)
