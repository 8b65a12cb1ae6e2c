"""An OpenAI-compatible chat-completions client over httpx.

This is the backend castlm uses by default: OpenAI itself, and every local or hosted server that
speaks the same ``/chat/completions`` protocol (vLLM, llama.cpp, Ollama, LM Studio, gateways).
It depends on httpx (sync) and aiohttp (async) only, so emitted packages can vendor it without
pulling in an SDK.

Credentials are handled with care because LM objects end up in reprs, logs, tracebacks, cache
namespaces and pickles: a key read from the environment is re-read at send time and never
stored; an explicitly passed key lives in a :class:`Secret` that masks itself and refuses to
be pickled, and every server message quoted in an error is scrubbed of it.
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import json
import os
import ssl
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, Self, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..base._deadline import with_deadlines, within
from ..base._errors import (
    ConfigurationError,
    LMConnectionError,
    LMError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
    StreamInterruptedError,
)
from ..base._keys import (
    auth_headers,
    basic_credentials,
    check_headers,
    check_key,
    env_key,
    env_key_value,
    safe_cause,
)
from ..base._narrow import is_array, is_json_object, is_object
from ..base._structured import Dialect, DialectRejected, dialect_of, names_dialect
from ._lm import LM, LMRequest, LMResponse, ResponseCache, ToolCall, Usage
from ._retry import RetryPolicy
from ._sse import ChunkReader

if TYPE_CHECKING:
    from ._aio_client import AsyncSender, Reply
    from ._breaker import BreakerPolicy, CircuitBreaker
    from ._ratelimit import RateLimit, RateLimiter

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BASE_URL_ENV_VARS = ("CASTLM_BASE_URL", "OPENAI_BASE_URL")
API_KEY_ENV_VARS = ("CASTLM_API_KEY", "OPENAI_API_KEY")

#: Statuses that mean "try again later", as the OpenAI SDK retries them: request timeout (408),
#: lock conflict (409), rate limiting (429) and transient server trouble.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

#: Requests one client has in flight at most, as the OpenAI SDK's default: the pool should
#: not be what holds a caller's concurrency back (at 100, a batch at concurrency 256 queued
#: more than half its calls behind the pool). Lower it for a server that limits connections.
DEFAULT_MAX_CONNECTIONS = 1000

_EXCERPT_CHARS = 200


class Secret:
    """A credential that masks itself in repr/str and cannot be pickled.

    Copying returns the same object: a copy in memory leaks nothing, and refusing to copy would
    break ``copy.deepcopy`` of any program that holds an LM.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret ***>"

    __str__ = __repr__

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("castlm never pickles API keys; pass api_key= again after unpickling")


class KeyedLM(LM):
    """An LM holding credentials in :class:`Secret` attributes, with copy and pickle rules.

    Pickles never contain the secrets (nor locks or network clients, which cannot cross
    processes): an unpickled LM falls back to the key in the environment. Copies in memory keep
    the secrets, share the cache, and get their own locks and clients.
    """

    #: Attributes rebuilt by :meth:`_init_transient` instead of being pickled or copied.
    _transient: tuple[str, ...] = ("_stats_lock",)
    #: Attributes holding a ``Secret | None``: never pickled, shared by copies.
    _secrets: tuple[str, ...] = ("_api_key",)
    _api_key: Secret | None

    def _init_transient(self) -> None:
        self._stats_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        skip = (*self._transient, *self._secrets)
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # vars(): the instance dict, typed as a dict (pyright types __dict__ as the class's).
        vars(self).update(state)
        vars(self).update(dict.fromkeys(self._secrets))
        self._init_transient()

    def __copy__(self) -> Self:
        return self._clone(self.__getstate__())

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        if self.cache is not None:  # a copy shares the cache instead of forking it
            memo[id(self.cache)] = self.cache
        return self._clone(copy.deepcopy(self.__getstate__(), memo))

    def _clone(self, state: dict[str, Any]) -> Self:
        clone = type(self).__new__(type(self))
        vars(clone).update(state)
        vars(clone).update({name: getattr(self, name) for name in self._secrets})
        clone._init_transient()
        return clone


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` masked (servers sometimes echo the key)."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "***")
    return text


def excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """The start of a (possibly huge) body, on one line, for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def resolve_base_url(base_url: str | None) -> str:
    """The argument, else ``$CASTLM_BASE_URL``, else ``$OPENAI_BASE_URL``, else OpenAI."""
    if base_url:
        return base_url.rstrip("/")
    for var in BASE_URL_ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return value.rstrip("/")
    return DEFAULT_BASE_URL


def split_userinfo(url: str) -> tuple[str, Secret | None]:
    """``url`` without ``user:password@`` (fit for messages and cache namespaces) and the
    credentials it carried, kept as a :class:`Secret`."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    return urlunsplit(parts._replace(netloc=host)), Secret(userinfo)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delta-seconds or an HTTP-date; ``None`` if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means it said so
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class _Wait:
    """Retry the same request after ``seconds``."""

    seconds: float


_Step = LMResponse | _Wait
# RequestError: a transport failure, or a body that cannot be decoded (DecodingError).
_Outcome: TypeAlias = "Reply | httpx.RequestError"


class OpenAIChatLM(KeyedLM):
    """A client for any OpenAI-compatible ``/chat/completions`` endpoint.

    Transient failures (408, 409, 429, 500, 502, 503, 504, refused or dropped connections, timeouts)
    are retried ``max_retries`` times with exponential backoff and jitter, honouring
    ``Retry-After`` (pass ``retry=castlm.RetryPolicy(...)`` to set every knob at once). When
    retries run out, or on a non-retryable answer, the matching :class:`castlm.LMError`
    subclass is raised with the URL, the model and a hint on the fix. ``timeout`` bounds each
    attempt (for a stream: each wait for the next chunk). ``breaker`` and ``rate_limit`` are
    the :class:`castlm.LM` attributes of the same names; ``max_connections`` (default 1000, or
    the ``max_connections`` setting) bounds the requests in flight at once.

    An explicitly passed ``api_key`` is not pickled: an unpickled client falls back to the
    environment (``CASTLM_API_KEY`` / ``OPENAI_API_KEY``).
    """

    _transient = (*KeyedLM._transient, "_client", "_aclients", "_lock", "_ssl")
    _secrets = (*KeyedLM._secrets, "_url_auth")
    gen_ai_system = "openai"
    supports_tools = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: ResponseCache | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | CircuitBreaker | None = None,
        rate_limit: RateLimit | RateLimiter | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        reasoning_effort: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        structured_output: Dialect = "auto",
    ) -> None:
        super().__init__(
            model,
            temperature=temperature,
            max_tokens=max_tokens,
            cache=cache,
            top_p=top_p,
            seed=seed,
            stop=stop,
            reasoning_effort=reasoning_effort,
            extra_body=extra_body,
            structured_output=structured_output,
        )
        if not model:
            raise ConfigurationError("OpenAIChatLM needs a model name, e.g. 'gpt-4o-mini'")
        if max_retries < 0 or timeout <= 0 or backoff_base < 0 or backoff_max < 0:
            raise ConfigurationError(
                "OpenAIChatLM: timeout must be > 0 and max_retries, backoff_base, backoff_max >= 0"
            )
        if max_connections < 1:
            raise ConfigurationError("OpenAIChatLM: max_connections must be >= 1")
        base, self._url_auth = split_userinfo(resolve_base_url(base_url))
        self.base_url: str = base
        _check_url(self.base_url)
        self.url: str = f"{self.base_url}/chat/completions"
        self.timeout = timeout
        self.retry: RetryPolicy = retry or RetryPolicy(max_retries, backoff_base, backoff_max)
        self.breaker = breaker
        self.rate_limit = rate_limit
        self.max_connections = max_connections
        self._headers = check_headers(headers or {})
        self._api_key = Secret(check_key(api_key, "passed as api_key=")) if api_key else None
        self._init_transient()

    def _init_transient(self) -> None:
        super()._init_transient()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        # An AsyncClient's pool is bound to the event loop that first used it, so each loop
        # (each ``asyncio.run``, each thread running its own loop) gets its own client, with
        # the keeper that closes it when the loop shuts down (see _closed_with_loop).
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient]
        self._aclients = weakref.WeakKeyDictionary()
        self._ssl: ssl.SSLContext | None = None  # shared by the loops' clients (25 ms each)

    @property
    def max_retries(self) -> int:
        return self.retry.max_retries

    @property
    def backoff_base(self) -> float:
        return self.retry.backoff_base

    @property
    def backoff_max(self) -> float:
        return self.retry.backoff_max

    # -- identity --------------------------------------------------------------------------
    @property
    def cache_namespace(self) -> str:
        # The endpoint, never the key: two keys on one endpoint get the same answers.
        return f"openai-chat:{self.base_url}"

    @property
    def dialect_endpoint(self) -> str:
        return f"{self.url} {self.model}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the pooled sync connections (a later call opens new ones)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the pooled async connections of the running event loop."""
        with self._lock:
            entry = self._aclients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()  # its finally block closes the client

    def __enter__(self) -> OpenAIChatLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> OpenAIChatLM:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- sending ---------------------------------------------------------------------------
    def _send(self, request: LMRequest) -> LMResponse:
        body = self._body(request)
        attempt = 0
        while True:
            step = self._decide(self._post(body), attempt, body)
            if isinstance(step, LMResponse):
                return step
            time.sleep(step.seconds)
            attempt += 1

    async def _asend(self, request: LMRequest) -> LMResponse:
        body = self._body(request)
        attempt = 0
        while True:
            step = self._decide(await self._apost(body), attempt, body)
            if isinstance(step, LMResponse):
                return step
            await asyncio.sleep(step.seconds)
            attempt += 1

    # -- streaming -------------------------------------------------------------------------
    def _send_stream(self, request: LMRequest) -> Iterator[str | LMResponse]:
        body = self._stream_body(request)
        attempt = 0
        while True:
            reader = ChunkReader(str(body["model"]))
            client = self._sync_client()
            step: LMResponse | _Wait | dict[str, Any]
            try:
                with client.stream("POST", self.url, json=body, headers=self._auth()) as answer:
                    if _is_event_stream(answer):
                        for line in answer.iter_lines():
                            if (delta := reader.feed(line)) is not None:
                                yield delta
                        step = self._stream_end(reader, None, attempt, body)
                    else:
                        answer.read()
                        step = self._stream_answer(answer, attempt, body)
            except httpx.RequestError as exc:
                step = self._stream_end(reader, exc, attempt, body)
            if isinstance(step, LMResponse):
                yield step
                return
            if isinstance(step, _Wait):
                time.sleep(step.seconds)
                attempt += 1
            else:
                body = step

    async def _asend_stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        body = self._stream_body(request)
        attempt = 0
        while True:
            reader = ChunkReader(str(body["model"]))
            client = await self._async_client()
            step: LMResponse | _Wait | dict[str, Any]
            try:
                async with client.stream(
                    "POST", self.url, json=body, headers=self._auth()
                ) as answer:
                    if _is_event_stream(answer):
                        async for line in answer.aiter_lines():
                            if (delta := reader.feed(line)) is not None:
                                yield delta
                        step = self._stream_end(reader, None, attempt, body)
                    else:
                        await answer.aread()
                        step = self._stream_answer(answer, attempt, body)
            except httpx.RequestError as exc:
                step = self._stream_end(reader, exc, attempt, body)
            if isinstance(step, LMResponse):
                yield step
                return
            if isinstance(step, _Wait):
                await asyncio.sleep(step.seconds)
                attempt += 1
            else:
                body = step

    def _stream_body(self, request: LMRequest) -> dict[str, Any]:
        # include_usage: the last chunk then carries the token counts, as a plain answer does.
        return {**self._body(request), "stream": True, "stream_options": {"include_usage": True}}

    def _stream_answer(
        self, answer: httpx.Response, attempt: int, body: dict[str, Any]
    ) -> LMResponse | _Wait | dict[str, Any]:
        """What to do with an answer that is not an event stream."""
        if answer.is_success:  # the server ignored "stream": true and answered in one piece
            return self._parse(answer, body)
        rejected = answer.status_code == 400 and "stream_options" in answer.text
        if rejected and "stream_options" in body:
            return {k: v for k, v in body.items() if k != "stream_options"}
        return self._decide(answer, attempt, body)

    def _stream_end(
        self,
        reader: ChunkReader,
        error: httpx.RequestError | None,
        attempt: int,
        body: dict[str, Any],
    ) -> LMResponse | _Wait:
        """The finished response, a wait before retrying a broken stream, or an error.

        A stream that broke before any text arrived is retried like a failed request; once
        text has been handed to the caller it cannot be retried transparently.
        """
        if error is None and reader.complete:
            return reader.response()
        if error is None:
            why = "it ended before its last chunk"
        else:
            why = self._quote(str(error)) or type(error).__name__
        if reader.delivered:
            raise StreamInterruptedError(
                f"the stream from {self._where()} broke off after {len(reader.text)} characters "
                f"({why}). Call again, or catch StreamInterruptedError to keep the partial text.",
                text=reader.text,
            ) from (None if error is None else safe_cause(error, self._secret_texts()))
        outcome = error or httpx.RemoteProtocolError(f"the stream broke off: {why}")
        step = self._decide(outcome, attempt, body)
        assert isinstance(step, _Wait)  # a transport failure is retried or raised, never parsed
        return step

    def _body(self, request: LMRequest) -> dict[str, Any]:
        return request.payload()

    def _post(self, body: dict[str, Any]) -> _Outcome:
        try:
            with within(self.timeout):  # the whole attempt, not each read
                return self._sync_client().post(self.url, json=body, headers=self._auth())
        except httpx.RequestError as exc:
            return exc

    async def _apost(self, body: dict[str, Any]) -> _Outcome:
        # The loop's client, once started, without the lock and the coroutine of
        # _async_client (a dict read is atomic; entries are only added under the lock).
        entry = self._aclients.get(asyncio.get_running_loop())
        client = entry[0] if entry is not None else await self._async_client()
        try:
            return await client.post(self.url, json=body, headers=self._auth())
        except httpx.RequestError as exc:
            return exc

    def _limits(self) -> httpx.Limits:
        # httpx keeps only 20 idle connections by default: at higher concurrency every
        # request beyond them would open (and tear down) a connection of its own.
        # Clients unpickled from older versions have no max_connections.
        size = getattr(self, "max_connections", DEFAULT_MAX_CONNECTIONS)
        return httpx.Limits(max_connections=size, max_keepalive_connections=size)

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                client = httpx.Client(
                    timeout=self.timeout,
                    headers=self._headers,
                    limits=self._limits(),
                    verify=self._ssl_context(),
                )
                self._client = with_deadlines(client)
            return self._client

    def _ssl_context(self) -> ssl.SSLContext:
        """One verifying TLS context (``SSL_CERT_FILE`` honoured) for both paths; called under
        self._lock (building one takes 25 ms)."""
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def _async_client(self) -> AsyncSender:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._aclients.get(loop)
            if entry is None:
                client = self._new_async_client()
                entry = self._aclients[loop] = (client, _closed_with_loop(client))
                started = False
            else:
                started = True
        if not started:
            await anext(entry[1])
        return entry[0]

    def _new_async_client(self) -> AsyncSender:
        # Called under self._lock. aiohttp loads with the first async call: sync users skip it.
        from ._aio_client import AiohttpClient

        return AiohttpClient(
            headers=self._headers,
            timeout=self.timeout,
            ssl_context=self._ssl_context(),
            max_connections=self.max_connections,
        )

    # -- credentials -----------------------------------------------------------------------
    def _key(self) -> tuple[str | None, str]:
        """The key to send now and where it came from (for messages; never the key itself)."""
        if self._custom_auth():
            return None, "the Authorization header passed in headers= was rejected"
        if self._api_key is not None:
            return self._api_key.reveal(), "the key passed as api_key= was rejected"
        found = env_key(API_KEY_ENV_VARS)  # read now, never stored; refused if malformed
        if found is not None:
            return found[0], f"the key in {found[1]} was rejected"
        return None, "no API key was sent"

    def _custom_auth(self) -> bool:
        return any(name.lower() == "authorization" for name in self._headers)

    def _auth(self) -> dict[str, str]:
        # Every request comes here: _key() would also build the texts its messages need.
        userinfo = None if self._url_auth is None else self._url_auth.reveal()
        custom = self._custom_auth()
        if custom:
            key = None
        elif self._api_key is not None:
            key = self._api_key.reveal()
        else:
            key = env_key_value(API_KEY_ENV_VARS)  # read now, never stored, as in _key
        return auth_headers(key, userinfo, custom=custom)

    def _url_auth_note(self) -> str:
        if self._url_auth is None:
            return ""
        if self._key()[0] is None and not self._custom_auth():
            return " The user:password in base_url was sent as Authorization: Basic."
        return (
            " The user:password in base_url was sent as Proxy-Authorization: Basic, since the "
            "key takes Authorization: a gateway must read its credentials from that header."
        )

    def _secret_texts(self) -> list[str | None]:
        """Every credential this client may send, in the forms an error could quote."""
        texts: list[str | None] = [self._key()[0]]
        for name, value in self._headers.items():
            if any(word in name.lower() for word in _CREDENTIAL_HEADER_WORDS):
                texts += [value, value.partition(" ")[2]]  # "Bearer sk-..." and "sk-..."
        if self._url_auth is not None:
            userinfo = self._url_auth.reveal()
            texts += [userinfo, basic_credentials(userinfo)]
        return texts

    def _quote(self, text: str) -> str:
        """A server message fit for an exception: short, one line, credentials masked."""
        for secret in self._secret_texts():
            text = scrub(text, secret)
        return excerpt(text)

    # -- deciding what an answer means -----------------------------------------------------
    def _decide(self, outcome: _Outcome, attempt: int, body: dict[str, Any]) -> _Step:
        can_retry = self.retry.can_retry(attempt)
        if isinstance(outcome, httpx.RequestError):
            if can_retry and isinstance(outcome, _TRANSIENT_ERRORS):
                return _Wait(self._backoff(attempt))
            error = self._transport_error(outcome, attempt + 1)
            raise error from safe_cause(outcome, self._secret_texts())
        status = outcome.status_code
        if 200 <= status < 300:
            return self._parse(outcome, body)
        dialect = dialect_of(body)
        if dialect is not None and names_dialect(dialect, status, outcome.text):
            raise DialectRejected(dialect, status, self._quote(_server_message(outcome)))
        if can_retry and status in RETRY_STATUSES:
            return _Wait(self._retry_delay(outcome, attempt))
        raise self._status_error(outcome, attempt + 1)

    def _backoff(self, attempt: int) -> float:
        return self.retry.backoff(attempt)

    def _retry_delay(self, response: Reply, attempt: int) -> float:
        return self.retry.delay(attempt, retry_after_seconds(response.headers.get("retry-after")))

    def _parse(self, response: Reply, body: dict[str, Any]) -> LMResponse:
        try:
            data = response.json()
        except (ValueError, RecursionError):
            raise self._malformed(response, "the body is not JSON") from None
        choice = _first_choice(data)
        if choice is None:
            raise self._malformed(response, "it has no choices[0].message")
        message = choice["message"]
        text = _content_text(message.get("content"))
        calls = _tool_calls(message.get("tool_calls"))
        if text is None and calls:  # a pure function call carries no text
            text = ""
        if text is None:
            refusal = message.get("refusal")
            why = f"the model refused: {refusal}" if refusal else "the message has no text content"
            raise self._malformed(response, why)
        finish = choice.get("finish_reason")
        model = data.get("model")
        return LMResponse(
            text=text,
            model=model if isinstance(model, str) and model else str(body["model"]),
            usage=_usage(data.get("usage")),
            finish_reason=finish if isinstance(finish, str) else None,
            tool_calls=calls,
            id=_text_field(data, "id"),
        )

    # -- errors ----------------------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.url} (model {self.model!r})"

    def _malformed(self, response: Reply, why: str) -> LMResponseError:
        return LMResponseError(
            f"{self._where()} answered HTTP {response.status_code} with something that is not "
            f"a chat completion: {why}. Body starts: {self._quote(response.text)!r}. "
            "Check that base_url points at an OpenAI-compatible API root (usually ending in /v1).",
            status_code=response.status_code,
        )

    def _status_error(self, response: Reply, attempts: int) -> LMStatusError:
        status = response.status_code
        said = f" Server said: {self._quote(_server_message(response))!r}"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if status in (401, 403, 407):
            _, source = self._key()
            hint = (
                f"{self._where()} refused the request with HTTP {status}: the API key is missing "
                f"or wrong ({source}). Set CASTLM_API_KEY (or OPENAI_API_KEY) to a valid key, "
                f"or pass api_key=...{self._url_auth_note()}"
            )
        elif status == 429:
            hint = (
                f"{self._where()} kept rate-limiting (HTTP 429){tries}. Lower the concurrency, "
                "raise max_retries, or wait for the quota to reset."
            )
        elif status >= 500:
            hint = (
                f"{self._where()} failed with HTTP {status}{tries}. The server is overloaded or "
                "broken; check its logs or try again later."
            )
        elif status == 404:
            hint = (
                f"{self._where()} answered HTTP 404. Check the model name and that base_url is "
                "the API root (usually ending in /v1); set CASTLM_BASE_URL or pass base_url=..."
            )
        else:
            hint = f"{self._where()} rejected the request with HTTP {status}."
        return LMStatusError(hint + said, status_code=status)

    def _transport_error(self, exc: httpx.RequestError, attempts: int) -> LMError:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if isinstance(exc, httpx.DecodingError):
            return LMResponseError(
                f"{self._where()} answered with a body that cannot be decoded as its "
                f"Content-Encoding header says: {self._quote(str(exc))}. Is a proxy rewriting "
                "the answer?"
            )
        if isinstance(exc, httpx.TimeoutException):
            return LMTimeoutError(
                f"{self._where()} did not answer within {self.timeout:g}s{tries}. The server may "
                "be overloaded or the model slow; raise timeout=... or check the server."
            )
        if isinstance(exc, httpx.ConnectError):
            return LMConnectionError(
                f"could not connect to {self._where()}: {_connect_reason(exc)}{tries}. "
                "Is the server running? Set CASTLM_BASE_URL or pass base_url=..."
            )
        if isinstance(exc, _TRANSIENT_ERRORS):
            return LMConnectionError(
                f"the connection to {self._where()} dropped before a complete answer{tries}: "
                f"{self._quote(str(exc)) or type(exc).__name__}. Is the server crashing, or a "
                "proxy cutting connections?"
            )
        return LMConnectionError(
            f"could not send a request to {self._where()}: "
            f"{self._quote(str(exc)) or type(exc).__name__}. "
            "Check base_url (set CASTLM_BASE_URL or pass base_url=...)."
        )


async def _closed_with_loop(client: AsyncSender) -> AsyncGenerator[None, None]:
    """Parked once started; closes ``client`` when its event loop shuts down.

    ``asyncio.run`` finalizes unfinished async generators before closing the loop, which runs
    this ``finally`` while the loop can still close the pooled connections cleanly (otherwise
    they would leak and warn when the loop is gone).
    """
    try:
        yield
    finally:
        await client.aclose()


_LoopClient = tuple["AsyncSender", AsyncGenerator[None, None]]

# A header whose name holds one of these carries a credential: masked wherever quoted.
_CREDENTIAL_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie")

# Failures worth retrying: the request may well succeed a moment later.
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"base_url {url!r} is not an http(s) URL; pass base_url= or set CASTLM_BASE_URL "
            "to the API root, e.g. http://127.0.0.1:8000/v1"
        )


def _is_event_stream(answer: httpx.Response) -> bool:
    return answer.is_success and "text/event-stream" in answer.headers.get("content-type", "")


def _text_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _first_choice(data: object) -> dict[str, Any] | None:
    if not is_json_object(data):
        return None
    choices = data.get("choices")
    if not is_array(choices) or not choices:
        return None
    choice = choices[0]
    if not is_json_object(choice) or not is_json_object(choice.get("message")):
        return None
    return choice


def _content_text(content: object) -> str | None:
    """The message text; some servers send a list of typed parts instead of a string."""
    if isinstance(content, str):
        return content
    if is_array(content):
        texts = [p["text"] for p in content if is_object(p) and isinstance(p.get("text"), str)]
        return "".join(texts) if texts else None
    return None


def _tool_calls(raw: object) -> tuple[ToolCall, ...]:
    """The well-formed ``function`` entries of a message's ``tool_calls``; others are skipped."""
    if not is_array(raw):
        return ()
    calls: list[ToolCall] = []
    for entry in raw:
        function = entry.get("function") if is_object(entry) else None
        if not is_object(function) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # some servers send an object, not JSON text
            arguments = json.dumps(arguments if arguments is not None else {})
        call_id = entry.get("id")
        name = str(function["name"])
        calls.append(ToolCall(name, arguments, call_id if isinstance(call_id, str) else ""))
    return tuple(calls)


def _usage(raw: object) -> Usage:
    if not is_json_object(raw):
        return Usage()
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return Usage(
        prompt_tokens=prompt if isinstance(prompt, int) else 0,
        completion_tokens=completion if isinstance(completion, int) else 0,
    )


def _server_message(response: Reply) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the raw body."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return response.text
    if is_object(data):
        error = data.get("error")
        if is_object(error) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return response.text


def _connect_reason(exc: httpx.ConnectError) -> str:
    # The async stack words a refusal as "All connection attempts failed"; the cause chain
    # still holds the ConnectionRefusedError.
    cause: BaseException | None = exc
    for _ in range(10):  # bounded: exception chains can, rarely, form a cycle
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    lowered = text.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found"
    return text or type(exc).__name__
