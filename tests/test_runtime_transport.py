"""OpenAIChatLM's HTTP transports: aiohttp for async calls, httpx for sync ones.

Both honour environment proxies, bound a whole attempt by ``timeout`` and report every
failure as a castlm LMError.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import castlm as cl
import httpx
import pytest
from castlm import LMConnectionError, LMTimeoutError
from castlm.lm._aio_client import AiohttpClient
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI, Fault, free_port
from support.slow_servers import DrippingServer, ForwardingProxy, TLSServer

REPLY = "hello"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=REPLY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_all()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*PROXY_VARS, "NO_PROXY", "no_proxy", "CASTLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def _ask(lm: cl.OpenAIChatLM, text: str = "hi") -> cl.LMRequest:
    return lm.request([{"role": "user", "content": text}])


def _acomplete(lm: cl.OpenAIChatLM, text: str = "hi") -> str:
    async def main() -> str:
        try:
            return (await lm.acomplete(_ask(lm, text))).text
        finally:
            await lm.aclose()

    return asyncio.run(main())


def test_headers_auth_and_connection_reuse(server: FakeOpenAI) -> None:
    url = f"http://ann:s%3Acret@127.0.0.1:{server.port}/v1"
    lm = openai_lm("m", base_url=url, headers={"X-Team": "castlm"})

    async def three() -> list[str]:
        replies = [await lm.acomplete(_ask(lm, str(i))) for i in range(3)]
        await lm.aclose()
        return [r.text for r in replies]

    assert asyncio.run(three()) == [REPLY] * 3
    sent = server.chat_requests
    assert len({r.client_port for r in sent}) == 1  # one pooled connection
    auth = base64.b64encode(b"ann:s:cret").decode()
    assert sent[0].headers["authorization"] == f"Basic {auth}"
    assert sent[0].headers["x-team"] == "castlm"
    assert sent[0].headers["user-agent"].startswith("castlm/")
    assert sent[0].headers["content-type"] == "application/json"


def test_max_connections_bounds_requests_in_flight(server: FakeOpenAI) -> None:
    server.latency = 0.02
    lm = openai_lm("m", base_url=server.base_url, max_connections=3)

    async def many() -> None:
        await asyncio.gather(*(lm.acomplete(_ask(lm, str(i))) for i in range(12)))
        await lm.aclose()

    asyncio.run(many())
    assert len(server.chat_requests) == 12
    assert len({r.client_port for r in server.chat_requests}) <= 3


def test_the_default_pool_does_not_cap_a_caller_at_100_requests_in_flight(
    server: FakeOpenAI,
) -> None:
    # The pool used to hold 100 connections: a caller at concurrency 256 had 156 calls queued
    # behind it, and async throughput stopped at 100 / latency.
    server.latency = 0.5
    lm = openai_lm("m", base_url=server.base_url)

    async def many() -> None:
        await asyncio.gather(*(lm.acomplete(_ask(lm, str(i))) for i in range(120)))
        await lm.aclose()

    asyncio.run(many())
    # All 120 open their connections long before the first answer; "> 100" leaves room for a
    # stalled machine, where an early answer could free a connection for a late request.
    assert len({r.client_port for r in server.chat_requests}) > 100


ODD_BODIES = [
    ("café fermé".encode("latin-1"), "text/plain; charset=latin-1"),
    (b"\xff\xfe not UTF-8", "text/plain"),
    (b"ok", "text/plain; charset=no-such-charset"),
    (b'{"error": {"message": "no such model"}}', "application/json"),
    (b'{"choices": []}', "application/json"),
]


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [(404, *b) for b in ODD_BODIES] + [(200, *b) for b in ODD_BODIES],
)
def test_an_answer_reads_the_same_on_both_paths(
    server: FakeOpenAI, status: int, body: bytes, content_type: str
) -> None:
    # The async path reads aiohttp's answer itself instead of through an httpx.Response: the
    # text it quotes (charset, undecodable bytes) and the JSON it parses must stay httpx's.
    lm = openai_lm("m", base_url=server.base_url, max_retries=0)
    said = []
    for run in (lambda: lm.complete(_ask(lm)).text, lambda: _acomplete(lm)):
        server.fail(Fault("raw", status=status, body=body, headers={"Content-Type": content_type}))
        with pytest.raises(cl.LMError) as caught:
            run()
        said.append((type(caught.value), str(caught.value)))
    assert said[0] == said[1]


def test_retry_after_is_read_from_the_async_answer(server: FakeOpenAI) -> None:
    lm = openai_lm("m", base_url=server.base_url, max_retries=1, backoff_base=0.0)
    server.fail(Fault.status_error(503, headers={"retry-AFTER": "0.4"}))
    started = time.monotonic()
    assert _acomplete(lm) == REPLY
    assert time.monotonic() - started >= 0.4  # the header's wait, not the zero backoff


def test_failures_are_httpx_errors() -> None:
    client = AiohttpClient(
        headers={}, timeout=1.0, ssl_context=httpx.create_ssl_context(), max_connections=10
    )

    async def refused() -> None:
        try:
            await client.post(f"http://127.0.0.1:{free_port()}/v1/x", json={})
        finally:
            await client.aclose()

    with pytest.raises(httpx.ConnectError):
        asyncio.run(refused())


def test_a_refused_connection_is_an_lm_error_on_the_async_path() -> None:
    lm = openai_lm("m", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    with pytest.raises(LMConnectionError, match="connection refused"):
        _acomplete(lm)


@pytest.mark.parametrize("path", ["sync", "async"])
def test_environment_proxies_are_used(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    with ForwardingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        lm = openai_lm("m", base_url=server.base_url, max_retries=0)
        text = lm.complete(_ask(lm)).text if path == "sync" else _acomplete(lm)
    assert text == REPLY
    assert proxy.seen == [f"{server.base_url}/chat/completions"]


@pytest.mark.parametrize("path", ["sync", "async"])
def test_an_https_endpoint_is_reached_through_a_connect_tunnel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # Hosted LM APIs are HTTPS: behind a corporate proxy the client must tunnel with CONNECT
    # and still verify the endpoint's own certificate (SSL_CERT_FILE) through the tunnel.
    with TLSServer(tmp_path) as tls, ForwardingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
        lm = openai_lm("m", base_url=tls.base_url, max_retries=0)
        text = lm.complete(_ask(lm)).text if path == "sync" else _acomplete(lm)
    assert text == REPLY
    assert proxy.seen == [f"CONNECT {urlsplit(tls.base_url).netloc}"]


@pytest.mark.parametrize("path", ["sync", "async"])
def test_no_proxy_bypasses_the_proxy(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    with ForwardingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        lm = openai_lm("m", base_url=server.base_url, max_retries=0)
        text = lm.complete(_ask(lm)).text if path == "sync" else _acomplete(lm)
    assert text == REPLY and proxy.seen == []


@pytest.mark.parametrize("path", ["sync", "async"])
def test_timeout_bounds_the_whole_attempt(path: str) -> None:
    # The server sends a byte every 0.3 s: no single read ever waits 2 s, and the whole
    # answer takes over a minute. Without a whole-attempt deadline the call would succeed.
    with DrippingServer(interval=0.3) as dripping:
        lm = openai_lm("m", base_url=dripping.base_url, timeout=2.0, max_retries=0)
        with pytest.raises(LMTimeoutError, match="within 2s"):
            lm.complete(_ask(lm)) if path == "sync" else _acomplete(lm)
        assert dripping.finished == 0


def test_a_header_aiohttp_refuses_is_an_lm_error_so_fallback_falls_back(
    server: FakeOpenAI,
) -> None:
    with pytest.raises(cl.ConfigurationError, match="carriage return"):  # refused up front
        openai_lm("m", base_url=server.base_url, headers={"X-Bad": "a\r\nb"})
    # A value that reaches the transport anyway (set after construction) is still an LMError.
    bad = openai_lm("m", base_url=server.base_url, headers={"X-Bad": "ok"}, max_retries=0)
    bad._headers["X-Bad"] = "a\r\nb"
    with pytest.raises(LMConnectionError, match="could not send a request"):
        _acomplete(bad)
    good = openai_lm("m", base_url=server.base_url)
    chain = cl.FallbackLM([bad, good])

    async def main() -> str:
        try:
            return (await chain.acomplete(_ask(good))).text
        finally:
            await bad.aclose()
            await good.aclose()

    assert asyncio.run(main()) == REPLY


@pytest.mark.parametrize("path", ["sync", "async"])
def test_tls_is_verified_against_ssl_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with TLSServer(tmp_path) as tls:
        untrusted = openai_lm("m", base_url=tls.base_url, max_retries=0)
        with pytest.raises(LMConnectionError, match=r"(?i)certificate"):
            untrusted.complete(_ask(untrusted)) if path == "sync" else _acomplete(untrusted)
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
        trusted = openai_lm("m", base_url=tls.base_url, max_retries=0)
        text = trusted.complete(_ask(trusted)).text if path == "sync" else _acomplete(trusted)
    assert text == REPLY


def test_async_calls_use_no_worker_thread(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp with trust_env looks the proxy up in asyncio's default executor on every
    # request; castlm reads the environment once per URL instead.
    lm = openai_lm("m", base_url=server.base_url)
    used: list[object] = []

    async def main() -> list[str]:
        first = await lm.acomplete(_ask(lm))  # connects (name resolution may use a thread)
        loop = asyncio.get_running_loop()
        original = loop.run_in_executor

        def counting(*args: object) -> object:
            used.append(args[1])
            return original(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(loop, "run_in_executor", counting)
        rest = await asyncio.gather(*(lm.acomplete(_ask(lm, str(i))) for i in range(3)))
        await lm.aclose()
        return [first.text, *(r.text for r in rest)]

    assert asyncio.run(main()) == [REPLY] * 4
    assert used == []
