"""An httpx transport speaking HTTP/1.1 over plain asyncio streams.

castlm's async LM calls go through ``httpx.AsyncClient`` (timeouts, headers, auth, proxies
from the environment, the same Request/Response types as the sync path), but not through its
default transport. httpcore's async pool costs about a millisecond of CPU per request at high
concurrency: its bookkeeping grows with the square of the pool size, its anyio streams add
layers, and without sniffio installed it retries a failed import several times per request.
At 64 requests in flight that alone held throughput to a tenth of what the endpoint allowed.

This transport keeps what an LM client needs and no more: a keep-alive pool per origin
(bounded by ``max_connections``), TLS via the standard ``ssl`` module, h11 for the protocol,
one write per request, and httpx's exception types for every failure, so retry and error
handling upstream stay unchanged.

:class:`DirectClient` sends httpx requests straight to it. ``AsyncClient.send`` adds URL
merging, an auth flow, redirect handling and cookie extraction: a third of the remaining cost
per request, and nothing an LM endpoint needs. Where an environment proxy applies, use
``httpx.AsyncClient`` with this transport instead (httpx routes proxied URLs itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import h11
import httpx

from . import __version__

_READ_SIZE = 65536
_DISCONNECTED = "Server disconnected without sending a complete response."
_Origin = tuple[str, str, int]


class _Connection:
    """One HTTP/1.1 connection: a stream pair and its h11 state machine."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def usable(self, expiry: float) -> bool:
        """Still open, not told to close, and not idle so long the server may have hung up."""
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and time.monotonic() - self.idle_since < expiry
        )

    async def send(self, request: httpx.Request, timeout: float | None) -> None:
        body = await request.aread()
        target = request.url.raw_path
        head = h11.Request(method=request.method, target=target, headers=request.headers.raw)
        data = self.h11.send(head) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        data += self.h11.send(h11.EndOfMessage()) or b""
        with _mapped(httpx.WriteTimeout, httpx.WriteError):
            async with asyncio.timeout(timeout):
                self.writer.write(data)  # headers and body in one segment
                await self.writer.drain()

    async def event(self, timeout: float | None) -> Any:
        """The next h11 event from the server, reading as needed."""
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            while True:
                event = self.h11.next_event()
                if event is not h11.NEED_DATA:
                    return event
                async with asyncio.timeout(timeout):
                    data = await self.reader.read(_READ_SIZE)
                self.h11.receive_data(data)

    def reusable(self) -> bool:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.idle_since = time.monotonic()
            return True
        return False

    def close(self) -> None:
        self.writer.close()


class _Body(httpx.AsyncByteStream):
    """A response body; closing it hands the connection back (or closes it)."""

    def __init__(
        self, transport: AsyncioTransport, origin: _Origin, conn: _Connection, timeout: float | None
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._conn: _Connection | None = conn
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        try:
            while True:
                event = await conn.event(self._timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    return
                else:
                    raise httpx.RemoteProtocolError(_DISCONNECTED)
        except BaseException:
            self._conn = None
            self._transport._done(self._origin, conn, reuse=False)
            raise

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._transport._done(self._origin, conn, reuse=conn.reusable())


class AsyncioTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 for one event loop; ``max_connections`` bounds requests in flight."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._ssl = ssl_context
        self._expiry = keepalive_expiry
        self._max = max_connections
        self._slots: asyncio.Semaphore | None = None  # made in the loop that uses it
        self._idle: dict[_Origin, deque[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        origin = (request.url.scheme, request.url.host, _port(request.url))
        await self._take_slot(timeouts.get("pool"))
        conn: _Connection | None = None
        try:
            conn = self._checkout(origin) or await self._connect(origin, timeouts.get("connect"))
            await conn.send(request, timeouts.get("write"))
            head = await self._head(conn, timeouts.get("read"))
        except BaseException:
            if conn is not None:
                conn.close()
            self._release()
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers,
            stream=_Body(self, origin, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()

    # -- the pool --------------------------------------------------------------------------
    async def _take_slot(self, timeout: float | None) -> None:
        if self._closed:
            raise httpx.PoolTimeout("the client has been closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        with _mapped(httpx.PoolTimeout, httpx.ConnectError):
            async with asyncio.timeout(timeout):
                await self._slots.acquire()

    def _release(self) -> None:
        assert self._slots is not None
        self._slots.release()

    def _checkout(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.usable(self._expiry):
                return conn
            conn.close()
        return None

    def _done(self, origin: _Origin, conn: _Connection, *, reuse: bool) -> None:
        if reuse and not self._closed:
            self._idle.setdefault(origin, deque()).append(conn)
        else:
            conn.close()
        self._release()

    async def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        tls = self._ssl_context() if scheme == "https" else None
        with _mapped(httpx.ConnectTimeout, httpx.ConnectError):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=_READ_SIZE
                )
        return _Connection(reader, writer)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def _head(self, conn: _Connection, timeout: float | None) -> h11.Response:
        while True:
            event = await conn.event(timeout)
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):  # e.g. 100 Continue: skip
                raise httpx.RemoteProtocolError(_DISCONNECTED)


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


class _mapped:
    """Translate asyncio, OS and h11 failures into httpx's exception types."""

    def __init__(self, on_timeout: type[httpx.TransportError], on_os: type[httpx.TransportError]):
        self._timeout = on_timeout
        self._os = on_os

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None or isinstance(exc, httpx.TransportError):
            return
        if isinstance(exc, TimeoutError):
            raise self._timeout(str(exc) or "timed out") from exc
        if isinstance(exc, h11.RemoteProtocolError):
            raise httpx.RemoteProtocolError(_protocol_message(exc)) from exc
        if isinstance(exc, h11.LocalProtocolError):
            raise httpx.LocalProtocolError(str(exc)) from exc
        if isinstance(exc, OSError):
            raise self._os(str(exc) or type(exc).__name__) from exc


def _protocol_message(exc: h11.RemoteProtocolError) -> str:
    text = str(exc)
    return _DISCONNECTED if "ConnectionClosed" in text or "SEND_RESPONSE" in text else text


class AsyncSender(Protocol):
    """What an LM client needs of an async HTTP client (``httpx.AsyncClient`` fits)."""

    async def post(
        self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response: ...

    def stream(
        self, method: str, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[httpx.Response]: ...

    async def aclose(self) -> None: ...


class DirectClient:
    """Requests built once and handed straight to an :class:`AsyncioTransport`.

    ``headers`` are sent with every request (after castlm's User-Agent and Accept); ``auth``
    sets the Authorization header, as in httpx; ``timeout`` bounds each connect, read, write
    and wait for a pooled connection.
    """

    def __init__(
        self,
        transport: AsyncioTransport,
        *,
        headers: Mapping[str, str],
        timeout: float,
        auth: httpx.BasicAuth | None = None,
    ) -> None:
        self._transport = transport
        self._headers = httpx.Headers(
            {
                "User-Agent": f"castlm/{__version__}",
                "Accept": "*/*",
                "Accept-Encoding": "gzip, deflate",  # as httpx asks; its Response decodes them
            }
        )
        self._headers.update(headers)
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._auth = auth
        self._urls: dict[str, httpx.URL] = {}  # parsed once: an LM posts to one URL

    def _request(
        self, method: str, url: str, json: Any, headers: Mapping[str, str] | None
    ) -> httpx.Request:
        merged = self._headers.copy()
        merged.update(headers or {})
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        request = httpx.Request(
            method, parsed, json=json, headers=merged, extensions={"timeout": self._timeout}
        )
        if self._auth is not None:
            request = next(self._auth.auth_flow(request))
        return request

    async def post(
        self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        request = self._request("POST", url, json, headers)
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        request = self._request(method, url, json, headers)
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()


def proxied(url: str) -> bool:
    """Whether an environment proxy (``HTTPS_PROXY`` and friends) applies to ``url``."""
    parsed = httpx.URL(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parsed.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parsed.host)
