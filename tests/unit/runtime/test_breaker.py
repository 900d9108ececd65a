"""The per-team circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from worker.runtime.breaker import (
    Breaker,
    BreakerConfig,
    BreakerState,
    FailureKind,
    lane_backoff,
)

pytestmark = pytest.mark.unit

CFG = BreakerConfig(threshold=3, window_s=10.0, probe_base_s=5.0, probe_max_s=40.0, jitter=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[Breaker, Clock]:
    clock = Clock()
    return Breaker(CFG, clock, rand=lambda: 0.5), clock


@pytest.mark.parametrize(("steps", "state", "reason"), [
    # (action, argument) in turn; the state and reason expected at the end
    ([("fail", FailureKind.FAILING)] * 2, BreakerState.CLOSED, None),
    ([("fail", FailureKind.FAILING)] * 3, BreakerState.OPEN, FailureKind.FAILING),
    ([("fail", FailureKind.FAILING), ("fail", FailureKind.FAILING), ("tick", 11.0),
      ("fail", FailureKind.FAILING)], BreakerState.CLOSED, None),
    ([("fail", FailureKind.FAILING)] * 2 + [("ok", None), ("fail", FailureKind.FAILING)],
     BreakerState.CLOSED, None),
    ([("fail", FailureKind.REFUSED)], BreakerState.OPEN, FailureKind.REFUSED),
    ([("fail", FailureKind.FAILING)] * 2 + [("fail", FailureKind.UNREACHABLE)],
     BreakerState.OPEN, FailureKind.UNREACHABLE),
    ([("fail", FailureKind.REFUSED), ("probe", True)], BreakerState.HALF_OPEN,
     FailureKind.REFUSED),
    ([("fail", FailureKind.REFUSED), ("probe", False)], BreakerState.OPEN, FailureKind.REFUSED),
    ([("fail", FailureKind.REFUSED), ("probe", True), ("ok", None)], BreakerState.CLOSED, None),
    ([("fail", FailureKind.REFUSED), ("probe", True), ("fail", FailureKind.REFUSED)],
     BreakerState.OPEN, FailureKind.REFUSED),
    ([("fail", FailureKind.REFUSED), ("ok", None)], BreakerState.OPEN, FailureKind.REFUSED),
])
def test_breaker_transitions(steps: list[tuple[str, object]], state: BreakerState,
                             reason: FailureKind | None) -> None:
    """Each sequence of failures, successes, probes and time ends in the tabled state."""
    breaker, clock = make()
    for action, arg in steps:
        if action == "fail":
            assert isinstance(arg, FailureKind)
            breaker.failure(arg)
        elif action == "ok":
            breaker.success()
        elif action == "probe":
            breaker.probe_result(bool(arg))
        else:
            assert isinstance(arg, float)
            clock.now += arg
    assert (breaker.state, breaker.reason) == (state, reason)


def test_read_only_key_stays_open_with_growing_probe_interval() -> None:
    """A key whose read probe passes but whose writes are refused never closes: each trial
    reopens the breaker with a doubled probe delay, capped, and says why."""
    breaker, clock = make()
    assert breaker.failure(FailureKind.REFUSED)
    delays = [breaker.probe_delay()]
    for _ in range(5):
        clock.now += breaker.probe_delay()
        assert breaker.probe_result(True)
        assert breaker.state is BreakerState.HALF_OPEN
        assert breaker.failure(FailureKind.REFUSED)  # the trial write is refused
        delays.append(breaker.probe_delay())
    assert breaker.state is BreakerState.OPEN
    assert breaker.read_ok_write_refused
    assert delays == [5.0, 10.0, 20.0, 40.0, 40.0, 40.0]
    clock.now += 40.0
    breaker.probe_result(True)
    assert breaker.success()  # a real write went through at last
    assert breaker.state is BreakerState.CLOSED
    assert not breaker.read_ok_write_refused


def test_suspect_while_failures_in_window() -> None:
    """A closed breaker with a recent failure is suspect until an event succeeds."""
    breaker, _ = make()
    assert not breaker.suspect
    breaker.failure(FailureKind.UNREACHABLE)
    assert breaker.suspect
    breaker.success()
    assert not breaker.suspect


@pytest.mark.parametrize(("attempt", "rand", "expected"), [
    (1, 0.5, 5.0), (2, 0.5, 10.0), (8, 0.5, 600.0), (20, 0.5, 600.0),
    (1, 0.0, 4.0), (1, 1.0, 6.0),
])
def test_lane_backoff(attempt: int, rand: float, expected: float) -> None:
    """A held lane waits 5 s doubling to 10 min, spread ±20%."""
    assert lane_backoff(attempt, rand=lambda: rand) == pytest.approx(expected)
