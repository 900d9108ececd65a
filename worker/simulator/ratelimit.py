"""The simulator's per-tenant token bucket (independent of the client's limiter on purpose)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; starts full."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def start(self, now: float) -> None:
        """Anchor the bucket's clock (full) at `now`."""
        self.tokens = float(self.burst)
        self.updated = now

    def try_take(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def seconds_until_token(self, now: float) -> float:
        """How long until one whole token is available."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)

    def remaining(self, now: float) -> int:
        """Whole tokens left now."""
        self._refill(now)
        return math.floor(self.tokens)
