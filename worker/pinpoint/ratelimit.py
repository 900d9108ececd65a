"""Per-tenant token buckets that keep the client just under each tenant's rate limit.

Pure logic with an injectable clock: :meth:`RateLimiter.reserve` says how long to wait before
sending, and the client sleeps. Reservations may take the bucket below zero, so concurrent
callers queue up in order instead of polling; when the pace changes (a 429, a lower announced
limit) the bucket's ``generation`` moves on and sleeping callers reserve again.

Adaptation: a 429 cuts the tenant's rate (multiplicatively, at most once per second), empties
its bucket and blocks it until ``Retry-After``; the rate then recovers linearly towards the
ceiling. ``X-RateLimit-Limit`` (requests per second, an assumption shared with the simulator)
moves the ceiling to what the server announces.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitConfig:
    """The limit the client assumes for a tenant until the server says otherwise."""

    rate: float = 10.0
    burst: int = 20
    #: Off: never wait except after a 429 (for benchmarks against an unlimited simulator).
    enabled: bool = True
    #: Learn from 429s and ``X-RateLimit-Limit``.
    adaptive: bool = True
    #: Share of the known limit the client aims at, to absorb clock and network jitter
    #: (below 1, the bucket also holds at least one token less than ``burst``).
    headroom: float = 0.95
    #: Rate multiplier on a 429.
    decrease_factor: float = 0.7
    #: Share of the ceiling regained per second after a cut.
    recovery_per_s: float = 0.05
    #: The rate never drops below this share of the ceiling.
    min_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        if not 0 < self.headroom <= 1 or not 0 < self.decrease_factor < 1:
            raise ValueError("headroom must be in (0, 1] and decrease_factor in (0, 1)")


class TenantBucket:
    """One tenant's bucket and adaptive rate."""

    def __init__(self, config: RateLimitConfig, now: float) -> None:
        self.config = config
        self.ceiling = config.rate * config.headroom
        self.rate = self.ceiling
        # Keep a token of slack (or the headroom's share) below the server's burst: the server
        # starts counting when the burst arrives, a little after the client sent it.
        burst = float(config.burst)
        if config.headroom < 1.0:
            burst = max(1.0, burst - max(1.0, burst * (1.0 - config.headroom)))
        self.burst = burst
        self.tokens = self.burst
        self.updated = now
        self.blocked_until = -math.inf
        self._last_cut = -math.inf
        #: Bumped when the pace changes (429, new announced limit): callers that reserved
        #: earlier re-reserve when they wake up instead of sending on a stale schedule.
        self.generation = 0

    def advance(self, now: float) -> None:
        """Refill tokens and recover the rate up to `now`."""
        dt = now - self.updated
        if dt <= 0:
            return
        cfg = self.config
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + cfg.recovery_per_s * self.ceiling * dt)
        self.tokens = min(self.burst, self.tokens + dt * self.rate)
        self.updated = now

    def reserve(self, now: float) -> float:
        """Take a token (possibly in advance) and return the seconds to wait before sending."""
        self.advance(now)
        blocked = max(0.0, self.blocked_until - now)
        if not self.config.enabled:
            return blocked
        self.tokens -= 1.0
        wait = 0.0 if self.tokens >= 0 else -self.tokens / self.rate
        return max(wait, blocked)

    def on_rate_limited(self, now: float, retry_after: float | None) -> None:
        """The server answered 429: slow down, and send nothing before Retry-After."""
        self.advance(now)
        cfg = self.config
        if cfg.adaptive and now - self._last_cut >= 1.0:
            self.rate = max(self.ceiling * cfg.min_fraction, self.rate * cfg.decrease_factor)
            self._last_cut = now
        self.tokens = 0.0  # outstanding reservations are re-made under the new pace
        self.generation += 1
        if retry_after is not None:
            self.blocked_until = max(self.blocked_until, now + retry_after)

    def observe_limit(self, now: float, limit_per_s: float) -> None:
        """The server announced its limit: aim at ``headroom`` of it."""
        if not self.config.adaptive or limit_per_s <= 0:
            return
        ceiling = limit_per_s * self.config.headroom
        if ceiling == self.ceiling:
            return
        self.advance(now)
        self.ceiling = ceiling
        if self.rate > ceiling:
            self.rate = ceiling
            self.tokens = min(self.tokens, 0.0)
            self.generation += 1


class RateLimiter:
    """Token buckets by tenant subdomain, created on first use."""

    def __init__(
        self, config: RateLimitConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or RateLimitConfig()
        self._clock = clock
        self._buckets: dict[str, TenantBucket] = {}
        self._overrides: dict[str, RateLimitConfig] = {}

    def bucket(self, subdomain: str) -> TenantBucket:
        """The tenant's bucket."""
        bucket = self._buckets.get(subdomain)
        if bucket is None:
            config = self._overrides.get(subdomain, self.config)
            bucket = self._buckets[subdomain] = TenantBucket(config, self._clock())
        return bucket

    def set_tenant_limit(self, subdomain: str, config: RateLimitConfig) -> None:
        """Use a different limit for one tenant (its bucket starts afresh)."""
        self._overrides[subdomain] = config
        self._buckets.pop(subdomain, None)

    def reserve(self, subdomain: str) -> float:
        """Seconds to wait before sending the tenant's next request."""
        return self.bucket(subdomain).reserve(self._clock())

    def generation(self, subdomain: str) -> int:
        """Changes whenever the tenant's pace changes; a waiter re-reserves when it did."""
        return self.bucket(subdomain).generation

    def on_rate_limited(self, subdomain: str, retry_after: float | None) -> None:
        """Record a 429 for the tenant."""
        self.bucket(subdomain).on_rate_limited(self._clock(), retry_after)

    def observe_limit(self, subdomain: str, limit_per_s: float) -> None:
        """Record the tenant's announced limit."""
        self.bucket(subdomain).observe_limit(self._clock(), limit_per_s)

    def current_rate(self, subdomain: str) -> float:
        """The rate the client currently aims at for the tenant (requests per second)."""
        bucket = self.bucket(subdomain)
        bucket.advance(self._clock())
        return bucket.rate
