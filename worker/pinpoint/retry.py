"""Retry policy: bounded attempts, exponential backoff with full jitter, and a deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried.

    ``max_attempts`` counts requests that failed transiently (429s are not attempts);
    ``deadline`` bounds the whole operation in seconds, waits for rate limits included.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        if self.deadline <= 0:
            raise ValueError("deadline must be positive")

    def backoff_cap(self, attempt: int) -> float:
        """The upper bound of the delay after the given failed attempt (1-based)."""
        return min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a uniform delay between 0 and the exponential cap."""
        return rng.uniform(0.0, self.backoff_cap(attempt))
