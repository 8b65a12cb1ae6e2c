"""The OpenAI-compatible client against a local server that misbehaves on purpose.

Each fault kind has its own test, plain and streamed; then a batch of 1,000 requests under a
mix of every fault must come back with 1,000 results, each for its own input.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import castlm as cl
import pytest
from castlm import (
    LMConnectionError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
    OpenAIChatLM,
    RetryPolicy,
    StreamInterruptedError,
)
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI, Fault

REPLY = "[[ ## answer ## ]]\nforty-two\n\n[[ ## completed ## ]]"
FAST = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.01)


class Question(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Echo(cl.Signature):
    """Repeat the number."""

    n: int = cl.InputField()
    same: int = cl.OutputField()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CASTLM_BASE_URL", "OPENAI_BASE_URL", "CASTLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=REPLY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_all()


def client(server: FakeOpenAI, **kwargs: Any) -> OpenAIChatLM:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeout", 5.0)
    return openai_lm("m", base_url=server.base_url, **kwargs)


def ask(lm: OpenAIChatLM) -> cl.LMRequest:
    return lm.request([{"role": "user", "content": "hi"}])


def streamed(lm: OpenAIChatLM) -> tuple[list[str], cl.LMResponse]:
    pieces = list(lm.stream(ask(lm)))
    final = pieces.pop()
    assert isinstance(final, cl.LMResponse)
    return [p for p in pieces if isinstance(p, str)], final


# -- one fault at a time ------------------------------------------------------------------


def test_rate_limit_waits_for_retry_after(server: FakeOpenAI) -> None:
    server.fail(Fault.rate_limit(retry_after="0.2"))
    lm = client(server, retry=RetryPolicy(3, backoff_base=0.001, backoff_max=1.0))
    started = time.monotonic()
    assert asyncio.run(lm.acomplete(ask(lm))).text == REPLY
    assert time.monotonic() - started >= 0.2
    assert len(server.chat_requests) == 2


def test_server_errors_are_retried_until_the_policy_gives_up(server: FakeOpenAI) -> None:
    server.fail(Fault.status_error(500), Fault.status_error(503))
    lm = client(server)
    assert lm.complete(ask(lm)).text == REPLY
    server.fail(*[Fault.status_error(502)] * 4)
    with pytest.raises(LMStatusError, match="after 4 attempts") as info:
        lm.complete(ask(lm))
    assert info.value.status_code == 502


def test_dropped_connections_are_retried_sync_and_async(server: FakeOpenAI) -> None:
    lm = client(server)
    server.fail(Fault.drop(), Fault.drop())
    assert lm.complete(ask(lm)).text == REPLY
    server.fail(Fault.drop(), Fault.drop())
    assert asyncio.run(lm.acomplete(ask(lm))).text == REPLY
    server.fail(*[Fault.drop()] * 4)
    with pytest.raises(LMConnectionError, match="dropped"):
        asyncio.run(lm.acomplete(ask(lm)))


def test_slow_replies_time_out_and_are_retried(server: FakeOpenAI) -> None:
    lm = client(server, timeout=0.2)
    server.fail(Fault.slow(1.0))
    assert asyncio.run(lm.acomplete(ask(lm))).text == REPLY
    server.fail(*[Fault.slow(1.0)] * 2)
    once = client(server, timeout=0.2, retry=RetryPolicy(1, 0.001, 0.01))
    with pytest.raises(LMTimeoutError, match=r"did not answer within 0\.2s"):
        asyncio.run(once.acomplete(ask(once)))


def test_malformed_bodies_fail_at_once(server: FakeOpenAI) -> None:
    lm = client(server)
    server.fail(Fault.malformed())
    with pytest.raises(LMResponseError, match="not JSON"):
        asyncio.run(lm.acomplete(ask(lm)))
    assert len(server.chat_requests) == 1


def test_streams_arrive_in_order_with_usage(server: FakeOpenAI) -> None:
    lm = client(server)
    deltas, final = streamed(lm)
    assert len(deltas) > 5 and "".join(deltas) == REPLY == final.text
    assert final.usage.completion_tokens > 0 and final.finish_reason == "stop"
    body = server.chat_requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_a_stream_broken_before_any_text_is_retried(server: FakeOpenAI) -> None:
    lm = client(server)
    server.fail(Fault.broken_stream(after_chunks=0), Fault.status_error(500))
    deltas, _ = streamed(lm)
    assert "".join(deltas) == REPLY and len(server.chat_requests) == 3


def test_a_stream_broken_after_text_raises_with_what_arrived(server: FakeOpenAI) -> None:
    lm = client(server)
    server.fail(Fault.broken_stream(after_chunks=2))
    with pytest.raises(StreamInterruptedError, match="broke off") as info:
        streamed(lm)
    assert info.value.text == REPLY[:8]  # two chunks of four characters
    assert len(server.chat_requests) == 1

    async def consume() -> None:
        async for _ in lm.astream(ask(lm)):
            pass

    server.fail(Fault.broken_stream(after_chunks=1))
    with pytest.raises(StreamInterruptedError):
        asyncio.run(consume())


def test_a_stream_with_a_bad_chunk_is_a_response_error(server: FakeOpenAI) -> None:
    lm = client(server)
    server.fail(Fault.bad_chunk(after_chunks=1))
    with pytest.raises(LMResponseError, match="not JSON"):
        streamed(lm)


def test_a_server_that_ignores_stream_true_still_answers(server: FakeOpenAI) -> None:
    lm = client(server)
    whole = {"model": "m", "choices": [{"message": {"content": REPLY}, "finish_reason": "stop"}]}
    server.fail(Fault.malformed(json.dumps(whole).encode()))
    deltas, final = streamed(lm)
    assert deltas == [] and final.text == REPLY


# -- everything at once -------------------------------------------------------------------


def echo(body: dict[str, Any]) -> str:
    n = int(body["messages"][-1]["content"].split("\n")[1])
    return f"[[ ## same ## ]]\n{n}\n\n[[ ## completed ## ]]"


def mixed_faults(requests: int, seed: int) -> tuple[list[Fault], int]:
    """One fault per request in about six (spread out, so that no request meets more in a
    row than its retries allow), five of them fatal."""
    rng = random.Random(seed)
    kinds = [
        Fault.rate_limit(retry_after="0"),
        Fault.status_error(500),
        Fault.status_error(503),
        Fault.drop(),
        Fault.slow(1.0),
    ]
    faults = [rng.choice(kinds) if rng.random() < 0.15 else Fault.none() for _ in range(requests)]
    malformed = 5
    for index in rng.sample(range(requests), malformed):
        faults[index] = Fault.malformed()
    return faults, malformed


def test_a_thousand_requests_under_mixed_faults_lose_none() -> None:
    with FakeOpenAI(reply=echo) as server:
        faults, malformed = mixed_faults(1000, seed=4)
        server.fail(*faults)
        lm = openai_lm(
            "m",
            base_url=server.base_url,
            timeout=0.5,
            retry=RetryPolicy(max_retries=8, backoff_base=0.001, backoff_max=0.01),
        )
        predict = cl.Predict(Echo, lm=lm)
        inputs = [{"n": i} for i in range(1000)]
        result = asyncio.run(predict.abatch(inputs, concurrency=64))
    assert len(result) == 1000
    failed = dict(result.errors())
    assert len(failed) == malformed
    assert all(isinstance(e, LMResponseError) for e in failed.values())
    for i, outcome in enumerate(result):
        if i not in failed:
            assert isinstance(outcome, cl.Ok) and outcome.value.same == i
    assert result.usage.total.calls == 1000 - malformed


def test_threads_under_mixed_faults_lose_none() -> None:
    with FakeOpenAI(reply=echo) as server:
        faults, malformed = mixed_faults(200, seed=9)
        server.fail(*faults)
        lm = openai_lm(
            "m",
            base_url=server.base_url,
            timeout=0.5,
            retry=RetryPolicy(max_retries=8, backoff_base=0.001, backoff_max=0.01),
        )
        result = cl.Predict(Echo, lm=lm).batch([{"n": i} for i in range(200)], concurrency=16)
        lm.close()
    assert len(result) == 200 and len(result.errors()) == malformed
    assert all(o.value.same == i for i, o in enumerate(result) if isinstance(o, cl.Ok))
