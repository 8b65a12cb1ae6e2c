"""The litellm extra for real: LiteLLMLM and ``litellm/...`` names against a local fake server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from castlm import ConfigurationError, LMStatusError, make_lm
from castlm.lm._fallback import FallbackLM
from castlm.lm._litellm import LiteLLMLM
from castlm.lm._retry import RetryPolicy
from support.fake_openai import FakeOpenAI, Fault, free_port

pytest.importorskip("litellm")

KEY = "sk-litellm-SECRET-0123456789"
MESSAGES = [{"role": "user", "content": "hello"}]
FAST = RetryPolicy(max_retries=2, backoff_base=0.0)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # (conftest.py keeps litellm from downloading its price list)
    for var in ("CASTLM_BASE_URL", "CASTLM_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply="from the fake") as fake:
        yield fake


def test_litellm_name_uses_castlm_environment(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `castlm compile --lm litellm/... --base-url` hands the verification replay.
    monkeypatch.setenv("CASTLM_BASE_URL", server.base_url)
    monkeypatch.setenv("CASTLM_API_KEY", KEY)
    lm = make_lm("litellm/openai/test-model")
    assert lm.complete(lm.request(MESSAGES)).text == "from the fake"
    (request,) = server.chat_requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "test-model"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_transient_statuses_are_retried_without_tenacity(server: FakeOpenAI, status: int) -> None:
    server.fail(Fault.status_error(status, "try later"))
    lm = LiteLLMLM("openai/test-model", base_url=server.base_url, api_key=KEY, retry=FAST)
    assert lm.complete(lm.request(MESSAGES)).text == "from the fake"
    assert len(server.chat_requests) == 2


def test_async_retry(server: FakeOpenAI) -> None:
    server.fail(Fault.status_error(503, "busy"))
    lm = LiteLLMLM("openai/test-model", base_url=server.base_url, api_key=KEY, retry=FAST)
    assert asyncio.run(lm.acomplete(lm.request(MESSAGES))).text == "from the fake"
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize("run_async", [False, True])
def test_refused_key_is_an_lm_error_without_the_key(server: FakeOpenAI, run_async: bool) -> None:
    server.fail(Fault.echo_auth(401))
    lm = LiteLLMLM("openai/test-model", base_url=server.base_url, api_key=KEY, retry=FAST)
    request = lm.request(MESSAGES)
    with pytest.raises(LMStatusError, match="API key is missing or wrong") as caught:
        asyncio.run(lm.acomplete(request)) if run_async else lm.complete(request)
    assert caught.value.status_code == 401 and KEY not in str(caught.value)
    assert len(server.chat_requests) == 1  # a refused key is not retried


def test_fallback_moves_on_from_a_dead_litellm_endpoint(server: FakeOpenAI) -> None:
    dead = LiteLLMLM(
        "openai/test-model",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        api_key=KEY,
        retry=RetryPolicy(max_retries=0),
    )
    alive = LiteLLMLM("openai/test-model", base_url=server.base_url, api_key=KEY)
    chain = FallbackLM([dead, alive])
    assert chain.complete(chain.request(MESSAGES)).text == "from the fake"


def test_key_with_a_newline_is_refused_before_sending(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTLM_API_KEY", KEY + "\n")
    lm = LiteLLMLM("openai/test-model", base_url=server.base_url)
    with pytest.raises(ConfigurationError, match="newline") as caught:
        lm.complete(lm.request(MESSAGES))
    assert KEY not in str(caught.value) and server.chat_requests == []
