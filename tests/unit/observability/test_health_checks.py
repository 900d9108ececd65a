"""Liveness checks beside the consumer heartbeat: the settings follower and a stuck rebalance."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiohttp
import pytest

from worker.observability.health import (
    HealthServer,
    HealthState,
    rebalance_check,
    thread_progress_check,
)
from worker.observability.metrics import Metrics

pytestmark = pytest.mark.unit


@dataclass
class FakeThread:
    """A progressing thread whose state the test sets (the health logic's only input)."""

    alive: bool = True
    age: float = 0.0
    error: BaseException | None = None
    stopped_on_request: bool = False

    def is_alive(self) -> bool:
        return self.alive

    def progress_age(self) -> float:
        return self.age


def test_thread_check_passes_while_the_thread_progresses() -> None:
    """A running thread that went round within the threshold is healthy."""
    thread = FakeThread(age=59.9)
    assert thread_progress_check("settings follower", thread, stall_after=60.0)() is None


def test_thread_check_names_the_error_of_a_dead_thread() -> None:
    """A thread that ended on its own fails, naming its error type and message."""
    thread = FakeThread(alive=False, error=ConnectionError("broker gone"))
    problem = thread_progress_check("settings follower", thread, stall_after=60.0)()
    assert problem == "settings follower thread stopped: ConnectionError: broker gone"


def test_thread_check_fails_a_wedged_thread() -> None:
    """A live thread that made no progress past the threshold fails, with its age."""
    thread = FakeThread(age=75.25)
    problem = thread_progress_check("settings follower", thread, stall_after=60.0)()
    assert problem == "settings follower made no progress for 75.2 s (threshold 60.0 s)"


def test_thread_check_accepts_a_thread_stopped_on_request() -> None:
    """A thread asked to stop (shutdown) is no failure once it ended."""
    thread = FakeThread(alive=False, stopped_on_request=True)
    assert thread_progress_check("settings follower", thread, stall_after=60.0)() is None


def test_rebalance_check_fails_only_past_the_deadline() -> None:
    """Rebalancing up to the deadline is healthy; beyond it the check names the duration."""
    seconds = [0.0]
    check = rebalance_check(lambda: seconds[0], stuck_after=300.0)
    assert check() is None
    seconds[0] = 300.0
    assert check() is None
    seconds[0] = 301.5
    assert check() == "consumer rebalancing for 301.5 s without completing (threshold 300.0 s)"


def test_failing_check_turns_liveness_off_and_is_named() -> None:
    """Any failing check makes the worker not alive; the report names each check and why."""
    health = HealthState(stall_after=60.0)
    health.heartbeat()
    thread = FakeThread()
    health.watch("settings_follower", thread_progress_check("settings follower", thread,
                                                            stall_after=60.0))
    assert health.alive
    assert health.liveness_report()["status"] == "ok"
    thread.alive, thread.error = False, RuntimeError("boom")
    assert not health.alive
    report = health.liveness_report()
    assert report["status"] == "failing"
    assert report["failing"] == {"settings_follower": "settings follower thread stopped: "
                                 "RuntimeError: boom"}
    assert report["reason"] == "settings follower thread stopped: RuntimeError: boom"
    thread.alive = True
    assert health.alive


def test_a_check_that_raises_counts_as_failing() -> None:
    """A check that cannot tell (it raised) is reported as failing, not ignored."""
    health = HealthState()
    health.heartbeat()

    def broken() -> str | None:
        raise KeyError("x")

    health.watch("broken", broken)
    assert health.failing() == {"broken": "check failed: KeyError: 'x'"}


async def test_healthz_answers_503_with_the_failing_check() -> None:
    """/healthz turns 503 with the check's reason in the body, and 200 again once it passes."""
    health = HealthState()
    health.heartbeat()
    seconds = [0.0]
    health.watch("consumer_rebalance", rebalance_check(lambda: seconds[0], stuck_after=5.0))
    async with (HealthServer(Metrics(), health, host="127.0.0.1", port=0) as server,
                aiohttp.ClientSession() as http):
        url = f"http://127.0.0.1:{server.port}/healthz"
        async with http.get(url) as resp:
            assert resp.status == 200
        seconds[0] = 9.0
        async with http.get(url) as resp:
            assert resp.status == 503
            body = json.loads(await resp.read())
        assert body["status"] == "failing"
        assert "consumer rebalancing for 9.0 s" in body["reason"]


def test_health_gauges_are_exported() -> None:
    """The rebalance duration and the follower's state are gauges on /metrics."""
    metrics = Metrics(process_metrics=False)
    metrics.consumer_rebalancing(12.5)
    metrics.settings_follower_up(False)
    text = metrics.render().decode()
    assert "pinpoint_sync_consumer_rebalancing_seconds 12.5" in text
    assert "pinpoint_sync_settings_follower_up 0.0" in text
    metrics.consumer_rebalancing(0.0)
    metrics.settings_follower_up(True)
    text = metrics.render().decode()
    assert "pinpoint_sync_consumer_rebalancing_seconds 0.0" in text
    assert "pinpoint_sync_settings_follower_up 1.0" in text
