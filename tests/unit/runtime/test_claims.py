"""The claim rule (who sends an effect) against a real SQLite state store, with a driven clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.runtime.claims import (
    NotOwnedError,
    StartGate,
    Verdict,
    decide_claim,
    may_release,
)
from worker.store import SqliteStateStore
from worker.store.errors import FencedError

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def _reconcile(found: list[str | None], calls: list[datetime], clock: Clock):
    async def reconcile() -> str | None:
        calls.append(clock())
        return found.pop(0) if found else None
    return reconcile


async def test_new_claim_sends_without_reconciling(tmp_path: Path) -> None:
    """A first claim sends at once and never looks Pinpoint up."""
    clock, calls = Clock(), []
    async with SqliteStateStore(tmp_path / "s.db", clock=clock) as store:
        lease = await store.acquire_lease("t", 0, "w1", 30)
        d = await decide_claim(store, "k", team_id="a", kind="note", fence=lease.fence,
                               window_s=60, reconcile=_reconcile([], calls, clock),
                               clock=clock, sleep=clock.sleep)
    assert d.verdict is Verdict.SEND
    assert not d.reclaimed
    assert calls == []


async def test_reclaimed_waits_out_previous_window_then_reconciles(tmp_path: Path) -> None:
    """A new owner reconciles only once the fenced holder's attempt can no longer land, and
    reuses what it finds instead of sending."""
    clock, calls = Clock(), []
    async with SqliteStateStore(tmp_path / "s.db", clock=clock) as store:
        old = await store.acquire_lease("t", 0, "w1", 30)
        await store.claim_effect("k", team_id="a", kind="note", fence=old.fence,
                                 attempt_window_s=60)
        new = await store.acquire_lease("t", 0, "w2", 30)
        d = await decide_claim(store, "k", team_id="a", kind="note", fence=new.fence,
                               window_s=60, reconcile=_reconcile(["c-1"], calls, clock),
                               clock=clock, sleep=clock.sleep)
    assert d.verdict is Verdict.DONE
    assert d.pinpoint_id == "c-1"
    assert d.reclaimed
    assert calls
    assert calls[0] >= T0 + timedelta(seconds=60)


async def test_reclaimed_checks_twice_before_sending(tmp_path: Path) -> None:
    """A write landing between the first lookup and the send is found by the second look."""
    clock, calls = Clock(), []
    async with SqliteStateStore(tmp_path / "s.db", clock=clock) as store:
        old = await store.acquire_lease("t", 0, "w1", 30)
        await store.claim_effect("k", team_id="a", kind="note", fence=old.fence,
                                 attempt_window_s=5)
        new = await store.acquire_lease("t", 0, "w2", 30)
        d = await decide_claim(store, "k", team_id="a", kind="note", fence=new.fence,
                               window_s=5, reconcile=_reconcile([None, "late"], calls, clock),
                               clock=clock, sleep=clock.sleep)
    assert d.verdict is Verdict.DONE
    assert d.pinpoint_id == "late"
    assert len(calls) == 2


async def test_busy_waits_for_holder_then_reuses_done(tmp_path: Path) -> None:
    """A claim held by a live holder is not sent; once the holder completes it, its id is
    reused."""
    clock, calls = Clock(), []
    async with SqliteStateStore(tmp_path / "s.db", clock=clock) as store:
        lease = await store.acquire_lease("t", 0, "w1", 300)
        await store.claim_effect("k", team_id="a", kind="note", fence=lease.fence,
                                 attempt_window_s=60)

        async def sleep(seconds: float) -> None:
            await clock.sleep(seconds)
            await store.complete_effect("k", "c-9", fence=lease.fence)

        d = await decide_claim(store, "k", team_id="a", kind="note", fence=None,
                               window_s=60, reconcile=_reconcile([], calls, clock),
                               clock=clock, sleep=sleep)
    assert d.verdict is Verdict.DONE
    assert d.pinpoint_id == "c-9"
    assert calls == []
    assert clock.slept
    assert clock.slept[0] >= 59


async def test_fenced_claim_raises(tmp_path: Path) -> None:
    """A worker whose lease moved on cannot claim (a zombie never sends)."""
    clock = Clock()
    async with SqliteStateStore(tmp_path / "s.db", clock=clock) as store:
        old = await store.acquire_lease("t", 0, "w1", 30)
        await store.acquire_lease("t", 0, "w2", 30)
        with pytest.raises(FencedError):
            await decide_claim(store, "k", team_id="a", kind="note", fence=old.fence,
                               window_s=60, reconcile=_reconcile([], [], clock),
                               clock=clock, sleep=clock.sleep)


async def test_closed_gate_starts_nothing(tmp_path: Path) -> None:
    """With the start gate closed for its partition, a send is refused before it starts."""
    clock, gate = Clock(), StartGate()
    async with SqliteStateStore(tmp_path / "s.db", clock=clock) as store:
        lease = await store.acquire_lease("t", 0, "w1", 30)
        gate.close("t", 0)
        with pytest.raises(NotOwnedError):
            await decide_claim(store, "k", team_id="a", kind="note", fence=lease.fence,
                               window_s=60, reconcile=_reconcile([], [], clock), gate=gate,
                               clock=clock, sleep=clock.sleep)
        gate.open("t", 0)
        gate.close_all()
        assert not gate.allows(lease.fence)


async def test_release_only_when_no_attempt_may_have_landed(tmp_path: Path) -> None:
    """A refusal releases the claim only when no attempt of it can have reached Pinpoint."""
    clock = Clock()
    async with SqliteStateStore(tmp_path / "s.db", clock=clock) as store:
        old = await store.acquire_lease("t", 0, "w1", 30)
        fresh = await decide_claim(store, "a", team_id="a", kind="note", fence=old.fence,
                                   window_s=1, reconcile=_reconcile([], [], clock),
                                   clock=clock, sleep=clock.sleep)
        new = await store.acquire_lease("t", 0, "w2", 30)
        taken = await decide_claim(store, "a", team_id="a", kind="note", fence=new.fence,
                                   window_s=1, reconcile=_reconcile([], [], clock),
                                   clock=clock, sleep=clock.sleep)
    assert may_release(fresh, attempt_may_have_landed=False)
    assert not may_release(fresh, attempt_may_have_landed=True)
    assert not may_release(taken, attempt_may_have_landed=False)
