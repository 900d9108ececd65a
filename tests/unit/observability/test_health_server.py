"""Liveness, readiness and the HTTP server of /metrics, /healthz and /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from worker.observability.health import HealthServer, HealthState, ReadinessCondition
from worker.observability.metrics import Metrics

pytestmark = pytest.mark.unit


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock) -> HealthState:
    return HealthState(stall_after=60.0, clock=clock)


def test_not_ready_until_every_condition(health: HealthState) -> None:
    """Readiness waits for the group, the store and the settings, naming what is missing."""
    assert not health.ready
    assert health.missing() == ["group_joined", "store_opened", "settings_loaded"]
    health.condition_met(ReadinessCondition.STORE_OPENED)
    health.condition_met(ReadinessCondition.GROUP_JOINED)
    assert health.readiness_report() == {"status": "not_ready", "missing": ["settings_loaded"]}
    health.condition_met(ReadinessCondition.SETTINGS_LOADED)
    assert health.ready
    assert health.readiness_report() == {"status": "ready"}


def test_mark_ready_meets_all_conditions(health: HealthState) -> None:
    """mark_ready turns the worker ready at once, and it stays ready."""
    health.mark_ready()
    health.condition_met(ReadinessCondition.GROUP_JOINED)
    assert health.ready
    assert health.missing() == []


def test_stopping_turns_readiness_off_not_liveness(health: HealthState) -> None:
    """Once shutdown begins the worker is not ready, but still alive."""
    health.mark_ready()
    health.heartbeat()
    health.mark_stopping()
    assert not health.ready
    assert health.missing() == ["stopping"]
    assert health.alive


def test_alive_while_heartbeats_arrive(health: HealthState, clock: Clock) -> None:
    """Liveness holds within the stall threshold and is lost beyond it, then recovers."""
    assert health.alive
    clock.now += 60.0
    assert health.alive
    clock.now += 0.5
    assert not health.alive
    assert "no consumer poll for 60.5 s" in health.liveness_report()["reason"]
    health.heartbeat()
    assert health.alive
    clock.now += 61.0
    report = health.liveness_report()
    assert report["status"] == "stalled"
    assert report["heartbeat_age_seconds"] == 61.0
    assert "no consumer heartbeat" in report["reason"]


def test_stall_threshold_must_be_positive() -> None:
    """A zero or negative stall threshold is refused."""
    with pytest.raises(ValueError, match="stall_after"):
        HealthState(stall_after=0)


def test_default_stall_threshold_is_a_minute() -> None:
    """Without an explicit threshold the worker is declared stalled after 60 s."""
    assert HealthState().stall_after == 60.0


def test_port_before_start_fails() -> None:
    """Asking for the bound port before start is an error."""
    with pytest.raises(RuntimeError, match="not started"):
        _ = HealthServer(Metrics(), HealthState(), host="127.0.0.1", port=0).port


@pytest.fixture
async def server(health: HealthState) -> AsyncIterator[HealthServer]:
    metrics = Metrics()
    metrics.dead_lettered("invalid_event")
    async with HealthServer(metrics, health, host="127.0.0.1", port=0) as running:
        yield running


async def get(server: HealthServer, path: str) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}{path}") as response,
    ):
        return response.status, response.headers["Content-Type"], await response.read()


async def test_metrics_endpoint(server: HealthServer) -> None:
    """/metrics serves Prometheus text with its content type."""
    status, content_type, body = await get(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b'pinpoint_sync_dead_letters_total{reason="invalid_event"} 1.0' in body


async def test_healthz_reports_stall(server: HealthServer, clock: Clock) -> None:
    """/healthz answers 200 while heartbeats arrive and 503 with a reason once stalled."""
    status, content_type, _ = await get(server, "/healthz")
    assert (status, content_type) == (200, "application/json; charset=utf-8")
    clock.now += 120
    status, _, body = await get(server, "/healthz")
    assert status == 503
    assert b'"status": "stalled"' in body
    assert b"threshold 60.0 s" in body


async def test_readyz_lists_what_is_missing(server: HealthServer, health: HealthState) -> None:
    """/readyz answers 503 naming the missing conditions, then 200 once ready."""
    status, _, body = await get(server, "/readyz")
    assert status == 503
    assert b"settings_loaded" in body
    health.mark_ready()
    status, _, body = await get(server, "/readyz")
    assert (status, body) == (200, b'{"status": "ready"}')


async def test_index_and_unknown_paths(server: HealthServer) -> None:
    """The root lists the endpoints; other paths are 404."""
    status, _, body = await get(server, "/")
    assert status == 200
    assert b"/metrics" in body
    status, _, _ = await get(server, "/nope")
    assert status == 404


async def test_start_and_stop_are_idempotent(health: HealthState) -> None:
    """Starting twice keeps one listener; stopping twice is harmless; the port is freed."""
    server = HealthServer(Metrics(), health, host="127.0.0.1", port=0)
    await server.start()
    await server.start()
    port = server.port
    await server.stop()
    await server.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/healthz")


async def test_port_in_use_fails_to_start(server: HealthServer, health: HealthState) -> None:
    """A second server on a taken port raises OSError on start."""
    other = HealthServer(Metrics(), health, host="127.0.0.1", port=server.port)
    with pytest.raises(OSError, match="address"):
        await other.start()
