"""Circuit breakers: stop calling an endpoint that keeps failing, then probe it again.

When an endpoint is down, every request waits out its timeout and its retries; a breaker
notices the run of failures and makes later calls fail at once (with
:class:`castlm.CircuitOpenError`, which a :class:`castlm.FallbackLM` answers by moving on to
the next LM). After a cool-down one trial call is let through: success closes the breaker,
failure opens it for another cool-down.

Breakers are shared per endpoint across the process (:func:`shared_breaker`): an outage seen
by one LM object or thread protects all the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..base._errors import (
    CircuitOpenError,
    ConfigurationError,
    LMConnectionError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
)

State = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``failure_threshold`` consecutive failures; probe after ``cooldown`` s."""

    failure_threshold: int = 5
    cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.cooldown < 0:
            raise ConfigurationError(
                "BreakerPolicy: failure_threshold must be >= 1 and cooldown >= 0"
            )


def is_endpoint_failure(error: BaseException) -> bool:
    """Whether ``error`` says the endpoint is unhealthy (not that the request was wrong).

    A 400 or 401 proves the endpoint is up and answering; only failures to answer, overload
    (429) and server errors count against it.
    """
    if isinstance(error, LMStatusError):
        return error.status_code is None or error.status_code == 429 or error.status_code >= 500
    return isinstance(error, LMConnectionError | LMTimeoutError | LMResponseError)


class CircuitBreaker:
    """The breaker of one endpoint. Thread-safe; ``clock`` is injectable for tests."""

    def __init__(
        self, policy: BreakerPolicy | None = None, *, name: str = "", clock: Clock = time.monotonic
    ) -> None:
        self.policy: BreakerPolicy = policy or BreakerPolicy()
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state(self._clock())

    def _state(self, now: float) -> State:
        if self._opened_at is None:
            return "closed"
        if now - self._opened_at >= self.policy.cooldown:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Let a call through, or raise :class:`CircuitOpenError`.

        In the half-open state exactly one call (the probe) goes through; the others fail
        fast until it has told whether the endpoint recovered.
        """
        now = self._clock()
        with self._lock:
            state = self._state(now)
            if state == "closed":
                return
            if state == "half_open" and not self._probing:
                self._probing = True
                return
            assert self._opened_at is not None
            retry_in = max(0.0, self._opened_at + self.policy.cooldown - now)
        raise CircuitOpenError(
            f"the circuit breaker of {self.name or 'this endpoint'} is open after "
            f"{self.policy.failure_threshold} consecutive failures; not calling it for another "
            f"{retry_in:.1f}s. Add a FallbackLM to keep answering meanwhile.",
            retry_in=retry_in,
        )

    def after_call(self, error: BaseException | None) -> None:
        """Record how a call that :meth:`before_call` let through ended."""
        with self._lock:
            self._probing = False
            if error is None or not is_endpoint_failure(error):
                self._failures = 0
                self._opened_at = None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.policy.failure_threshold:
                self._opened_at = self._clock()  # (re)open: a failed probe restarts the cool-down

    def abandon(self) -> None:
        """A call let through was cancelled: it proved nothing, so let another probe go."""
        with self._lock:
            self._probing = False

    def reset(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._probing = 0, None, False

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r})"


_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def shared_breaker(endpoint: str, policy: BreakerPolicy) -> CircuitBreaker:
    """The process-wide breaker of ``endpoint``; the latest policy declared for it applies."""
    with _registry_lock:
        breaker = _registry.get(endpoint)
        if breaker is None:
            breaker = _registry[endpoint] = CircuitBreaker(policy, name=endpoint)
        breaker.policy = policy
        return breaker
