"""Retries, fallback chains, circuit breakers and rate limiters (with test clocks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import castlm as cl
import pytest
from castlm import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpenError,
    ConfigurationError,
    FallbackError,
    FallbackLM,
    LMConnectionError,
    LMError,
    LMStatusError,
    OpenAIChatLM,
    RateLimit,
    RateLimiter,
    RetryPolicy,
)
from castlm.lm._breaker import shared_breaker
from castlm.lm._ratelimit import shared_limiter
from castlm.testing import ScriptedLM
from support.clients import close_all, openai_lm
from support.clock import FakeClock
from support.fake_openai import FakeOpenAI, Fault, free_port

REPLY = "[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]"
NO_RETRY = RetryPolicy(max_retries=0)


class Question(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=REPLY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_all()


def state(breaker: CircuitBreaker) -> str:
    return breaker.state  # read through a function: each read may differ


def ask(lm: cl.LM) -> cl.LMRequest:
    return lm.request([{"role": "user", "content": "hi"}])


def unreachable() -> OpenAIChatLM:
    return openai_lm("down", base_url=f"http://127.0.0.1:{free_port()}/v1", retry=NO_RETRY)


# -- retry policy -------------------------------------------------------------------------


def test_retry_policy_backoff_jitter_and_retry_after() -> None:
    steady = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=3.0, jitter=False)
    assert [steady.backoff(n) for n in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert steady.delay(0, retry_after=10.0) == 3.0 and steady.delay(0, 0.2) == 0.2
    assert steady.can_retry(2) and not steady.can_retry(3)
    jittered = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    assert all(2.0 <= jittered.backoff(2) <= 4.0 for _ in range(50))
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_retries=-1)
    lm = openai_lm("m", base_url="http://127.0.0.1:1/v1", retry=steady)
    assert (lm.max_retries, lm.backoff_max) == (3, 3.0)


# -- fallback chains ----------------------------------------------------------------------


def test_the_next_lm_answers_when_one_fails_and_errors_are_kept() -> None:
    broken = ScriptedLM([], model="broken")
    backup = ScriptedLM([REPLY], model="backup", temperature=0.7)
    chain = FallbackLM([broken, backup])
    result = cl.Predict(Question, lm=chain)(question="?")
    assert result.answer == "yes"
    assert backup.requests[0].model == "backup" and backup.requests[0].temperature == 0.7
    assert chain.stats.calls == 1

    with pytest.raises(FallbackError, match="all 2 LMs") as info:
        FallbackLM([broken, ScriptedLM([], model="also")]).complete(ask(chain))
    assert [type(e) for e in info.value.errors] == [LMError, LMError]
    assert info.value.__cause__ is info.value.errors[-1]


def test_fallback_after_retries_run_out_and_for_streams(server: FakeOpenAI) -> None:
    flaky = openai_lm("flaky", base_url=server.base_url, retry=RetryPolicy(1, 0.001, 0.01))
    backup = ScriptedLM([REPLY, REPLY], model="backup")
    chain = FallbackLM([flaky, backup])
    server.fail(Fault.status_error(500), Fault.status_error(500))
    assert chain.complete(ask(chain)).model == "backup"
    assert len(server.chat_requests) == 2  # the first LM used its retries first
    events = list(cl.Predict(Question, lm=FallbackLM([unreachable(), backup])).stream(question="?"))
    assert isinstance(events[-1], cl.Done) and events[-1].result.answer == "yes"


def test_async_fallback_and_response_format_per_lm() -> None:
    plain = ScriptedLM(['{"answer": "yes"}'], model="plain")
    chain = FallbackLM([ScriptedLM([], model="a", structured_output="json_schema"), plain])
    request = chain.request([{"role": "user", "content": "x"}], response_format={"type": "json"})
    assert asyncio.run(chain.acomplete(request)).model == "plain"
    assert "response_format" not in plain.requests[0].payload()  # plain constrains nothing
    with pytest.raises(ConfigurationError):
        FallbackLM([])


# -- circuit breakers ---------------------------------------------------------------------


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, cooldown=10.0), clock=clock)
    down = LMConnectionError("down")
    for _ in range(2):
        breaker.before_call()
        breaker.after_call(down)
    assert state(breaker) == "closed"
    breaker.before_call()
    breaker.after_call(down)
    assert state(breaker) == "open"
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_in == pytest.approx(6.0)
    clock.advance(6.0)
    assert state(breaker) == "half_open"
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # others wait for the probe
    breaker.after_call(down)
    assert state(breaker) == "open"  # a failed probe restarts the cool-down
    clock.advance(10.0)
    breaker.before_call()
    breaker.after_call(None)
    assert state(breaker) == "closed"


def test_only_endpoint_failures_count_and_success_resets() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=2, cooldown=1.0), clock=FakeClock())
    for error in (LMStatusError("bad", status_code=400), LMStatusError("no", status_code=401)):
        breaker.before_call()
        breaker.after_call(error)
    breaker.after_call(LMStatusError("busy", status_code=429))
    breaker.after_call(None)
    breaker.after_call(LMStatusError("down", status_code=503))
    assert state(breaker) == "closed"
    breaker.after_call(LMStatusError("down", status_code=503))
    assert state(breaker) == "open"


def test_an_open_breaker_fails_fast_and_the_fallback_answers(server: FakeOpenAI) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=2, cooldown=30.0), clock=clock)
    primary = openai_lm("p", base_url=server.base_url, retry=NO_RETRY, breaker=breaker)
    server.fail(Fault.status_error(500), Fault.status_error(500))
    for _ in range(2):
        with pytest.raises(LMStatusError):
            primary.complete(ask(primary))
    with pytest.raises(CircuitOpenError):
        primary.complete(ask(primary))
    chain = FallbackLM([primary, ScriptedLM([REPLY], model="backup")])
    assert chain.complete(ask(chain)).model == "backup"
    assert len(server.chat_requests) == 2  # nothing reached the endpoint while open
    clock.advance(30.0)
    assert primary.complete(ask(primary)).text == REPLY
    assert state(breaker) == "closed"


def test_breaker_policies_are_shared_per_endpoint() -> None:
    policy = BreakerPolicy(failure_threshold=1, cooldown=60.0)
    url = f"http://127.0.0.1:{free_port()}/v1"
    first = openai_lm("a", base_url=url, retry=NO_RETRY, breaker=policy)
    second = openai_lm("b", base_url=url, retry=NO_RETRY, breaker=policy)
    with pytest.raises(LMConnectionError):
        first.complete(ask(first))
    with pytest.raises(CircuitOpenError):
        second.complete(ask(second))
    assert shared_breaker(first.cache_namespace, policy).state == "open"


# -- rate limits --------------------------------------------------------------------------


def test_request_bucket_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(requests_per_minute=60), clock=clock)
    assert [limiter.reserve() for _ in range(60)] == [0.0] * 60
    assert limiter.reserve() == pytest.approx(1.0)
    assert limiter.reserve() == pytest.approx(2.0)  # reservations queue up
    clock.advance(2.0)
    assert limiter.reserve() == pytest.approx(1.0)


def test_token_bucket_reserves_estimates_and_settles() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(tokens_per_minute=600), clock=clock)
    assert limiter.reserve(500) == 0.0
    assert limiter.reserve(200) == pytest.approx(10.0)  # 100 short at 10 tokens/s
    limiter.settle(estimated=500, actual=100)  # the first call used less than feared
    assert limiter.reserve(200) == pytest.approx(0.0)
    with pytest.raises(ConfigurationError):
        RateLimit(requests_per_minute=0)


def test_lms_draw_from_the_shared_limiter_of_their_endpoint_and_model() -> None:
    limit = RateLimit(requests_per_minute=2)
    lm = ScriptedLM([REPLY] * 3, model="limited")
    lm.rate_limit = limit
    lm.complete(ask(lm))
    same = ScriptedLM([REPLY], model="limited")
    same.rate_limit = limit
    same.complete(ask(same))
    shared = shared_limiter(lm.cache_namespace, "limited", limit)
    assert shared.reserve() > 25.0  # both calls used the one quota
    other = shared_limiter(lm.cache_namespace, "other-model", limit)
    assert other.reserve() == 0.0


def test_async_callers_wait_without_blocking_the_loop() -> None:
    limiter = RateLimiter(RateLimit(tokens_per_minute=600))
    limiter.reserve(600)  # empty: 10 tokens per second from now on
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> float:
        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        await limiter.aacquire(1)
        ticker.cancel()
        return time.monotonic() - started

    assert 0.08 <= asyncio.run(main()) < 1.0
    assert ticks >= 5
