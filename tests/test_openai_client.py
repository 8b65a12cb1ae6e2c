"""OpenAIChatLM against a local fake OpenAI server: answers, retries, errors, secrets."""

from __future__ import annotations

import asyncio
import copy
import pickle
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from castlm import (
    ConfigurationError,
    LMConnectionError,
    LMRequest,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
)
from castlm.lm._cache import LMCache
from castlm.lm._openai import OpenAIChatLM, retry_after_seconds
from support.fake_openai import FakeOpenAI, Fault, free_port

MODEL = "test-model"
KEY = "sk-test-SECRET-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "say hi please"}]
ENV_VARS = ("CASTLM_BASE_URL", "OPENAI_BASE_URL", "CASTLM_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own endpoint settings must not leak into (or break) the tests.
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply="hello there") as fake:
        yield fake


_OPENED: list[OpenAIChatLM] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    # Pooled connections left to the garbage collector would warn in some later test.
    yield
    while _OPENED:
        _OPENED.pop().close()


def make_lm(base_url: str, **kwargs: Any) -> OpenAIChatLM:
    """A client with backoff scaled down so retry tests take milliseconds."""
    kwargs.setdefault("backoff_base", 0.001)
    kwargs.setdefault("backoff_max", 0.05)
    kwargs.setdefault("timeout", 5.0)
    lm = OpenAIChatLM(MODEL, base_url=base_url, **kwargs)
    _OPENED.append(lm)
    return lm


def ask(lm: OpenAIChatLM, **kwargs: Any) -> LMRequest:
    return lm.request(MESSAGES, **kwargs)


# -- plain completions --------------------------------------------------------------------


def test_sync_completion_parses_text_usage_and_finish_reason(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url)
    response = lm.complete(ask(lm))
    assert response.text == "hello there"
    assert response.model == MODEL
    assert response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 2)
    assert not response.cached
    assert lm.stats.calls == 1 and lm.stats.usage.total_tokens == 5
    [sent] = server.chat_requests
    assert sent.body == {"model": MODEL, "messages": MESSAGES}
    assert "authorization" not in sent.headers  # no key configured: local servers need none


def test_async_completion_in_several_event_loops(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url)

    async def many(close: bool) -> list[str]:
        replies = await asyncio.gather(*(lm.acomplete(ask(lm, rollout=i)) for i in range(5)))
        if close:
            await lm.aclose()
        return [r.text for r in replies]

    # Each asyncio.run is a new loop; a client pooled in the first must not leak into the next.
    # Without aclose(), asyncio.run's shutdown closes the loop's pool.
    assert asyncio.run(many(close=False)) == ["hello there"] * 5
    assert asyncio.run(many(close=True)) == ["hello there"] * 5
    assert lm.stats.calls == 10 and len(server.chat_requests) == 10


def test_request_options_are_sent_and_rollout_is_not(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url, temperature=0.3, max_tokens=50)
    rf = {"type": "json_object"}
    lm.complete(ask(lm, stop=["END"], response_format=rf, rollout=2))
    [sent] = server.chat_requests
    assert sent.body == {
        "model": MODEL,
        "messages": MESSAGES,
        "temperature": 0.3,
        "max_tokens": 50,
        "response_format": rf,
        "stop": ["END"],
    }


def test_content_as_list_of_parts_is_joined(server: FakeOpenAI) -> None:
    server.fail(
        Fault.malformed(
            b'{"choices":[{"message":{"content":[{"type":"text","text":"a"},'
            b'{"type":"text","text":"b"}]},"finish_reason":"length"}]}'
        )
    )
    lm = make_lm(server.base_url)
    response = lm.complete(ask(lm))
    assert (response.text, response.finish_reason) == ("ab", "length")
    assert response.usage.total_tokens == 0  # no usage block: zeros, not a crash


def test_connections_are_pooled_and_reopened_after_close(server: FakeOpenAI) -> None:
    with make_lm(server.base_url) as lm:
        for i in range(3):
            lm.complete(ask(lm, rollout=i))
    ports = {r.client_port for r in server.chat_requests}
    assert len(ports) == 1  # one keep-alive connection served all three
    lm.complete(ask(lm))  # a closed client opens a new pool on demand
    assert len(server.chat_requests) == 4


def test_concurrent_threads_share_one_client(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(5):
                assert lm.complete(ask(lm, rollout=worker * 10 + i)).text == "hello there"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert lm.stats.calls == 30 and len(server.chat_requests) == 30


# -- configuration ------------------------------------------------------------------------


def test_base_url_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OpenAIChatLM("m").base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-env:1/v1/")
    assert OpenAIChatLM("m").base_url == "http://openai-env:1/v1"
    monkeypatch.setenv("CASTLM_BASE_URL", "http://castlm-env:2/v1")
    assert OpenAIChatLM("m").base_url == "http://castlm-env:2/v1"
    assert OpenAIChatLM("m", base_url="http://arg:3/v1").url == "http://arg:3/v1/chat/completions"


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="not an http"):
        OpenAIChatLM("m", base_url="localhost:8000/v1")
    with pytest.raises(ConfigurationError):
        OpenAIChatLM("m", max_retries=-1)
    with pytest.raises(ConfigurationError):
        OpenAIChatLM("")


def test_key_is_read_from_the_environment_at_send_time(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    lm = make_lm(server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "openai-key")
    lm.complete(ask(lm, rollout=1))
    monkeypatch.setenv("CASTLM_API_KEY", "castlm-key")
    lm.complete(ask(lm, rollout=2))
    explicit = make_lm(server.base_url, api_key="explicit-key")
    explicit.complete(ask(explicit))
    auth = [r.headers["authorization"] for r in server.chat_requests]
    assert auth == ["Bearer openai-key", "Bearer castlm-key", "Bearer explicit-key"]


def test_custom_headers_are_sent(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url, headers={"X-Team": "castlm"})
    lm.complete(ask(lm))
    assert server.chat_requests[0].headers["x-team"] == "castlm"


def test_custom_authorization_header_wins_over_the_key(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTLM_API_KEY", KEY)
    lm = make_lm(server.base_url, headers={"Authorization": "Token gateway"})
    lm.complete(ask(lm))
    assert server.chat_requests[0].headers["authorization"] == "Token gateway"
    server.fail(Fault.status_error(401, "nope"))
    with pytest.raises(LMStatusError, match="Authorization header passed in headers="):
        lm.complete(ask(lm, rollout=1))


# -- retries ------------------------------------------------------------------------------


def test_rate_limit_retry_after_is_honoured(server: FakeOpenAI) -> None:
    server.fail(Fault.rate_limit(retry_after="1"))
    lm = make_lm(server.base_url, backoff_max=5.0)
    started = time.monotonic()
    assert lm.complete(ask(lm)).text == "hello there"
    waited = time.monotonic() - started
    assert 0.9 <= waited < 3.0  # the server's 1 s, not the 1 ms backoff
    assert len(server.chat_requests) == 2


def test_retry_after_is_capped_by_backoff_max(server: FakeOpenAI) -> None:
    server.fail(Fault.rate_limit(retry_after="120"))
    lm = make_lm(server.base_url, backoff_max=0.1)
    started = time.monotonic()
    lm.complete(ask(lm))
    assert time.monotonic() - started < 2.0


def test_retry_after_parsing() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    in_ten = format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert retry_after_seconds(in_ten, now=now) == pytest.approx(10.0)
    assert retry_after_seconds(format_datetime(now - timedelta(days=1), usegmt=True), now=now) == 0
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_then_success(server: FakeOpenAI, status: int) -> None:
    server.fail(Fault.status_error(status))
    lm = make_lm(server.base_url)
    assert lm.complete(ask(lm)).text == "hello there"
    assert len(server.chat_requests) == 2
    assert lm.stats.calls == 1  # retries are one logical call


@pytest.mark.parametrize("status", [408, 409])
@pytest.mark.parametrize("run_async", [False, True])
def test_request_timeout_and_conflict_are_retried(
    server: FakeOpenAI, status: int, run_async: bool
) -> None:
    # As the OpenAI SDK does: 408 (the server timed the request out) and 409 (a lock conflict).
    server.fail(Fault.status_error(status))
    lm = make_lm(server.base_url)
    request = ask(lm)
    reply = asyncio.run(lm.acomplete(request)) if run_async else lm.complete(request)
    assert reply.text == "hello there" and len(server.chat_requests) == 2


def test_dropped_connection_then_success(server: FakeOpenAI) -> None:
    server.fail(Fault.drop())
    lm = make_lm(server.base_url)
    assert lm.complete(ask(lm)).text == "hello there"
    assert len(server.chat_requests) == 2


def test_read_timeout_then_success(server: FakeOpenAI) -> None:
    server.fail(Fault.slow(2.0))
    lm = make_lm(server.base_url, timeout=0.3)
    assert lm.complete(ask(lm)).text == "hello there"


def test_async_retries_then_success(server: FakeOpenAI) -> None:
    server.fail(Fault.status_error(503), Fault.drop(), Fault.rate_limit("0"))
    lm = make_lm(server.base_url)
    assert asyncio.run(lm.acomplete(ask(lm))).text == "hello there"
    assert len(server.chat_requests) == 4


# -- errors once retries run out ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status", "words"),
    [
        (Fault.status_error(500), LMStatusError, 500, "after 3 attempts"),
        (Fault.rate_limit("0"), LMStatusError, 429, "rate-limiting"),
        (Fault.drop(), LMConnectionError, None, "dropped"),
    ],
)
def test_retries_exhausted(
    server: FakeOpenAI, fault: Fault, error: type[Exception], status: int | None, words: str
) -> None:
    server.fail(*[fault] * 3)
    lm = make_lm(server.base_url, max_retries=2)
    with pytest.raises(error) as caught:
        lm.complete(ask(lm))
    message = str(caught.value)
    assert server.url in message and repr(MODEL) in message and words in message
    assert getattr(caught.value, "status_code", None) == status
    assert len(server.chat_requests) == 3


def test_timeouts_exhausted(server: FakeOpenAI) -> None:
    server.fail(Fault.slow(2.0), Fault.slow(2.0))
    lm = make_lm(server.base_url, timeout=0.2, max_retries=1)
    with pytest.raises(LMTimeoutError, match=r"did not answer within 0\.2s"):
        lm.complete(ask(lm))


def test_connection_refused_names_url_model_and_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    lm = make_lm(url, max_retries=1)
    with pytest.raises(LMConnectionError) as caught:
        lm.complete(ask(lm))
    message = str(caught.value)
    assert f"could not connect to {url}/chat/completions (model '{MODEL}')" in message
    assert "connection refused" in message
    assert "Is the server running? Set CASTLM_BASE_URL or pass base_url=" in message


def test_connection_refused_async() -> None:
    lm = make_lm(f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    with pytest.raises(LMConnectionError, match="connection refused"):
        asyncio.run(lm.acomplete(ask(lm)))


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_names_env_var_and_hides_key(server: FakeOpenAI, status: int) -> None:
    # Real servers echo (part of) a wrong key; castlm must not repeat it.
    server.fail(Fault.status_error(status, f"Incorrect API key provided: {KEY}"))
    lm = make_lm(server.base_url, api_key=KEY)
    with pytest.raises(LMStatusError) as caught:
        lm.complete(ask(lm))
    message = str(caught.value)
    assert "CASTLM_API_KEY" in message and "api_key=" in message
    assert KEY not in message and KEY not in repr(caught.value)
    assert caught.value.status_code == status
    assert len(server.chat_requests) == 1  # not retried


def test_auth_failure_says_which_key_source(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTLM_API_KEY", KEY)
    server.fail(Fault.status_error(401, "nope"))
    lm = make_lm(server.base_url)
    with pytest.raises(LMStatusError, match=r"the key in \$CASTLM_API_KEY was rejected"):
        lm.complete(ask(lm))


@pytest.mark.parametrize(("status", "hint"), [(400, "rejected"), (404, "base_url"), (422, "")])
def test_other_client_errors_are_not_retried(server: FakeOpenAI, status: int, hint: str) -> None:
    server.fail(Fault.status_error(status, "bad things"))
    lm = make_lm(server.base_url)
    with pytest.raises(LMStatusError, match="bad things") as caught:
        lm.complete(ask(lm))
    assert hint in str(caught.value) and caught.value.status_code == status
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b'{"object": "chat.completion", "choices": []}', "no choices"),
        (b'{"choices": [{"message": {"role": "assistant"}}]}', "no text content"),
        (b'{"choices": [{"message": {"content": null, "refusal": "no way"}}]}', "refused"),
        (b"[1, 2]", "no choices"),
    ],
)
def test_malformed_body_is_a_response_error(server: FakeOpenAI, body: bytes, why: str) -> None:
    server.fail(Fault.malformed(body))
    lm = make_lm(server.base_url)
    with pytest.raises(LMResponseError, match=why) as caught:
        lm.complete(ask(lm))
    excerpt = body.decode()[:10]
    assert excerpt in str(caught.value) and server.url in str(caught.value)


# -- response_format fallback (more in test_structured_output.py) -------------------------


def test_a_rejected_response_format_falls_back_and_is_remembered() -> None:
    with FakeOpenAI(reply='{"a": 1}', reject_response_format=True) as server:
        lm = make_lm(server.base_url)
        rf = {"type": "json_object"}
        assert lm.complete(ask(lm, response_format=rf)).text == '{"a": 1}'
        assert lm.dialect() == "off"
        first, second = server.chat_requests
        assert "response_format" in first.body and "response_format" not in second.body
        # A request built after the switch goes out without it, in one try.
        lm.complete(ask(lm, response_format=rf))
        assert len(server.chat_requests) == 3
        assert "response_format" not in server.chat_requests[2].body


def test_response_format_fallback_async(server: FakeOpenAI) -> None:
    server.fail(Fault.reject_response_format())
    lm = make_lm(server.base_url)
    response = asyncio.run(lm.acomplete(ask(lm, response_format={"type": "json_object"})))
    assert response.text == "hello there" and lm.dialect() == "off"


def test_400_without_response_format_is_not_a_fallback(server: FakeOpenAI) -> None:
    server.fail(Fault.reject_response_format())
    lm = make_lm(server.base_url)
    with pytest.raises(LMStatusError):
        lm.complete(ask(lm))  # the request had no response_format to drop
    assert lm.dialect() == "json_schema"


# -- the key never leaks ------------------------------------------------------------------


def test_key_never_leaks(server: FakeOpenAI, tmp_path: Path) -> None:
    cache = LMCache(tmp_path / "cache.sqlite")
    lm = make_lm(server.base_url, api_key=KEY, cache=cache)
    lm.complete(ask(lm))
    cache.close()
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(lm) and KEY not in str(lm)
    assert KEY not in lm.cache_namespace and server.base_url in lm.cache_namespace
    assert KEY not in repr(vars(lm))
    assert KEY.encode() not in pickle.dumps(lm)
    for file in tmp_path.iterdir():  # the database and its WAL/shm companions
        assert KEY.encode() not in file.read_bytes()


def test_pickling_drops_an_explicit_key_but_deepcopy_keeps_it(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url, api_key=KEY)
    restored = pickle.loads(pickle.dumps(lm))
    clone = copy.deepcopy(lm)
    shallow = copy.copy(lm)
    _OPENED.extend([restored, clone, shallow])
    restored.complete(ask(restored, rollout=1))
    clone.complete(ask(clone, rollout=2))
    shallow.complete(ask(shallow, rollout=3))
    first, second, third = server.chat_requests
    assert "authorization" not in first.headers
    assert second.headers["authorization"] == third.headers["authorization"] == f"Bearer {KEY}"
    assert clone.stats is not lm.stats and clone.cache is lm.cache


def test_credentials_in_base_url_are_not_displayed(server: FakeOpenAI) -> None:
    url = server.base_url.replace("http://", "http://user:pw-secret@")
    lm = make_lm(url)
    assert "pw-secret" not in repr(lm) and "pw-secret" not in lm.cache_namespace
    assert "pw-secret" not in repr(vars(lm)) and b"pw-secret" not in pickle.dumps(lm)
    assert lm.base_url == server.base_url
    lm.complete(ask(lm))  # still sent (as basic auth) to the real endpoint
    assert server.chat_requests[0].headers["authorization"].startswith("Basic ")


# -- caching through the LM base class -----------------------------------------------------


def test_second_identical_request_is_a_cache_hit(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url, cache=LMCache())
    first = lm.complete(ask(lm))
    second = lm.complete(ask(lm))
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text and second.usage == first.usage
    assert (lm.stats.calls, lm.stats.cache_hits) == (1, 1)
    assert len(server.chat_requests) == 1
    lm.complete(ask(lm, rollout=1))  # another rollout is another request
    lm.complete(ask(lm), use_cache=False)
    assert (lm.stats.calls, lm.stats.cache_hits) == (3, 1)


def test_cache_is_scoped_by_endpoint(server: FakeOpenAI) -> None:
    cache = LMCache()
    make_lm(server.base_url, cache=cache).complete(ask(make_lm(server.base_url)))
    with FakeOpenAI(reply="other") as other:
        lm = make_lm(other.base_url, cache=cache)
        assert lm.complete(ask(lm)).text == "other"  # same model name, different server


def test_async_cache_hit(server: FakeOpenAI) -> None:
    lm = make_lm(server.base_url, cache=LMCache())

    async def twice() -> tuple[bool, bool]:
        a = await lm.acomplete(ask(lm))
        b = await lm.acomplete(ask(lm))
        return a.cached, b.cached

    assert asyncio.run(twice()) == (False, True)
    assert len(server.chat_requests) == 1
