"""The client's per-tenant adaptive token bucket, driven by a fake clock."""

from __future__ import annotations

import pytest

from worker.pinpoint.ratelimit import RateLimitConfig, RateLimiter

pytestmark = pytest.mark.unit


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(config: RateLimitConfig | None = None) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(config or RateLimitConfig(rate=10, burst=20, headroom=1.0), clock), clock


def test_burst_then_steady_rate() -> None:
    """A full bucket lets the burst through at once, then one request per 1/rate."""
    limiter, _ = make()
    waits = [limiter.reserve("a") for _ in range(22)]
    assert waits[:20] == [0.0] * 20
    assert waits[20] == pytest.approx(0.1)
    assert waits[21] == pytest.approx(0.2)


def test_simulated_run_never_exceeds_the_limit() -> None:
    """Requests sent when told stay within burst + rate * elapsed, and use nearly all of it."""
    limiter, clock = make(RateLimitConfig(rate=10, burst=20))
    start = clock.now
    sent_at: list[float] = []
    while clock.now - start < 30:
        wait = limiter.reserve("a")
        clock.now += wait
        sent_at.append(clock.now)
    elapsed = sent_at[-1] - start
    assert len(sent_at) <= 20 + 10 * elapsed + 1
    assert len(sent_at) >= 0.9 * (20 + 10 * elapsed)


def test_headroom_keeps_slack_below_the_burst() -> None:
    """With headroom below 1 the client's burst is at least one token under the server's."""
    limiter, _ = make(RateLimitConfig(rate=10, burst=20, headroom=0.95))
    assert limiter.bucket("a").burst == 19.0
    assert limiter.current_rate("a") == pytest.approx(9.5)
    tiny, _ = make(RateLimitConfig(rate=1, burst=1, headroom=0.9))
    assert tiny.bucket("a").burst == 1.0


def test_tenants_are_independent() -> None:
    """Draining one tenant's bucket does not slow another tenant."""
    limiter, _ = make()
    for _ in range(25):
        limiter.reserve("busy")
    assert limiter.reserve("quiet") == 0.0


def test_429_cuts_rate_blocks_and_recovers_slowly() -> None:
    """A 429 cuts the rate, blocks until Retry-After, and the rate recovers over seconds."""
    limiter, clock = make()
    limiter.on_rate_limited("a", 2.0)
    assert limiter.current_rate("a") == pytest.approx(7.0)
    assert limiter.reserve("a") >= 2.0
    clock.now += 2.0
    assert limiter.current_rate("a") == pytest.approx(8.0)
    clock.now += 10.0
    assert limiter.current_rate("a") == pytest.approx(10.0)


def test_cuts_at_most_once_per_second() -> None:
    """A volley of 429s from concurrent requests cuts the rate once."""
    limiter, _ = make()
    for _ in range(5):
        limiter.on_rate_limited("a", 0.0)
    assert limiter.current_rate("a") == pytest.approx(7.0)


def test_rate_never_below_floor() -> None:
    """Repeated cuts stop at the minimum share of the ceiling."""
    limiter, clock = make()
    for _ in range(30):
        limiter.on_rate_limited("a", 0.0)
        clock.now += 1.0
        limiter.bucket("a").rate = min(limiter.bucket("a").rate, 10.0)
    assert limiter.current_rate("a") >= 1.0


def test_announced_limit_moves_the_ceiling() -> None:
    """X-RateLimit-Limit lowers (or raises) the rate the client aims at."""
    limiter, clock = make(RateLimitConfig(rate=10, burst=20, headroom=0.9))
    limiter.observe_limit("a", 5)
    assert limiter.current_rate("a") == pytest.approx(4.5)
    limiter.observe_limit("a", 20)
    clock.now += 100
    assert limiter.current_rate("a") == pytest.approx(18.0)


def test_disabled_limiter_only_honours_retry_after() -> None:
    """With limiting off nothing waits, except after a 429."""
    limiter, _ = make(RateLimitConfig(enabled=False))
    assert all(limiter.reserve("a") == 0.0 for _ in range(1000))
    limiter.on_rate_limited("a", 1.5)
    assert limiter.reserve("a") == pytest.approx(1.5)


def test_per_tenant_override() -> None:
    """A tenant can be given its own limit."""
    limiter, _ = make()
    limiter.set_tenant_limit("big", RateLimitConfig(rate=100, burst=200, headroom=1.0))
    assert all(limiter.reserve("big") == 0.0 for _ in range(200))
    assert limiter.reserve("big") == pytest.approx(0.01)


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0}, {"burst": 0}, {"headroom": 0}, {"headroom": 1.5}, {"decrease_factor": 1.0}],
)
def test_bad_config_rejected(kwargs: dict[str, float]) -> None:
    """Nonsense limits are refused at construction."""
    with pytest.raises(ValueError):
        RateLimitConfig(**kwargs)  # type: ignore[arg-type]
