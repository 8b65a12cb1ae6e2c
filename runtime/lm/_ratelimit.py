"""Client-side rate limiting: requests and tokens per minute, as token buckets.

Providers enforce per-model quotas; sending past them only buys 429s and backoff. A limiter
paces requests before they leave instead. The buckets use *reservations*: a caller takes what
it needs at once, possibly driving the bucket negative, and waits until the refill would have
covered it. Callers are therefore served in arrival order, nobody polls, and one lock (never
held while waiting) serves threads and asyncio tasks alike.

Limiters are shared per endpoint and model across the process (:func:`shared_limiter`), so
every LM object, thread and task that talks to the same quota draws from the same buckets.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..base._errors import ConfigurationError

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A quota: at most ``requests_per_minute`` requests and ``tokens_per_minute`` tokens.

    ``None`` leaves that dimension unlimited. A full minute's worth may be sent as a burst,
    as providers allow; after that, requests are spaced to the refill rate.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        for value in (self.requests_per_minute, self.tokens_per_minute):
            if value is not None and value <= 0:
                raise ConfigurationError("RateLimit: limits must be > 0 (or None for no limit)")


class _Bucket:
    """``capacity`` units, refilled at ``capacity / 60`` per second; may go negative."""

    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = per_minute
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.level = min(self.capacity, self.level + elapsed * self.rate)
        self.updated = now

    def take(self, amount: float, now: float) -> float:
        """Reserve ``amount``; the seconds until the reservation is covered."""
        self._refill(now)
        self.level -= amount
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def give(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Token buckets for one quota. Thread-safe and usable from asyncio tasks.

    ``clock`` (monotonic seconds) is injectable so tests can move time without sleeping.
    """

    def __init__(self, limit: RateLimit, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.limit: RateLimit = limit
        self._requests: _Bucket | None = None
        self._tokens: _Bucket | None = None
        self.configure(limit)

    def configure(self, limit: RateLimit) -> None:
        """Switch to new limits; buckets start full again."""
        now = self._clock()
        with self._lock:
            self.limit = limit
            rpm, tpm = limit.requests_per_minute, limit.tokens_per_minute
            self._requests = _Bucket(rpm, now) if rpm is not None else None
            self._tokens = _Bucket(tpm, now) if tpm is not None else None

    def reserve(self, tokens: int = 0) -> float:
        """Take one request and ``tokens`` tokens now; the seconds to wait before sending."""
        now = self._clock()
        with self._lock:
            wait = self._requests.take(1, now) if self._requests is not None else 0.0
            if self._tokens is not None and tokens > 0:
                wait = max(wait, self._tokens.take(tokens, now))
        return wait

    def acquire(self, tokens: int = 0) -> None:
        """Reserve, then block the thread until the reservation is covered."""
        wait = self.reserve(tokens)
        if wait > 0:
            time.sleep(wait)

    async def aacquire(self, tokens: int = 0) -> None:
        """Reserve, then suspend the task until the reservation is covered."""
        wait = self.reserve(tokens)
        if wait > 0:
            await asyncio.sleep(wait)

    def settle(self, estimated: int, actual: int) -> None:
        """Correct a token reservation once the response says how many were really used."""
        if self._tokens is None or actual <= 0 or actual == estimated:
            return
        now = self._clock()
        with self._lock:
            if actual < estimated:
                self._tokens.give(estimated - actual, now)
            else:
                self._tokens.take(actual - estimated, now)

    def __repr__(self) -> str:
        return f"RateLimiter({self.limit!r})"


_registry: dict[tuple[str, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(endpoint: str, model: str, limit: RateLimit) -> RateLimiter:
    """The process-wide limiter of ``model`` at ``endpoint``, created on first use.

    A quota belongs to the endpoint and model, not to one LM object; when two objects declare
    different limits for the same quota, the latest declaration wins.
    """
    key = (endpoint, model)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(limit)
            return limiter
    if limiter.limit != limit:
        limiter.configure(limit)
    return limiter


def estimate_tokens(messages_chars: int, max_tokens: int | None) -> int:
    """A request's token cost before it is known: ~4 characters per prompt token, plus the
    completion budget when one is set (corrected with :meth:`RateLimiter.settle`)."""
    return messages_chars // 4 + (max_tokens or 0)
