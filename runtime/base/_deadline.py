"""A deadline for a whole sync request: httpx's own timeouts bound each read, not the request.

A server that drips one byte every 0.3 s never trips a 2 s read timeout, and held a call for
79 s. :func:`within` sets a deadline for the requests made inside it; the network backend
installed by :func:`with_deadlines` gives every connect, read and write only the time left
(httpcore then raises its usual timeout, which httpx turns into ``httpx.TimeoutException``).
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
from collections.abc import Generator, Iterable
from typing import Any

import httpcore
import httpx

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "castlm_http_deadline", default=None
)
_Options = Iterable[Any] | None


@contextlib.contextmanager
def within(seconds: float) -> Generator[None, None, None]:
    """Requests made in this block (in this thread) end within ``seconds``, all included."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def with_deadlines(client: httpx.Client) -> httpx.Client:
    """``client`` with the deadline-aware backend under each of its connection pools (the
    direct one and those of environment proxies); connections are made on first use."""
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
    return client


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the request did not complete within its timeout")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _Options = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _Options = None
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
