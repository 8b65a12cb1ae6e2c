"""castlm's async HTTP client: aiohttp underneath, httpx's types and errors on top.

httpx's own async transport (httpcore) costs about a millisecond of CPU per request at high
concurrency, which held async LM calls to a tenth of what an endpoint allowed. aiohttp is the
maintained client the OpenAI SDK also offers for this reason. This module keeps everything
above the transport unchanged: requests go out from ``post``/``stream``, a whole answer comes
back as an :class:`Answer` (the part of ``httpx.Response`` an LM client reads), a stream as an
``httpx.Response``, and every failure is one of httpx's transport errors, which
``OpenAIChatLM`` already maps to castlm's LMError tree and retries.

Environment proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) are read
when a client first posts to a URL; TLS uses the same verifying context as the sync path
(honouring ``SSL_CERT_FILE``). ``timeout`` bounds a whole request, from connecting to the last
byte of the answer; in a stream it bounds the connection and each wait for the next chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import ssl
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Mapping, Sequence
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import aiohttp
import httpx

from ..base._version import __version__
from ._lm import JSON_ENCODER, FixedMessage

_DISCONNECTED = "Server disconnected without sending a complete response."
# aiohttp has decoded the body already: httpx must not decode it again or trust its length.
_DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# A POST's whole attempt is bounded by asyncio.timeout: aiohttp's own per-connect and per-read
# timers would only repeat that bound, at the cost of a timer rescheduled on every read.
_WHOLE_ATTEMPT = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)
# What becomes one of httpx's transport errors (see _translated).
_MAPPED = (aiohttp.ClientError, TimeoutError, OSError, ValueError)


class Reply(Protocol):
    """What an LM client reads of a whole (not streamed) HTTP answer: an ``httpx.Response``
    on the sync path, an :class:`Answer` on the async one."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class Answer:
    """A whole answer read by aiohttp: its status, headers (case-insensitive) and body.

    Wrapping it in an ``httpx.Response`` instead cost 24 µs of CPU per call, a quarter of
    castlm's own work on one (httpx re-reads the body through its decoder chain and rebuilds
    the headers).
    """

    __slots__ = ("_charset", "content", "headers", "status_code")

    def __init__(
        self, status: int, headers: Mapping[str, str], content: bytes, charset: str | None
    ) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content
        self._charset = charset

    @property
    def text(self) -> str:
        # As httpx decodes: the declared charset, else UTF-8, never failing on a bad byte.
        try:
            return self.content.decode(self._charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class AsyncSender(Protocol):
    """What an LM client needs of an async HTTP client."""

    async def post(
        self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> Reply: ...

    def stream(
        self, method: str, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[httpx.Response]: ...

    async def aclose(self) -> None: ...


class AiohttpClient:
    """One aiohttp session (made in the event loop that first uses it), at most
    ``max_connections`` requests in flight. ``headers`` go with every request, and
    ``authorization`` (basic auth from the URL) as their Authorization header, as in httpx."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: float,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        authorization: str | None = None,
    ) -> None:
        # Every request has a JSON body: its Content-Type goes with the session's headers (in
        # place of any the caller set, as before), so that a request's own headers need no
        # merged copy (see _request_headers).
        own = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        self._headers = {
            "User-Agent": f"castlm/{__version__}",
            "Accept": "*/*",
            **own,
            "Content-Type": "application/json",
        }
        self._authorization = authorization
        self._timeout = timeout
        self._ssl = ssl_context
        self._max = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._requests: dict[tuple[str, str], httpx.Request] = {}  # what responses point back to
        self._proxies: dict[str, str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max, ssl=self._ssl),
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._timeout, sock_read=self._timeout
                ),
                # Not trust_env: aiohttp would then look the proxy up in a worker thread for
                # every request (see _proxy_for).
                skip_auto_headers=("Content-Type",),
            )
        return self._session

    async def post(
        self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """POST ``json``; the whole attempt, connect to last byte, within ``timeout``."""
        session, sent, proxy = self._open(), self._request_headers(headers), self._proxy_for(url)
        # Failures are mapped here, not by _mapped(): one generator and its context manager
        # less on every call.
        try:
            async with asyncio.timeout(self._timeout):
                request = session.post(
                    url,
                    data=_body(json),
                    headers=sent,
                    proxy=proxy,
                    timeout=_WHOLE_ATTEMPT,
                )
                async with request as answer:
                    content = await answer.read()
        except httpx.TransportError:
            raise
        except _MAPPED as exc:
            raise _translated(exc) from exc
        return Answer(answer.status, answer.headers, content, answer.charset)

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> AsyncGenerator[httpx.Response, None]:
        session, sent, proxy = self._open(), self._request_headers(headers), self._proxy_for(url)
        with _mapped():
            answer = await session.request(method, url, data=_body(json), headers=sent, proxy=proxy)
        try:
            yield self._response(answer, url, method, stream=_Chunks(answer, self._timeout))
        finally:
            answer.release()

    def _proxy_for(self, url: str) -> str | None:
        """The environment proxy for ``url`` (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY),
        looked up once per URL: an LM client posts to one URL for its whole life."""
        try:
            return self._proxies[url]
        except KeyError:
            pass
        parts = urlsplit(url)
        proxies = urllib.request.getproxies()
        proxy = proxies.get(parts.scheme) or proxies.get("all")
        if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
            proxy = None
        self._proxies[url] = proxy or None
        return self._proxies[url]

    def _request_headers(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        if self._authorization is None:
            return headers
        return {**(headers or {}), "Authorization": self._authorization}

    def _response(
        self,
        answer: aiohttp.ClientResponse,
        url: str,
        method: str,
        *,
        content: bytes | None = None,
        stream: httpx.AsyncByteStream | None = None,
    ) -> httpx.Response:
        request = self._requests.get((method, url))
        if request is None:
            request = self._requests[(method, url)] = httpx.Request(method, url)
        kept = [(k, v) for k, v in answer.raw_headers if k.lower().decode() not in _DROPPED]
        return httpx.Response(
            answer.status, headers=kept, content=content, stream=stream, request=request
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _Chunks(httpx.AsyncByteStream):
    """A streamed body, read as it arrives; aiohttp's errors become httpx's.

    Each wait for the next chunk is bounded by ``timeout`` here, not only by aiohttp's socket
    read timeout: a body that fails to decompress (a wrong Content-Encoding) could otherwise
    leave the reader waiting for data that never comes (found by tests/test_fuzz_http.py).
    """

    def __init__(self, answer: aiohttp.ClientResponse, timeout: float) -> None:
        self._answer = answer
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            chunks = self._answer.content.iter_any().__aiter__()
            while True:
                async with asyncio.timeout(self._timeout):
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        return
                yield chunk

    async def aclose(self) -> None:
        self._answer.release()


_ENCODER = JSON_ENCODER


def _body(value: Any) -> bytes:
    messages = _fixed_first(value)
    if messages is None:
        return _ENCODER.encode(value).encode("utf-8")
    # The fixed messages' JSON is kept on them; the body's other keys come after "messages"
    # (their order means nothing in JSON).
    listed = ",".join([m.json if type(m) is FixedMessage else _ENCODER.encode(m) for m in messages])
    body = cast("dict[str, Any]", value)
    rest = _ENCODER.encode({k: v for k, v in body.items() if k != "messages"})
    return f'{{"messages":[{listed}]{"," if rest != "{}" else ""}{rest[1:]}'.encode()


def _fixed_first(value: Any) -> Sequence[Any] | None:
    """The messages of a body whose messages start with a FixedMessage (a predictor's
    request starts with its system prompt, then its demos); else None."""
    if type(value) is not dict:
        return None
    messages: object = cast("dict[str, Any]", value).get("messages")
    if type(messages) is not list:
        return None
    listed = cast("Sequence[Any]", messages)
    return listed if listed and type(listed[0]) is FixedMessage else None


@contextlib.contextmanager
def _mapped() -> Generator[None, None, None]:
    """Translate aiohttp's, asyncio's and the OS's failures into httpx's exception types."""
    try:
        yield
    except httpx.TransportError:
        raise
    except _MAPPED as exc:
        raise _translated(exc) from exc


def _translated(exc: BaseException) -> httpx.TransportError:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text)
    if isinstance(exc, TimeoutError):  # asyncio.timeout, or aiohttp's read timeout
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return httpx.ProxyError(text)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(_DISCONNECTED)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(text)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(text)
    if isinstance(exc, aiohttp.ClientOSError | OSError):
        return httpx.ReadError(text)
    if isinstance(exc, ValueError):  # a header aiohttp refuses to send (a newline in it)
        return httpx.LocalProtocolError(text)
    return httpx.TransportError(text)
