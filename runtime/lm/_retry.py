"""How long to wait before retrying a failed LM request.

One policy object serves every backend that retries on its own (the OpenAI-compatible client,
plain and streamed), so the knobs are the same everywhere and live in one place.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..base._errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries with exponential backoff and jitter, honouring a server's ``Retry-After``.

    Attempt ``n`` (0-based) waits a random time in ``[c/2, c]`` where
    ``c = min(backoff_max, backoff_base * 2**n)``; with ``jitter=False`` it waits ``c``. A
    ``Retry-After`` hint replaces the backoff, capped at ``backoff_max`` so one misbehaving
    server cannot park a caller for an hour.
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ConfigurationError(
                "RetryPolicy: max_retries, backoff_base and backoff_max must be >= 0"
            )

    def can_retry(self, attempt: int) -> bool:
        """Whether a request that failed on ``attempt`` (0-based) may be sent again."""
        return attempt < self.max_retries

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt, 60))
        # "Equal jitter": clients that failed together retry apart, yet never at once.
        return ceiling * random.uniform(0.5, 1.0) if self.jitter else ceiling

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retrying ``attempt``, given the server's hint if any."""
        if retry_after is None:
            return self.backoff(attempt)
        return min(retry_after, self.backoff_max)
