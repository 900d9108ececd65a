"""KeyOrderedScheduler with ``settle``: records finished at once, without a lane, and offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from worker.kafka.records import InboundRecord, PartitionId
from worker.runtime.scheduler import KeyOrderedScheduler, ProcessResult, SchedulerLimits

pytestmark = pytest.mark.unit

TP0 = PartitionId("events", 0)
TP1 = PartitionId("events", 1)

SETTLE = b"settle"
"""The value of records the harness's settle accepts; any other value is declined."""


def rec(tp: PartitionId, offset: int, key: str | None, value: bytes = SETTLE) -> InboundRecord:
    """A record of ``tp`` at ``offset`` with a text key (or none); settled unless its value
    says otherwise."""
    return InboundRecord(tp=tp, offset=offset, key=key.encode() if key is not None else None,
                         value=value, headers=(), timestamp_ms=0)


def lane(tp: PartitionId, offset: int, key: str | None) -> InboundRecord:
    """A record the harness's settle declines: it goes through its lane and process."""
    return rec(tp, offset, key, b"lane")


class Harness:
    """A scheduler whose settle and process the test steers, with what they saw recorded."""

    def __init__(self, *, gated: bool = False, sync_settle: bool = False) -> None:
        self.offered: list[InboundRecord] = []
        self.callbacks: dict[tuple[PartitionId, int], Callable[[], None]] = {}
        self.started: list[InboundRecord] = []
        self.finished: list[InboundRecord] = []
        self.gates: dict[tuple[PartitionId, int], asyncio.Event] = {}
        self.gated = gated
        self.sync_settle = sync_settle
        self.scheduler = KeyOrderedScheduler(
            self.process, SchedulerLimits(),
            pause=lambda tps: None, resume=lambda tps: None, settle=self.settle,
        )

    def settle(self, record: InboundRecord, done: Callable[[], None]) -> bool:
        self.offered.append(record)
        if record.value != SETTLE:
            return False
        if self.sync_settle:
            done()
        else:
            self.callbacks[(record.tp, record.offset)] = done
        return True

    def call_back(self, *records: InboundRecord) -> None:
        """Report the settled ``records`` complete (their outcome acknowledged)."""
        for record in records:
            self.callbacks.pop((record.tp, record.offset))()

    def gate(self, record: InboundRecord) -> asyncio.Event:
        return self.gates.setdefault((record.tp, record.offset), asyncio.Event())

    def release(self, *records: InboundRecord) -> None:
        for record in records:
            self.gate(record).set()

    async def process(self, record: InboundRecord) -> ProcessResult:
        self.started.append(record)
        if self.gated:
            await self.gate(record).wait()
        else:
            await asyncio.sleep(0)
        self.finished.append(record)
        return ProcessResult.DONE

    async def run_loop(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)


def offsets(records: list[InboundRecord]) -> list[int]:
    return [r.offset for r in records]


# ---- settled records ----------------------------------------------------------------------------


async def test_settled_record_takes_no_lane_and_is_never_processed() -> None:
    """A record settle accepts is not processed and takes no lane; its offset becomes
    committable only once its callback is called."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    first, second = rec(TP0, 10, "acme:c1"), rec(TP0, 11, "acme:c2")
    s.submit([first, second])
    await h.run_loop()
    assert h.offered == [first, second]
    assert h.started == []
    assert s.inflight == 0
    assert s.buffered == 0
    assert s.commit_points() == {}
    h.call_back(first)
    assert s.commit_points() == {TP0: 11}
    h.call_back(second)
    assert s.commit_points() == {TP0: 12}
    assert h.started == []


async def test_callbacks_out_of_order_commit_only_the_contiguous_prefix() -> None:
    """Settled records completing out of order only ever commit the completed prefix."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    records = [rec(TP0, n, f"acme:c{n}") for n in range(5)]
    s.submit(records)
    h.call_back(records[3], records[1])
    assert s.commit_points() == {}
    h.call_back(records[0])
    assert s.commit_points() == {TP0: 2}
    s.mark_committed({TP0: 2})
    h.call_back(records[4])
    assert s.commit_points() == {}
    h.call_back(records[2])
    assert s.commit_points() == {TP0: 5}


async def test_settled_and_processed_records_share_the_commit_order() -> None:
    """A processed record finishing first does not commit past a settled one still waiting for
    its callback, and vice versa."""
    h = Harness(gated=True)
    s = h.scheduler
    s.assign([TP0])
    settled, processed, settled_late = (rec(TP0, 0, "acme:a"), lane(TP0, 1, "acme:b"),
                                        rec(TP0, 2, "acme:c"))
    s.submit([settled, processed, settled_late])
    await h.run_loop()
    assert h.started == [processed]
    h.release(processed)
    await h.run_loop()
    assert h.finished == [processed]
    assert s.commit_points() == {}
    h.call_back(settled)
    assert s.commit_points() == {TP0: 2}
    h.call_back(settled_late)
    assert s.commit_points() == {TP0: 3}


async def test_callback_within_settle_completes_at_once() -> None:
    """A settle that reports completion before it returns leaves nothing outstanding."""
    h = Harness(sync_settle=True)
    s = h.scheduler
    s.assign([TP0])
    s.submit([rec(TP0, 0, "acme:a"), rec(TP0, 1, "acme:b")])
    assert s.settling == 0
    assert s.idle
    assert s.commit_points() == {TP0: 2}


async def test_declined_record_goes_through_process() -> None:
    """A record settle declines runs through its lane and process as before, and commits when
    processed."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    record = lane(TP0, 0, "acme:a")
    s.submit([record])
    assert h.offered == [record]
    assert s.settling == 0
    await h.run_loop()
    assert h.finished == [record]
    assert s.commit_points() == {TP0: 1}
    assert s.idle


async def test_keyless_record_may_be_settled() -> None:
    """A record without a key is offered to settle like any other."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    record = rec(TP0, 0, None)
    s.submit([record])
    assert h.offered == [record]
    assert s.settling == 1
    h.call_back(record)
    assert s.commit_points() == {TP0: 1}


# ---- per-key order ------------------------------------------------------------------------------


async def test_record_of_a_key_with_a_running_lane_is_not_offered() -> None:
    """While a key's record runs, later records of that key are not offered to settle: they
    wait in its lane and are processed after it, in order; other keys are still offered."""
    h = Harness(gated=True)
    s = h.scheduler
    s.assign([TP0])
    head = lane(TP0, 0, "acme:a")
    behind = rec(TP0, 1, "acme:a")
    other = rec(TP0, 2, "acme:b")
    s.submit([head, behind, other])
    await h.run_loop()
    assert h.offered == [head, other]
    assert h.started == [head]
    assert s.buffered == 1
    h.release(head, behind)
    await h.run_loop()
    assert h.finished == [head, behind]
    assert s.commit_points() == {TP0: 2}  # the other key's record still waits for its callback
    h.call_back(other)
    assert s.commit_points() == {TP0: 3}


async def test_record_of_a_key_with_waiting_records_is_not_offered() -> None:
    """A key whose lane holds a waiting record (behind a running one) keeps every later record
    of the key in its lane, even one settle would accept."""
    h = Harness(gated=True)
    s = h.scheduler
    s.assign([TP0])
    first, second = lane(TP0, 0, "acme:a"), lane(TP0, 1, "acme:a")
    s.submit([first, second])
    third = rec(TP0, 2, "acme:a")
    s.submit([third])
    await h.run_loop()
    assert h.offered == [first]
    h.release(first, second, third)
    await h.run_loop()
    assert h.finished == [first, second, third]
    assert s.commit_points() == {TP0: 3}


async def test_key_is_offered_again_once_its_lane_is_empty() -> None:
    """Once a key's lane has run dry, its next record is offered to settle again."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    s.submit([lane(TP0, 0, "acme:a")])
    await h.run_loop()
    assert s.idle
    later = rec(TP0, 1, "acme:a")
    s.submit([later])
    assert h.offered[-1] == later
    assert offsets(h.started) == [0]
    h.call_back(later)
    assert s.commit_points() == {TP0: 2}


async def test_settled_record_does_not_block_its_key() -> None:
    """A settled record waiting for its callback takes no lane: the key's next record, if
    declined, runs at once."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    settled, after = rec(TP0, 0, "acme:a"), lane(TP0, 1, "acme:a")
    s.submit([settled, after])
    await h.run_loop()
    assert h.finished == [after]
    assert s.commit_points() == {}
    h.call_back(settled)
    assert s.commit_points() == {TP0: 2}


# ---- idle and settling --------------------------------------------------------------------------


async def test_outstanding_callbacks_keep_the_scheduler_busy() -> None:
    """While callbacks are outstanding the scheduler is not idle and counts them as settling,
    per partition."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0, TP1])
    a, b, c = rec(TP0, 0, "acme:a"), rec(TP0, 1, "acme:b"), rec(TP1, 0, "acme:c")
    s.submit([a, b, c])
    assert (s.settling, s.idle, s.inflight) == (3, False, 0)
    h.call_back(b)
    assert (s.settling, s.idle) == (2, False)
    h.call_back(c, a)
    assert (s.settling, s.idle) == (0, True)


# ---- revoke, loss, re-assignment ----------------------------------------------------------------


async def test_revoke_waits_for_outstanding_callbacks() -> None:
    """revoke waits for the settle callbacks of its partitions and returns offsets including
    them once they came before the deadline."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0, TP1])
    a, b, other = rec(TP0, 0, "acme:a"), rec(TP0, 1, "acme:b"), rec(TP1, 0, "acme:c")
    s.submit([a, b, other])
    revoking = asyncio.ensure_future(s.revoke([TP0], timeout=5.0))
    await h.run_loop()
    assert not revoking.done()
    h.call_back(a)
    await h.run_loop()
    assert not revoking.done()
    h.call_back(b)
    async with asyncio.timeout(2):
        points = await revoking
    assert points == {TP0: 2}
    assert TP0 not in s.partitions()
    assert s.settling == 1  # the other partition's callback is still outstanding


async def test_revoke_past_its_deadline_returns_without_them() -> None:
    """Past its deadline, revoke returns the offsets completed so far, without the records
    whose callbacks did not come."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    a, b = rec(TP0, 0, "acme:a"), rec(TP0, 1, "acme:b")
    s.submit([a, b])
    h.call_back(a)
    async with asyncio.timeout(2):
        points = await s.revoke([TP0], timeout=0.05)
    assert points == {TP0: 1}
    assert s.settling == 0
    assert s.idle


async def test_revoke_past_its_deadline_with_nothing_done_commits_nothing() -> None:
    """A revoke whose only records never called back returns no offset for the partition."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    s.submit([rec(TP0, 0, "acme:a")])
    async with asyncio.timeout(2):
        assert await s.revoke([TP0], timeout=0.05) == {}


@pytest.mark.parametrize("how", ["revoke", "lose"])
async def test_late_callback_does_not_complete_the_new_assignment(how: str) -> None:
    """A callback arriving after its partition was revoked or lost and assigned again
    completes nothing on the new assignment (where the record is redelivered)."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    old = rec(TP0, 5, "acme:a")
    s.submit([old])
    old_done = h.callbacks.pop((TP0, 5))
    if how == "revoke":
        async with asyncio.timeout(2):
            assert await s.revoke([TP0], timeout=0.05) == {}
    else:
        s.lose([TP0])
    s.assign([TP0])
    again, after = rec(TP0, 5, "acme:a"), rec(TP0, 6, "acme:b")
    s.submit([again, after])
    assert s.settling == 2
    h.call_back(after)
    old_done()
    assert s.settling == 1
    assert not s.idle
    assert s.commit_points() == {}
    h.call_back(again)
    assert s.commit_points() == {TP0: 7}
    assert s.idle


@pytest.mark.parametrize("how", ["revoke", "lose"])
async def test_late_callback_after_leaving_the_partition_is_harmless(how: str) -> None:
    """A callback of a partition no longer assigned changes nothing and raises nothing."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0, TP1])
    gone, kept = rec(TP0, 0, "acme:a"), rec(TP1, 0, "acme:b")
    s.submit([gone, kept])
    if how == "revoke":
        async with asyncio.timeout(2):
            await s.revoke([TP0], timeout=0.05)
    else:
        s.lose([TP0])
    assert s.settling == 1
    h.call_back(gone)
    assert s.settling == 1
    assert TP0 not in s.commit_points()
    h.call_back(kept)
    assert s.commit_points() == {TP1: 1}


async def test_records_of_a_revoking_partition_are_not_offered() -> None:
    """Records fetched for a partition being revoked are neither settled nor processed."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    first = rec(TP0, 0, "acme:a")
    s.submit([first])
    revoking = asyncio.ensure_future(s.revoke([TP0], timeout=5.0))
    await h.run_loop()
    s.submit([rec(TP0, 1, "acme:b")])
    assert h.offered == [first]
    h.call_back(first)
    async with asyncio.timeout(2):
        assert await revoking == {TP0: 1}


# ---- drain --------------------------------------------------------------------------------------


async def test_drain_waits_for_outstanding_callbacks() -> None:
    """drain waits for the settle callbacks still outstanding and reports success once they
    all came."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0, TP1])
    a, b = rec(TP0, 0, "acme:a"), rec(TP1, 0, "acme:b")
    s.submit([a, b])
    draining = asyncio.ensure_future(s.drain(timeout=5.0))
    await h.run_loop()
    assert not draining.done()
    h.call_back(a)
    await h.run_loop()
    assert not draining.done()
    h.call_back(b)
    async with asyncio.timeout(2):
        assert await draining is True
    assert s.commit_points() == {TP0: 1, TP1: 1}


async def test_drain_past_its_deadline_reports_failure() -> None:
    """drain returns False when settle callbacks did not all come by its deadline."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    a, b = rec(TP0, 0, "acme:a"), rec(TP0, 1, "acme:b")
    s.submit([a, b])
    h.call_back(a)
    async with asyncio.timeout(2):
        assert await s.drain(timeout=0.05) is False
    assert s.settling == 1
    assert s.commit_points() == {TP0: 1}


async def test_drain_takes_nothing_new() -> None:
    """After drain started, submitted records are neither offered to settle nor processed."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    async with asyncio.timeout(2):
        assert await s.drain(timeout=0.05) is True
    s.submit([rec(TP0, 0, "acme:a"), lane(TP0, 1, "acme:b")])
    await h.run_loop()
    assert h.offered == []
    assert h.started == []


async def test_a_settle_that_raises_sends_the_record_through_its_lane() -> None:
    """When settle raises (a fault of the fast path), that record goes through its lane and
    process, and the rest of the batch is taken in as usual: no offset is skipped."""
    h = Harness()
    s = h.scheduler
    s.assign([TP0])
    boom = rec(TP0, 100, "ghost:c", b"boom")
    after = [rec(TP0, 101, "acme:c1"), lane(TP0, 102, "acme:c2")]
    plain_settle = h.settle

    def settle(record: InboundRecord, done: Callable[[], None]) -> bool:
        if record.value == b"boom":
            raise RecursionError("maximum recursion depth exceeded")
        return plain_settle(record, done)

    s._settle = settle
    s.submit([boom, *after])
    await h.run_loop()
    assert offsets(h.finished) == [100, 102]  # the one that raised was processed in its lane
    assert s.commit_points() == {TP0: 101}  # 101 waits for its callback, 102 behind it
    h.call_back(after[0])
    assert s.commit_points() == {TP0: 103}
    assert s.settling == 0
