"""The behaviour every StateStore keeps, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from worker.core.decision import CandidateState, NoteDraft
from worker.core.enums import ActionKind, DestinationKind
from worker.store import (
    SCHEMA_VERSION,
    ClaimStatus,
    EffectStatus,
    Fence,
    FencedError,
    StoreClosedError,
    UnknownEffectError,
)
from worker.store.sql import SqlStateStore

from .conftest import FakeClock, StoreMaker

pytestmark = pytest.mark.integration

WINDOW = 40.0


def note(ref: str, text: str = "text") -> NoteDraft:
    return NoteDraft(ref=ref, text=f"{text} {ref}", event_id=f"evt-{ref}")


async def claim(store: SqlStateStore, key: str, fence: Fence | None = None,
                window: float = WINDOW, team: str = "t1", kind: str = "write_comment"):  # type: ignore[no-untyped-def]
    return await store.claim_effect(key, team_id=team, kind=kind, fence=fence,
                                    attempt_window_s=window)


# -- candidates ------------------------------------------------------------------------------

async def test_unknown_candidate_is_unsynced(store: SqlStateStore) -> None:
    """A candidate never seen loads as the default, unsynced state."""
    assert await store.load_candidate("t1", "c1") == CandidateState()


async def test_mark_synced_keeps_and_replaces_the_mapping(store: SqlStateStore) -> None:
    """mark_synced records the Pinpoint ids; a second one replaces them; teams are apart."""
    await store.mark_synced("t1", "c1", pinpoint_candidate_id="pc-1",
                            record_kind=DestinationKind.JOB_SEEKER, record_id="js-1")
    assert await store.load_candidate("t1", "c1") == CandidateState(
        synced=True, pinpoint_candidate_id="pc-1", record_kind=DestinationKind.JOB_SEEKER,
        record_id="js-1",
    )
    await store.mark_synced("t1", "c1", pinpoint_candidate_id="pc-1",
                            record_kind=DestinationKind.APPLICATION, record_id="app-9")
    state = await store.load_candidate("t1", "c1")
    assert (state.record_kind, state.record_id) == (DestinationKind.APPLICATION, "app-9")
    assert await store.load_candidate("t2", "c1") == CandidateState()


async def test_pending_notes_keep_insertion_order_and_refs(store: SqlStateStore) -> None:
    """Notes load in insertion order; a pending ref is not added twice; a removed ref added
    again goes last; unknown removals do nothing; syncing keeps them."""
    for ref in ["z", "a", "m"]:
        await store.add_pending_note("t1", "c1", note(ref))
    await store.add_pending_note("t1", "c1", note("a", text="other"))
    assert (await store.load_candidate("t1", "c1")).pending_notes == (
        note("z"), note("a"), note("m"))
    await store.remove_pending_note("t1", "c1", "z")
    await store.remove_pending_note("t1", "c1", "nope")
    await store.add_pending_note("t1", "c1", note("z"))
    await store.mark_synced("t1", "c1", pinpoint_candidate_id="pc",
                            record_kind=DestinationKind.JOB_SEEKER, record_id="js")
    state = await store.load_candidate("t1", "c1")
    assert state.synced
    assert state.pending_notes == (note("a"), note("m"), note("z"))


# -- claims ----------------------------------------------------------------------------------

async def test_first_claim_is_new_and_records_an_intent(
    store: SqlStateStore, clock: FakeClock
) -> None:
    """The first claim of a key is NEW, stamped with the clock and its attempt window."""
    got = await claim(store, "k1", kind=ActionKind.WRITE_COMMENT)
    assert got.status is ClaimStatus.NEW
    assert got.attempt_until == clock.now + timedelta(seconds=WINDOW)
    record = await store.get_effect("k1")
    assert record is not None
    assert (record.key, record.team_id, record.kind, record.status) == (
        "k1", "t1", "write_comment", EffectStatus.INTENDED)
    assert type(record.kind) is str
    assert record.created_at == record.updated_at == clock.now
    assert record.created_at.utcoffset() == timedelta(0)
    assert record.attempts == 1


async def test_claim_within_a_live_window_is_busy(store: SqlStateStore, clock: FakeClock) -> None:
    """A second claim while the first attempt may still land is BUSY and changes nothing."""
    first = await claim(store, "k1")
    clock.advance(WINDOW - 1)
    again = await claim(store, "k1", team="t2", kind="other")
    assert again.status is ClaimStatus.BUSY
    assert again.previous_attempt_until == first.attempt_until
    record = await store.get_effect("k1")
    assert record is not None
    assert (record.team_id, record.kind, record.attempts) == ("t1", "write_comment", 1)


async def test_claim_after_the_window_is_reclaimed(store: SqlStateStore, clock: FakeClock) -> None:
    """Once the earlier attempt's window has passed the next claim is RECLAIMED (reconcile)."""
    first = await claim(store, "k1")
    clock.advance(WINDOW + 1)
    again = await claim(store, "k1")
    assert again.status is ClaimStatus.RECLAIMED
    assert again.previous_attempt_until == first.attempt_until
    assert again.attempt_until == clock.now + timedelta(seconds=WINDOW)
    assert await claim(store, "k1") == type(again)(
        ClaimStatus.BUSY, "k1", previous_attempt_until=again.attempt_until)
    record = await store.get_effect("k1")
    assert record is not None
    assert record.attempts == 2


async def test_claim_of_a_fenced_holder_is_reclaimed_at_once(store: SqlStateStore) -> None:
    """An intent whose holder lost its partition is RECLAIMED by the new owner even inside
    its window, and previous_attempt_until says when the old attempt can no longer land."""
    old = await store.acquire_lease("events", 3, "worker-a", 30)
    first = await claim(store, "k1", fence=old.fence)
    new = await store.acquire_lease("events", 3, "worker-b", 30)
    assert new.previous_attempts_until == first.attempt_until
    again = await claim(store, "k1", fence=new.fence)
    assert again.status is ClaimStatus.RECLAIMED
    assert again.previous_attempt_until == first.attempt_until
    record = await store.get_effect("k1")
    assert record is not None
    assert record.holder == new.fence


async def test_complete_makes_the_claim_done(store: SqlStateStore, clock: FakeClock) -> None:
    """complete_effect sets DONE and Pinpoint's id; later claims are DONE with that id; a
    second completion without id keeps it."""
    await claim(store, "k1")
    clock.advance(2)
    await store.complete_effect("k1", "cm-7", fence=None)
    await store.complete_effect("k1", None, fence=None)
    done = await store.get_effect("k1")
    assert done is not None
    assert (done.status, done.pinpoint_id, done.updated_at) == (
        EffectStatus.DONE, "cm-7", clock.now)
    clock.advance(WINDOW * 2)
    got = await claim(store, "k1")
    assert (got.status, got.pinpoint_id) == (ClaimStatus.DONE, "cm-7")


async def test_complete_unknown_effect_fails(store: SqlStateStore) -> None:
    """Completing a key that was never claimed is a programming error."""
    with pytest.raises(UnknownEffectError, match="k404"):
        await store.complete_effect("k404", "x", fence=None)
    assert await store.get_effect("k404") is None


async def test_mark_done_at_once(store: SqlStateStore) -> None:
    """mark_done leaves a DONE entry for an unknown or intended key, keeping a known id."""
    await store.mark_done("event:t1:e1", team_id="t1", kind="event", fence=None)
    first = await store.get_effect("event:t1:e1")
    assert first is not None
    assert (first.status, first.pinpoint_id) == (EffectStatus.DONE, None)
    await claim(store, "k2")
    await store.mark_done("k2", team_id="t1", kind="write_comment", pinpoint_id="cm-1",
                          fence=None)
    await store.mark_done("k2", team_id="t1", kind="write_comment", fence=None)
    second = await store.get_effect("k2")
    assert second is not None
    assert (second.status, second.pinpoint_id) == (EffectStatus.DONE, "cm-1")
    assert await store.intended_effects() == []


async def test_release_claim_forgets_only_the_holders_intent(
    store: SqlStateStore, clock: FakeClock
) -> None:
    """release_claim removes the caller's own intent, never a DONE entry nor another
    holder's claim; the next claim of a released key is NEW."""
    lease = await store.acquire_lease("events", 0, "w", 30)
    await claim(store, "mine", fence=lease.fence)
    await claim(store, "theirs")
    await claim(store, "done", fence=lease.fence)
    await store.complete_effect("done", "cm", fence=lease.fence)
    for key in ("mine", "theirs", "done", "unknown"):
        await store.release_claim(key, fence=lease.fence)
    assert await store.get_effect("mine") is None
    assert await store.get_effect("theirs") is not None
    done = await store.get_effect("done")
    assert done is not None
    assert done.status is EffectStatus.DONE
    assert (await claim(store, "mine", fence=lease.fence)).status is ClaimStatus.NEW


async def test_intended_effects_oldest_first(store: SqlStateStore, clock: FakeClock) -> None:
    """intended_effects lists open intents in claim order, by team when asked."""
    for key, team in [("d", "t1"), ("b", "t2"), ("c", "t1"), ("a", "t1")]:
        await claim(store, key, team=team)
    await store.complete_effect("c", "cm", fence=None)
    assert [r.key for r in await store.intended_effects()] == ["d", "b", "a"]
    assert [r.key for r in await store.intended_effects("t1")] == ["d", "a"]
    assert await store.intended_effects("t3") == []


async def test_claim_window_must_not_be_negative(store: SqlStateStore) -> None:
    """A negative attempt window is refused before anything is written."""
    with pytest.raises(ValueError, match="attempt_window_s"):
        await claim(store, "k", window=-1)
    assert await store.get_effect("k") is None


# -- leases and fencing ----------------------------------------------------------------------

async def test_acquire_increments_the_epoch(store: SqlStateStore, clock: FakeClock) -> None:
    """Each acquisition of a partition gets the next epoch and names the previous owner."""
    first = await store.acquire_lease("events", 1, "a", 30)
    assert (first.epoch, first.previous_owner, first.previous_attempts_until) == (1, None, None)
    assert first.expires_at == clock.now + timedelta(seconds=30)
    second = await store.acquire_lease("events", 1, "b", 30)
    assert (second.epoch, second.previous_owner) == (2, "a")
    other = await store.acquire_lease("events", 2, "a", 30)
    assert other.epoch == 1


async def test_renew_only_while_held(store: SqlStateStore, clock: FakeClock) -> None:
    """renew_lease extends a current lease and says False once it was taken over."""
    lease = await store.acquire_lease("events", 0, "a", 30)
    clock.advance(10)
    assert await store.renew_lease(lease) is True
    await store.acquire_lease("events", 0, "b", 30)
    assert await store.renew_lease(lease) is False


async def test_stale_fence_is_refused_on_every_write(store: SqlStateStore) -> None:
    """After a newer lease, claims, completions, done marks, releases and holds under the old
    fence raise FencedError and write nothing."""
    old = await store.acquire_lease("events", 0, "a", 30)
    await claim(store, "k-open", fence=old.fence)
    new = await store.acquire_lease("events", 0, "b", 30)
    with pytest.raises(FencedError, match=r"events\[0\] epoch 1"):
        await claim(store, "k-new", fence=old.fence)
    with pytest.raises(FencedError):
        await store.complete_effect("k-open", "x", fence=old.fence)
    with pytest.raises(FencedError):
        await store.mark_done("k-mark", team_id="t1", kind="event", fence=old.fence)
    with pytest.raises(FencedError):
        await store.release_claim("k-open", fence=old.fence)
    with pytest.raises(FencedError):
        await store.hold_event("t1", "c1", "events", 0, 5, b"k", b"v", [], "paused",
                               fence=old.fence)
    assert await store.get_effect("k-new") is None
    assert await store.get_effect("k-mark") is None
    opened = await store.get_effect("k-open")
    assert opened is not None
    assert opened.status is EffectStatus.INTENDED
    assert await store.held_counts() == {}
    assert (await claim(store, "k-new", fence=new.fence)).status is ClaimStatus.NEW


async def test_released_or_unknown_lease_fences(store: SqlStateStore) -> None:
    """A fence of a released lease, or of a partition never leased, is refused too."""
    lease = await store.acquire_lease("events", 0, "a", 30)
    await store.release_lease(lease)
    with pytest.raises(FencedError):
        await claim(store, "k", fence=lease.fence)
    with pytest.raises(FencedError, match="no lease"):
        await claim(store, "k", fence=Fence("events", 9, 1))
    again = await store.acquire_lease("events", 0, "b", 30)
    assert (again.epoch, again.previous_owner) == (2, None)


async def test_previous_attempts_until_is_none_once_past(
    store: SqlStateStore, clock: FakeClock
) -> None:
    """previous_attempts_until is None when no earlier attempt can still land."""
    old = await store.acquire_lease("events", 0, "a", 30)
    await claim(store, "k", fence=old.fence)
    clock.advance(WINDOW + 1)
    assert (await store.acquire_lease("events", 0, "b", 30)).previous_attempts_until is None


# -- held events -----------------------------------------------------------------------------

async def test_held_events_keep_order_and_bytes(store: SqlStateStore, clock: FakeClock) -> None:
    """Held events come back in hold order per team and candidate, bytes and headers intact,
    paged with after=, counted per team with the oldest time, and released by id."""
    ids = []
    for i, cand in enumerate(["c2", "c1", "c2", "c1"]):
        ids.append(await store.hold_event(
            "t1", cand, "events", 0, 100 + i, f"t1:{cand}".encode(), bytes([0, 255, i]),
            [("h", b"\x00\x01"), ("none", None)], "team paused", fence=None))
        clock.advance(1)
    await store.hold_event("t2", "c1", "events", 1, 7, None, None, [], "auth", fence=None)
    assert ids == sorted(ids)
    page = await store.held_events("t1", 3)
    assert [e.offset for e in page] == [100, 101, 102]
    rest = await store.held_events("t1", 10, after=page[-1].id)
    assert [e.offset for e in rest] == [103]
    assert [e.offset for e in await store.held_for_candidate("t1", "c2")] == [100, 102]
    first = page[0]
    assert (first.key, first.value, first.headers, first.reason) == (
        b"t1:c2", bytes([0, 255, 0]), (("h", b"\x00\x01"), ("none", None)), "team paused")
    counts = await store.held_counts()
    assert counts["t1"][0] == 4
    assert counts["t2"][0] == 1
    assert counts["t1"][1] == first.held_at
    assert await store.release_held([ids[0], ids[2], 999_999]) == 2
    assert [e.offset for e in await store.held_for_candidate("t1", "c2")] == []
    assert await store.release_held([]) == 0


# -- redrive memory --------------------------------------------------------------------------

async def test_redrive_is_remembered_once(store: SqlStateStore) -> None:
    """remember_redrive is True the first time, False after; redriven gives the replay id."""
    assert await store.redriven("dlq", 0, 5) is None
    assert await store.remember_redrive("dlq", 0, 5, "r-1") is True
    assert await store.remember_redrive("dlq", 0, 5, "r-2") is False
    assert await store.redriven("dlq", 0, 5) == "r-1"
    assert await store.redriven("dlq", 1, 5) is None


# -- maintenance -----------------------------------------------------------------------------

async def test_status_counts_every_table(store: SqlStateStore) -> None:
    """status names the schema version and counts rows per table, intents apart."""
    await claim(store, "open")
    await store.mark_done("e", team_id="t1", kind="event", fence=None)
    await store.acquire_lease("events", 0, "a", 30)
    await store.remember_redrive("dlq", 0, 1, "r")
    status = await store.status()
    assert status.schema_version == status.supported_version == SCHEMA_VERSION
    assert dict(status.counts) == {
        "candidates": 0, "pending_notes": 0, "leases": 1, "held_events": 0, "redrives": 1,
        "effects_intended": 1, "effects_done": 1,
    }
    assert "password" not in status.location


async def test_prune_removes_only_old_done_entries(store: SqlStateStore, clock: FakeClock) -> None:
    """prune deletes done entries and done marks older than the retention and keeps intents
    (however old), recent done entries, leases and held events."""
    await claim(store, "old-intent")
    await claim(store, "old-done")
    await store.complete_effect("old-done", "cm", fence=None)
    await store.mark_done("event:old", team_id="t1", kind="event", fence=None)
    await store.acquire_lease("events", 0, "a", 30)
    await store.hold_event("t1", "c1", "events", 0, 1, b"k", b"v", [], "r", fence=None)
    clock.advance(31 * 86400)
    await store.mark_done("event:new", team_id="t1", kind="event", fence=None)
    removed = await store.prune(timedelta(days=30))
    assert removed == {"effects_done": 1, "done_marks": 1}
    assert await store.get_effect("old-done") is None
    assert await store.get_effect("event:old") is None
    assert await store.get_effect("event:new") is not None
    assert [r.key for r in await store.intended_effects()] == ["old-intent"]
    counts = (await store.status()).counts
    assert (counts["leases"], counts["held_events"]) == (1, 1)


async def test_use_after_close_fails(make_store: StoreMaker) -> None:
    """Every method refuses a closed store; closing twice is fine; so is a store never opened."""
    store = make_store()
    with pytest.raises(StoreClosedError, match="not open"):
        await store.load_candidate("t", "c")
    async with store as entered:
        assert entered is store
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.load_candidate("t", "c")
    with pytest.raises(StoreClosedError):
        await claim(store, "k")


# -- two stores on one database --------------------------------------------------------------

async def test_two_stores_racing_get_one_new_winner_per_key(make_store: StoreMaker) -> None:
    """Two stores (two SQLite connections, two PostgreSQL pools) claiming the same keys at once
    get exactly one NEW per key; every other claim is BUSY."""
    keys = [f"race-{i}" for i in range(40)]
    async with make_store() as one, make_store() as two:
        results = await asyncio.gather(*(
            claim(s, key) for key in keys for s in (one, two, one, two)
        ))
    by_key: dict[str, list[ClaimStatus]] = {}
    for result in results:
        by_key.setdefault(result.key, []).append(result.status)
    for key in keys:
        assert sorted(by_key[key]) == sorted(
            [ClaimStatus.NEW, ClaimStatus.BUSY, ClaimStatus.BUSY, ClaimStatus.BUSY]), key


async def test_lease_taken_by_another_store_fences_this_one(make_store: StoreMaker) -> None:
    """A lease acquired through another store (another host) fences the first at once."""
    async with make_store() as one, make_store() as two:
        lease = await one.acquire_lease("events", 0, "host-a", 30)
        await claim(one, "k", fence=lease.fence)
        await two.acquire_lease("events", 0, "host-b", 30)
        with pytest.raises(FencedError):
            await one.complete_effect("k", "x", fence=lease.fence)
        assert await one.renew_lease(lease) is False


async def test_concurrent_start_migrates_once(make_store: StoreMaker) -> None:
    """Stores opening at once on a fresh database all open, and each migration runs once."""
    stores = [make_store() for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        for s in stores:
            assert (await s.status()).schema_version == SCHEMA_VERSION
        rows = await stores[0]._run(  # the table itself, not only its maximum
            lambda tx: tx.fetchall("SELECT version FROM schema_migrations ORDER BY version"),
            write=False,
        )
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    finally:
        for s in stores:
            await s.close()
