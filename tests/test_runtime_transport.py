"""The asyncio HTTP/1.1 transport behind OpenAIChatLM's async calls."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import httpx
import pytest
from castlm._aio_http import AsyncioTransport, DirectClient, proxied
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI, free_port

REPLY = "hello"


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
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    for var in ("all_proxy", "CASTLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_headers_auth_and_connection_reuse(server: FakeOpenAI) -> None:
    url = f"http://ann:s%3Acret@127.0.0.1:{server.port}/v1"
    lm = openai_lm("m", base_url=url, headers={"X-Team": "castlm"})

    async def three() -> list[str]:
        replies = [
            await lm.acomplete(lm.request([{"role": "user", "content": str(i)}])) for i in range(3)
        ]
        await lm.aclose()
        return [r.text for r in replies]

    assert asyncio.run(three()) == [REPLY] * 3
    sent = server.chat_requests
    assert len({r.client_port for r in sent}) == 1  # one pooled connection
    auth = base64.b64encode(b"ann:s:cret").decode()
    assert sent[0].headers["authorization"] == f"Basic {auth}"
    assert sent[0].headers["x-team"] == "castlm"
    assert sent[0].headers["user-agent"].startswith("castlm/")


def test_max_connections_bounds_requests_in_flight(server: FakeOpenAI) -> None:
    server.latency = 0.02
    lm = openai_lm("m", base_url=server.base_url, max_connections=3)

    async def many() -> None:
        requests = [lm.request([{"role": "user", "content": str(i)}]) for i in range(12)]
        await asyncio.gather(*(lm.acomplete(r) for r in requests))

    asyncio.run(many())
    assert len(server.chat_requests) == 12
    assert len({r.client_port for r in server.chat_requests}) <= 3


def test_failures_are_httpx_errors() -> None:
    transport = AsyncioTransport(max_connections=1)
    client = DirectClient(transport, headers={}, timeout=1.0)

    async def refused() -> None:
        await client.post(f"http://127.0.0.1:{free_port()}/v1/x", json={})

    with pytest.raises(httpx.ConnectError):
        asyncio.run(refused())


def test_environment_proxies_are_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not proxied("https://api.example.com/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com")
    assert proxied("https://api.example.com/v1")
    assert not proxied("https://internal.example.com/v1")
    assert not proxied("http://api.example.com/v1")
