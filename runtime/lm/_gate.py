"""The circuit breaker and rate limiter an LM request passes before it is sent.

An LM declares them with its ``breaker`` and ``rate_limit`` attributes: a policy
(:class:`BreakerPolicy`, :class:`RateLimit`) shares state with every LM object of the same
endpoint (and model, for quotas) in the process; an instance (:class:`CircuitBreaker`,
:class:`RateLimiter`) is used as given, e.g. with a test clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._breaker import BreakerPolicy, CircuitBreaker, shared_breaker
from ._ratelimit import RateLimit, RateLimiter, estimate_tokens, shared_limiter

if TYPE_CHECKING:
    from ._lm import LM, LMRequest, LMResponse


class Gate:
    """One request's passage: checked in before it is sent, checked out with its outcome."""

    __slots__ = ("_breaker", "_estimate", "_limiter")

    def __init__(
        self, breaker: CircuitBreaker | None, limiter: RateLimiter | None, estimate: int
    ) -> None:
        self._breaker = breaker
        self._limiter = limiter
        self._estimate = estimate

    def enter(self) -> None:
        """Fail fast if the breaker is open, then wait for the rate limit (blocking)."""
        if self._breaker is not None:
            self._breaker.before_call()
        if self._limiter is not None:
            try:
                self._limiter.acquire(self._estimate)
            except BaseException:
                self._abandon()
                raise

    async def aenter(self) -> None:
        """Fail fast if the breaker is open, then wait for the rate limit (suspending)."""
        if self._breaker is not None:
            self._breaker.before_call()
        if self._limiter is not None:
            try:
                await self._limiter.aacquire(self._estimate)
            except BaseException:
                self._abandon()
                raise

    def _abandon(self) -> None:
        if self._breaker is not None:
            self._breaker.abandon()

    def exit(self, response: LMResponse | None, error: BaseException | None) -> None:
        if self._breaker is not None:
            if error is None or isinstance(error, Exception):
                self._breaker.after_call(error)
            else:  # cancelled or interrupted: says nothing about the endpoint
                self._breaker.abandon()
        if self._limiter is not None and response is not None:
            self._limiter.settle(self._estimate, response.usage.total_tokens)


def gate_for(lm: LM, request: LMRequest) -> Gate | None:
    """The gate of one request, or None when the LM declares neither breaker nor limit."""
    breaker = _breaker(lm)
    limiter = _limiter(lm)
    if breaker is None and limiter is None:
        return None
    estimate = 0
    if limiter is not None:
        chars = sum(len(m.get("content") or "") for m in request.messages)
        estimate = estimate_tokens(chars, request.max_tokens)
    return Gate(breaker, limiter, estimate)


def _breaker(lm: LM) -> CircuitBreaker | None:
    return _checked_breaker(lm, lm.breaker)


# The checks take ``object``: a user may assign anything, whatever LM's annotations say.
def _checked_breaker(lm: LM, declared: object) -> CircuitBreaker | None:
    if declared is None or isinstance(declared, CircuitBreaker):
        return declared
    if isinstance(declared, BreakerPolicy):
        return shared_breaker(lm.cache_namespace, declared)
    raise TypeError(f"LM.breaker must be a BreakerPolicy or CircuitBreaker, not {declared!r}")


def _limiter(lm: LM) -> RateLimiter | None:
    return _checked_limiter(lm, lm.rate_limit)


def _checked_limiter(lm: LM, declared: object) -> RateLimiter | None:
    if declared is None or isinstance(declared, RateLimiter):
        return declared
    if isinstance(declared, RateLimit):
        return shared_limiter(lm.cache_namespace, lm.model, declared)
    raise TypeError(f"LM.rate_limit must be a RateLimit or RateLimiter, not {declared!r}")
