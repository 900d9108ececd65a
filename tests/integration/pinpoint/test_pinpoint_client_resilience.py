"""Retries, timeouts, lost responses, 429s and the rate limiter, against injected faults."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from worker.pinpoint import (
    PinpointClient,
    RateLimitConfig,
    RateLimitedError,
    RecordKind,
    RetryPolicy,
    TenantCredentials,
    TransientError,
)
from worker.simulator import FaultConfig, RateLimitSpec, SimulatorServer

pytestmark = pytest.mark.integration

PERSON = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}


def statuses(sim: SimulatorServer, subdomain: str = "acme") -> list[Any]:
    """The statuses of the tenant's logged requests, in order."""
    return [r.status for r in sim.tenant(subdomain).requests]


async def test_5xx_retried_until_success(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer, observer: Any
) -> None:
    """Two injected 503s are retried; the third attempt succeeds."""
    sim.set_faults(FaultConfig(script=(503, 502)), tenant="acme")
    await client.probe(acme)
    assert statuses(sim) == [503, 502, 200]
    assert [r[2] for r in observer.retries] == ["5xx", "5xx"]


async def test_retry_budget_exhausted(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """After max_attempts transient failures the client raises TransientError with the count."""
    sim.set_faults(FaultConfig(error_rate=1.0, error_status=500))
    with pytest.raises(TransientError) as info:
        await client.get_candidate(acme, "1")
    assert info.value.attempts == 4
    assert info.value.status == 500
    assert len(sim.tenant("acme").requests) == 4


async def test_retry_deadline_bounds_the_operation(
    sim: SimulatorServer, acme: TenantCredentials
) -> None:
    """The deadline stops retrying before max_attempts when delays would pass it."""
    sim.set_faults(FaultConfig(error_rate=1.0))
    policy = RetryPolicy(max_attempts=50, base_delay=0.2, max_delay=0.2, deadline=0.5)
    async with PinpointClient(
        sim.base_url_template, retry=policy, rate_limit=RateLimitConfig(enabled=False)
    ) as client:
        started = time.monotonic()
        with pytest.raises(TransientError) as info:
            await client.probe(acme)
    assert time.monotonic() - started < 3.0
    assert 1 < info.value.attempts < 50


async def test_timeouts_retried(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer, observer: Any
) -> None:
    """A request whose answer never comes times out and is retried."""
    sim.set_faults(FaultConfig(script=("timeout",)), tenant="acme")
    async with PinpointClient(
        sim.base_url_template,
        total_timeout=0.3,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.02),
        rate_limit=RateLimitConfig(enabled=False),
        observer=observer,
    ) as fast:
        await fast.probe(acme)
    assert [r[2] for r in observer.requests] == ["timeout", "2xx"]
    assert observer.retries == [("acme", "probe", "timeout")]


async def test_lost_create_response_is_reconciled_not_duplicated(
    sim: SimulatorServer, acme: TenantCredentials
) -> None:
    """A create applied but never answered is found by its reference (a note by its marker),
    not sent twice."""
    sim.set_faults(FaultConfig(script=("lost_response",)), tenant="acme")
    async with PinpointClient(
        sim.base_url_template,
        total_timeout=0.3,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.02),
        rate_limit=RateLimitConfig(enabled=False),
    ) as client:
        created = await client.create_job_seeker(acme, PERSON, "sw:lost:1")
        assert len(sim.tenant("acme").records["job_seekers"]) == 1
        assert created.ref.kind is RecordKind.JOB_SEEKERS
        sim.set_faults(FaultConfig(script=("lost_response",)), tenant="acme")
        comment = await client.write_comment(acme, created.ref, "only once sw-1", "sw-1")
    assert [c.body_text for c in sim.tenant("acme").comments.values()] == ["only once sw-1"]
    assert comment.body_text == "only once sw-1"
    posts = [r for r in sim.tenant("acme").requests if r.method == "POST"]
    assert len(posts) == 2


async def test_5xx_on_create_is_reconciled(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """After a 5xx on a POST the client checks for the record before sending again."""
    sim.set_faults(FaultConfig(script=(500,)), tenant="acme")
    await client.create_application(acme, "1", PERSON, "sw:5xx:1")
    methods = [(r.method, r.status) for r in sim.tenant("acme").requests]
    assert methods == [("POST", 500), ("GET", 200), ("POST", 201)]
    assert len(sim.tenant("acme").records["applications"]) == 1


async def test_connection_errors_are_transient(acme: TenantCredentials) -> None:
    """A refused connection surfaces as TransientError, never as an aiohttp exception."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with PinpointClient(
        f"http://127.0.0.1:{port}/tenants/{{subdomain}}",
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01),
    ) as client:
        with pytest.raises(TransientError) as info:
            await client.probe(acme)
    assert info.value.reason == "connection_error"
    assert info.value.attempts == 2


async def test_429_waits_retry_after_and_is_not_an_attempt(
    sim: SimulatorServer, acme: TenantCredentials, observer: Any
) -> None:
    """A 429 is waited out for Retry-After and does not use up the retry budget."""
    sim.set_faults(FaultConfig(script=(429, 429), retry_after_s=0.6), tenant="acme")
    async with PinpointClient(
        sim.base_url_template,
        retry=RetryPolicy(max_attempts=1, base_delay=0.01, max_delay=0.01),
        observer=observer,
    ) as client:
        started = time.monotonic()
        await client.probe(acme)
        elapsed = time.monotonic() - started
    # Retry-After is sent in whole seconds (ceil): 1 s each
    assert elapsed >= 2.0
    assert statuses(sim) == [429, 429, 200]
    assert [r[2] for r in observer.retries] == ["rate_limited", "rate_limited"]
    assert sum(w for _, w in observer.waits) >= 1.9


async def test_429_beyond_deadline_raises_rate_limited(
    sim: SimulatorServer, acme: TenantCredentials
) -> None:
    """A 429 that cannot be waited out within the deadline raises RateLimitedError."""
    sim.set_faults(FaultConfig(burst_429=100, retry_after_s=5), tenant="acme")
    async with PinpointClient(sim.base_url_template, retry=RetryPolicy(deadline=1.0)) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as info:
            await client.probe(acme)
    assert time.monotonic() - started < 2.0
    assert info.value.retry_after == pytest.approx(5.0)


async def test_limiter_stays_under_the_tenant_limit(
    sim: SimulatorServer, acme: TenantCredentials
) -> None:
    """40 concurrent requests at 10/s burst 5 all succeed, none answered 429, paced by time."""
    sim.tenant("acme").set_rate_limit(RateLimitSpec(rate=10, burst=5))
    async with PinpointClient(
        sim.base_url_template, rate_limit=RateLimitConfig(rate=10, burst=5)
    ) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.probe(acme) for _ in range(40)))
        elapsed = time.monotonic() - started
    assert statuses(sim) == [200] * 40
    # 5 at once, then 35 more at 9.5/s
    assert elapsed >= 35 / 10


async def test_limiter_adapts_to_a_lower_limit(
    sim: SimulatorServer, acme: TenantCredentials
) -> None:
    """Configured too high, the client learns the limit and then stops bouncing off it."""
    sim.tenant("acme").set_rate_limit(RateLimitSpec(rate=20, burst=5))
    async with PinpointClient(
        sim.base_url_template, rate_limit=RateLimitConfig(rate=200, burst=5)
    ) as client:
        await asyncio.gather(*(client.probe(acme) for _ in range(30)))
        assert client.limiter.bucket("acme").ceiling == pytest.approx(19.0)
        first_round = statuses(sim)
        assert first_round.count(200) == 30
        await asyncio.gather(*(client.probe(acme) for _ in range(20)))
    second_round = statuses(sim)[len(first_round) :]
    assert second_round == [200] * 20


async def test_one_tenants_rate_limit_does_not_slow_another(
    sim: SimulatorServer, acme: TenantCredentials, globex: TenantCredentials
) -> None:
    """While acme waits for its limit, globex requests go straight through."""
    sim.tenant("acme").set_rate_limit(RateLimitSpec(rate=2, burst=1))
    async with PinpointClient(
        sim.base_url_template, rate_limit=RateLimitConfig(rate=2, burst=1)
    ) as client:
        slow = asyncio.gather(*(client.probe(acme) for _ in range(5)))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await client.probe(globex)
        assert time.monotonic() - started < 1.0
        await slow
