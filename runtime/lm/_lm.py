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
import re
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, cast

from ..base._errors import LMResponseError, LMStatusError
from ..base._narrow import is_list_or_tuple, is_mapping, is_object
from ..base._structured import (
    AUTO_ORDER,
    LEARNED,
    Dialect,
    DialectRejected,
    body_fields,
    next_dialect,
)
from ..base._unicode import surrogate_in
from ..observe._instrument import LMCall, observe

if TYPE_CHECKING:
    from ._breaker import BreakerPolicy, CircuitBreaker
    from ._gate import Gate
    from ._ratelimit import RateLimit, RateLimiter

ContentPart = Mapping[str, Any]
"""One part of a multimodal message: ``{"type": "text", "text": ...}`` or
``{"type": "image_url", "image_url": {"url": ...}}`` (see :class:`castlm.Image`)."""

Message = Mapping[str, str | Sequence[ContentPart]]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``; a user
message with images has a list of content parts as its content."""


# As httpx encodes json=: compact, UTF-8, no NaN. One encoder, not one per json.dumps call.
JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class FixedMessage(dict[str, str]):
    """A text message that never changes (a predictor's system prompt or demo), so its JSON
    can be kept: it is about nine tenths of a request body, and encoding it again on every
    call cost more CPU than the rest of castlm's own work on the async path. Editing one
    raises TypeError: a kept encoding can never go stale."""

    __slots__ = ("json",)

    def __init__(self, message: Mapping[str, str]) -> None:
        super().__init__(message)
        self.json = JSON_ENCODER.encode(self)  # the JSON of a request body's message

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a predictor's rendered messages are fixed; copy one with dict(m)")

    # Typed as the refusal they are, not as dict's overloads.
    __setitem__ = __delitem__ = __ior__ = _refuse  # pyright: ignore[reportAssignmentType]
    clear = pop = popitem = setdefault = update = _refuse  # pyright: ignore[reportAssignmentType]

    def __reduce__(self) -> tuple[type[FixedMessage], tuple[dict[str, str]]]:
        return FixedMessage, (dict(self),)


def fixed(messages: Sequence[Message]) -> tuple[Message, ...]:
    """``messages`` with each plain text message made a :class:`FixedMessage`."""
    return tuple(_fixed(m) for m in messages)


def _fixed(message: Message) -> Message:
    if type(message) is not dict:
        return message
    texts = cast("dict[str, object]", message)
    if all(isinstance(v, str) for v in texts.values()):
        return FixedMessage(cast("dict[str, str]", texts))
    return cast("Message", texts)


def message_text(message: Mapping[str, object]) -> str:
    """A message's text: its content, or its text parts joined (image parts left out)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if is_list_or_tuple(content):
        texts = [p.get("text") for p in content if is_mapping(p)]
        return "\n\n".join(t for t in texts if isinstance(t, str))
    return ""


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
    ``response_format`` is the structured-output request in OpenAI's form; ``structured_output``
    is the dialect it is sent in (see :mod:`castlm._structured`; ``off`` sends nothing).
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
    top_p: float | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    structured_output: str = "json_schema"
    #: Raw keys merged into the body last (the escape hatch for server-specific parameters).
    extra_body: Mapping[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        """The OpenAI-compatible request body (without ``stream``). Messages that are dicts
        are shared with the request, not copied (a predictor's demo messages are the same
        objects on every call): treat the body as read-only."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m if isinstance(m, dict) else dict(m) for m in self.messages],
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body[max_tokens_key(self.model)] = self.max_tokens
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.seed is not None:
            body["seed"] = self.seed
        if self.reasoning_effort is not None:
            body["reasoning_effort"] = self.reasoning_effort
        if self.response_format is not None:
            body.update(body_fields(self.structured_output, dict(self.response_format)))
        if self.stop:
            body["stop"] = list(self.stop)
        if self.tools:
            body["tools"] = [dict(t) for t in self.tools]
        if self.extra_body:
            body.update(self.extra_body)
        return body

    def cache_key(self, namespace: str = "") -> str:
        """A stable hash of the whole request, scoped by ``namespace`` (the endpoint)."""
        material = {"ns": namespace, "rollout": self.rollout, **self.payload()}
        messages: object = material["messages"]
        if is_list_or_tuple(messages):
            material["messages"] = [_keyed(m) if is_object(m) else m for m in messages]
        # ASCII escapes keep lone surrogates (valid in a Python str) hashable.
        blob = json.dumps(material, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _keyed(message: dict[str, Any]) -> dict[str, Any]:
    """A message as its cache key covers it: an inline image by the hash of its data URL, so
    the key's material stays small however large the image."""
    content: object = message.get("content")
    if isinstance(content, str) or not is_list_or_tuple(content):
        return message
    return {**message, "content": [_keyed_part(p) for p in content if is_mapping(p)]}


def _keyed_part(part: Mapping[str, Any]) -> Mapping[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if is_mapping(image) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        return part
    return {
        "type": "image_url",
        "sha256": hashlib.sha256(url.encode("ascii", "replace")).hexdigest(),
    }


# OpenAI's reasoning models reject ``max_tokens`` and take ``max_completion_tokens``; most
# other servers (llama.cpp among them) ignore ``max_completion_tokens``, so it is sent only
# where the model family needs it.
_COMPLETION_TOKENS_MODELS = re.compile(r"^(?:.*/)?(?:o\d|gpt-5)", re.IGNORECASE)


def max_tokens_key(model: str) -> str:
    """The body key that bounds the reply's length for ``model``."""
    return "max_completion_tokens" if _COMPLETION_TOKENS_MODELS.match(model) else "max_tokens"


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
    """One completion; ``tool_calls`` is non-empty when a request with ``tools`` got calls.

    ``id`` is the provider's id of the completion (``""`` when it sent none)."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    cached: bool = False
    tool_calls: tuple[ToolCall, ...] = ()
    id: str = ""


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

    #: How replies are constrained to the output schema (see :mod:`castlm._structured`).
    #: Backends without constrained decoding (the test doubles) default to ``off``.
    structured_output: Dialect = "off"
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
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        reasoning_effort: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        structured_output: Dialect | None = None,
    ) -> None:
        from ._lm_settings import check_settings  # checked once, here, for every backend

        checked = check_settings(
            {
                "temperature": temperature,
                "max_tokens": max_tokens,
                "top_p": top_p,
                "seed": seed,
                "stop": stop,
                "reasoning_effort": reasoning_effort,
                "extra_body": extra_body,
                "structured_output": structured_output,
            },
            where=type(self).__name__,
        )
        self.model = model
        self.temperature: float | None = checked.get("temperature")
        self.max_tokens: int | None = checked.get("max_tokens")
        self.top_p: float | None = checked.get("top_p")
        self.seed: int | None = checked.get("seed")
        self.stop: tuple[str, ...] | None = checked.get("stop")
        self.reasoning_effort: str | None = checked.get("reasoning_effort")
        self.extra_body: Mapping[str, Any] | None = checked.get("extra_body")
        if structured_output is not None:
            self.structured_output = checked["structured_output"]
        self.cache = cache
        self.stats: LMStats = LMStats()
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
        default_max_tokens: int | None = None,
    ) -> LMRequest:
        """Build a request with this LM's defaults filled in, as :meth:`fill` fills them.

        ``default_max_tokens`` bounds the reply when neither the caller nor this LM does (a
        cap derived from the signature, so that a rambling model costs bounded time).
        """
        # Built once, filled, rather than built and then copied by fill() (every call of
        # every predictor comes through here; tests/test_lm_request.py keeps the two equal).
        if max_tokens is None:
            max_tokens = self.max_tokens if self.max_tokens is not None else default_max_tokens
        return LMRequest(
            model=self.model,
            messages=tuple(messages),
            temperature=self.temperature if temperature is None else temperature,
            max_tokens=max_tokens,
            response_format=response_format,
            stop=tuple(stop) if stop else self.stop,
            rollout=rollout,
            top_p=self.top_p,
            seed=self.seed,
            reasoning_effort=self.reasoning_effort,
            extra_body=self.extra_body,
            structured_output=self.dialect(),
        )

    def fill(self, request: LMRequest) -> LMRequest:
        """``request`` with every setting it leaves open taken from this LM."""
        return replace(
            request,
            temperature=self.temperature if request.temperature is None else request.temperature,
            max_tokens=self.max_tokens if request.max_tokens is None else request.max_tokens,
            stop=request.stop or self.stop,
            top_p=self.top_p if request.top_p is None else request.top_p,
            seed=self.seed if request.seed is None else request.seed,
            reasoning_effort=request.reasoning_effort or self.reasoning_effort,
            extra_body=request.extra_body or self.extra_body,
            structured_output=self.dialect(),
        )

    @property
    def constrains_output(self) -> bool:
        """Whether replies are constrained to the output schema (``structured_output`` not
        ``off``); predictors with ``adapter="auto"`` then use the JSON adapter."""
        return self.structured_output != "off"

    @property
    def dialect_endpoint(self) -> str:
        """Where ``auto`` remembers what this LM's endpoint accepts (see ``dialect``)."""
        return self.cache_namespace

    def dialect(self) -> Dialect:
        """The structured-output dialect requests are sent in now."""
        if self.structured_output != "auto":
            return self.structured_output
        return LEARNED.get(self.dialect_endpoint) or AUTO_ORDER[0]

    def settings(self) -> dict[str, Any]:
        """The settings this LM was configured with (for manifests and reports)."""
        values = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop) if self.stop else None,
            "reasoning_effort": self.reasoning_effort,
            "extra_body": dict(self.extra_body) if self.extra_body else None,
            "structured_output": self.dialect(),
        }
        return {k: v for k, v in values.items() if v is not None}

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
            # _acomplete's loop, inline: one coroutine less on every async call.
            while True:
                try:
                    response = await self._acomplete_once(request, use_cache)
                    break
                except DialectRejected as exc:
                    request = self._after_rejection(request, exc)
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
        while True:
            try:
                return self._complete_once(request, use_cache)
            except DialectRejected as exc:
                request = self._after_rejection(request, exc)

    def _after_rejection(self, request: LMRequest, rejected: DialectRejected) -> LMRequest:
        """The request to send after the endpoint refused its structured-output dialect.

        Under ``auto`` the next dialect is tried and remembered for the endpoint; a dialect the
        user chose is an error naming the setting, never a silent downgrade to free text.
        """
        following = next_dialect(rejected.dialect) if self.structured_output == "auto" else None
        if following is None:
            raise LMStatusError(
                f"{self!r}: the endpoint rejected structured output in the "
                f"{rejected.dialect!r} dialect (HTTP {rejected.status}: {rejected.message}). "
                "Set structured_output to a dialect this server supports (json_schema, "
                "llama_cpp, vllm, vllm_guided, ollama), to 'auto' to detect it, or to 'off'.",
                status_code=rejected.status,
            ) from None
        LEARNED.learn(self.dialect_endpoint, following)
        return replace(request, structured_output=following)

    def _complete_once(self, request: LMRequest, use_cache: bool) -> LMResponse:
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

    async def _acomplete_once(self, request: LMRequest, use_cache: bool) -> LMResponse:
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
            while True:
                key = self._lookup_key(request, use_cache)
                response = self._cache_get(key) if key is not None else None
                if response is not None:
                    break
                try:
                    response = yield from self._stream_uncached(request)
                except DialectRejected as exc:  # refused before any text: try the next one
                    request = self._after_rejection(request, exc)
                    continue
                self._record(response, key)
                break
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
            while True:
                key = self._lookup_key(request, use_cache)
                response = self._cache_get(key) if key is not None else None
                if response is not None:
                    break
                try:
                    response = None
                    async for piece in self._astream_uncached(request):
                        if isinstance(piece, LMResponse):
                            response = piece
                        else:
                            yield piece
                except DialectRejected as exc:  # refused before any text: try the next one
                    request = self._after_rejection(request, exc)
                    continue
                response = self._streamed(response)
                self._record(response, key)
                break
        except BaseException as exc:
            if call is not None:
                call.fail(exc)
            raise
        if call is not None:
            call.finish(response)
        yield response

    async def _astream_uncached(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        gate = self._admit(request)
        if gate is not None:
            await gate.aenter()
        response: LMResponse | None = None
        try:
            async for piece in self._asend_stream(request):
                if isinstance(piece, LMResponse):
                    response = piece
                yield piece
        except BaseException as exc:
            if gate is not None:
                gate.exit(None, exc)
            raise
        if gate is not None:
            gate.exit(response, None)

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
        calls = response.tool_calls  # usually none: then the text alone, without a list
        found = surrogate_in(
            [response.text, *(c.arguments for c in calls)] if calls else response.text
        )
        if found:  # not cached: it would fail every later use the same way
            raise LMResponseError(
                f"{self!r}: the reply holds {found}, which is not valid Unicode text; the "
                f"endpoint sent a broken \\u escape"
            )
        if key is not None and self.cache is not None:
            self.cache.put(key, response)
