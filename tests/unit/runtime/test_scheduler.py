"""KeyOrderedScheduler: per-key order, limits, fairness, backpressure, parked teams, rebalances."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.kafka.records import InboundRecord, PartitionId
from worker.runtime.scheduler import KeyOrderedScheduler, ProcessResult, SchedulerLimits

pytestmark = pytest.mark.unit

TP0 = PartitionId("events", 0)
TP1 = PartitionId("events", 1)


def rec(tp: PartitionId, offset: int, key: str | None) -> InboundRecord:
    """A record of ``tp`` at ``offset`` with a text key (or none)."""
    return InboundRecord(tp=tp, offset=offset, key=key.encode() if key is not None else None,
                         value=b"{}", headers=(), timestamp_ms=0)


class Harness:
    """A scheduler whose processing the test steers, with everything it did recorded."""

    def __init__(self, limits: SchedulerLimits | None = None, *,
                 delay: Callable[[InboundRecord], float] | None = None,
                 gated: bool = False) -> None:
        self.started: list[InboundRecord] = []
        self.finished: list[InboundRecord] = []
        self.running: set[InboundRecord] = set()
        self.max_running = 0
        self.max_running_per_team: dict[str, int] = defaultdict(int)
        self.results: dict[tuple[PartitionId, int], list[ProcessResult | Exception]] = {}
        self.gates: dict[tuple[PartitionId, int], asyncio.Event] = {}
        self.gated = gated
        self.delay = delay
        self.paused: list[list[PartitionId]] = []
        self.resumed: list[list[PartitionId]] = []
        self.teams_paused: list[str] = []
        self.scheduler = KeyOrderedScheduler(
            self.process, limits or SchedulerLimits(),
            pause=self.paused.append, resume=self.resumed.append,
            on_team_paused=self.teams_paused.append,
        )

    def gate(self, record: InboundRecord) -> asyncio.Event:
        return self.gates.setdefault((record.tp, record.offset), asyncio.Event())

    def release(self, *records: InboundRecord) -> None:
        for record in records:
            self.gate(record).set()

    def answer(self, record: InboundRecord, *results: ProcessResult | Exception) -> None:
        """Make processing ``record`` come to ``results`` in turn (then DONE)."""
        self.results[(record.tp, record.offset)] = list(results)

    async def process(self, record: InboundRecord) -> ProcessResult:
        self.started.append(record)
        self.running.add(record)
        self.max_running = max(self.max_running, len(self.running))
        team = record.team_id
        in_team = sum(1 for r in self.running if r.team_id == team)
        self.max_running_per_team[team] = max(self.max_running_per_team[team], in_team)
        try:
            if self.gated:
                await self.gate(record).wait()
            elif self.delay is not None:
                await asyncio.sleep(self.delay(record))
            else:
                await asyncio.sleep(0)
            planned = self.results.get((record.tp, record.offset))
            result: ProcessResult | Exception = planned.pop(0) if planned else ProcessResult.DONE
            if isinstance(result, Exception):
                raise result
            if result is ProcessResult.DONE:
                self.finished.append(record)
            return result
        finally:
            self.running.discard(record)

    async def settle(self, rounds: int = 50) -> None:
        """Let every runnable task run (processing without delays finishes within a few)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def until_quiet(self, timeout: float = 5.0) -> None:
        """Wait until nothing runs (parked records may still wait)."""
        async with asyncio.timeout(timeout):
            await asyncio.sleep(0)
            while self.scheduler.inflight:
                await asyncio.sleep(0.001)

    async def until_idle(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.scheduler.idle:
                await asyncio.sleep(0.001)

    def assert_no_leaks(self) -> None:
        s = self.scheduler
        assert s.buffered == 0, "buffered counter drifted"
        assert s.inflight == 0, "in-flight counter drifted"
        assert s.idle, "lanes left behind"


def finished_keys(h: Harness) -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for record in h.finished:
        by_key[record.key_text or ""].append(record.offset)
    return by_key


def commit_all(h: Harness) -> dict[PartitionId, int]:
    points = h.scheduler.commit_points()
    h.scheduler.mark_committed(points)
    return points


# ---- order and concurrency ----------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1),
       n_keys=st.integers(min_value=1, max_value=8),
       n_records=st.integers(min_value=1, max_value=60))
def test_per_key_order_under_random_delays(seed: int, n_keys: int, n_records: int) -> None:
    """Each key's records finish in offset order whatever the delays; all commit at the end."""
    rng = random.Random(seed)
    delays = {i: rng.random() * 0.002 for i in range(n_records)}
    keys = [f"t{rng.randrange(3)}:c{rng.randrange(n_keys)}" for _ in range(n_records)]

    async def scenario() -> None:
        h = Harness(SchedulerLimits(max_inflight=4, max_inflight_per_team=3),
                    delay=lambda r: delays[r.offset])
        h.scheduler.assign([TP0])
        records = [rec(TP0, i, keys[i]) for i in range(n_records)]
        for start in range(0, n_records, 7):
            h.scheduler.submit(records[start:start + 7])
            await asyncio.sleep(rng.random() * 0.002)
        await h.until_idle()
        for key, offsets in finished_keys(h).items():
            assert offsets == sorted(offsets), key
        assert sorted(r.offset for r in h.finished) == list(range(n_records))
        assert h.scheduler.commit_points() == {TP0: n_records}
        assert h.max_running <= 4
        assert all(n <= 3 for n in h.max_running_per_team.values())
        h.assert_no_leaks()

    asyncio.run(scenario())


async def test_different_keys_run_concurrently() -> None:
    """Records of different keys overlap; records of one key never do."""
    h = Harness(delay=lambda r: 0.01)
    h.scheduler.assign([TP0])
    h.scheduler.submit([rec(TP0, i, f"t:c{i % 5}") for i in range(20)])
    await h.until_idle()
    assert h.max_running == 5
    assert commit_all(h) == {TP0: 20}
    h.assert_no_leaks()


async def test_global_limit_is_never_exceeded() -> None:
    """No more than max_inflight records run at once, across teams."""
    h = Harness(SchedulerLimits(max_inflight=3, max_inflight_per_team=10), delay=lambda r: 0.002)
    h.scheduler.assign([TP0, TP1])
    h.scheduler.submit([rec(TP0, i, f"t{i % 4}:c{i}") for i in range(30)])
    h.scheduler.submit([rec(TP1, i, f"t{i % 3}:d{i}") for i in range(30)])
    assert h.scheduler.inflight == 3
    await h.until_idle()
    assert h.max_running == 3
    assert commit_all(h) == {TP0: 30, TP1: 30}
    h.assert_no_leaks()


async def test_per_team_limit_is_never_exceeded() -> None:
    """A team never has more than max_inflight_per_team records running."""
    h = Harness(SchedulerLimits(max_inflight=50, max_inflight_per_team=2), delay=lambda r: 0.002)
    h.scheduler.assign([TP0])
    h.scheduler.submit([rec(TP0, i, f"t{i % 2}:c{i}") for i in range(40)])
    assert h.scheduler.inflight == 4
    await h.until_idle()
    assert dict(h.max_running_per_team) == {"t0": 2, "t1": 2}
    h.assert_no_leaks()


async def test_busy_team_does_not_starve_another() -> None:
    """Teams take turns: a small team's records start early despite a huge backlog of another."""
    h = Harness(SchedulerLimits(max_inflight=2, max_inflight_per_team=2), gated=True)
    h.scheduler.assign([TP0])
    big = [rec(TP0, i, f"big:c{i}") for i in range(200)]
    small = [rec(TP0, 200 + i, f"small:c{i}") for i in range(3)]
    h.scheduler.submit(big)
    h.scheduler.submit(small)
    await h.settle()
    # Release one record at a time: each freed slot goes to the team whose turn it is.
    for _ in range(8):
        h.release(*h.running)
        await h.settle()
    first_ten = [r.team_id for r in h.started[:10]]
    assert first_ten.count("small") == 3, first_ten
    for record in big + small:
        h.release(record)
    await h.until_idle()
    assert commit_all(h) == {TP0: 203}
    h.assert_no_leaks()


async def test_keyless_records_each_get_their_own_lane() -> None:
    """Records without a key run concurrently and complete like the others."""
    h = Harness(delay=lambda r: 0.005)
    h.scheduler.assign([TP0])
    h.scheduler.submit([rec(TP0, i, None) for i in range(6)])
    await h.until_idle()
    assert h.max_running == 6
    assert commit_all(h) == {TP0: 6}
    h.assert_no_leaks()


# ---- backpressure -------------------------------------------------------------------------------


async def test_partition_paused_above_its_buffer_and_resumed_at_half() -> None:
    """A partition is paused once its waiting records reach partition_buffer, resumed at half."""
    h = Harness(SchedulerLimits(max_inflight=1, partition_buffer=4, max_buffered=1000),
                gated=True)
    h.scheduler.assign([TP0, TP1])
    records = [rec(TP0, i, f"t:c{i}") for i in range(6)]
    h.scheduler.submit(records[:4])  # 1 running, 3 waiting
    await h.settle()
    assert h.paused == []
    h.scheduler.submit(records[4:5])  # 4 waiting
    assert h.paused == [[TP0]]
    h.scheduler.submit(records[5:])  # 5 waiting, already paused
    assert h.paused == [[TP0]]
    for expected_waiting in (4, 3):
        h.release(*h.running)
        await h.settle()
        assert h.scheduler.buffered == expected_waiting
        assert h.resumed == []
    h.release(*h.running)
    await h.settle()
    assert h.scheduler.buffered == 2
    assert h.resumed == [[TP0]]
    h.release(*records)
    await h.until_idle()
    assert h.paused == [[TP0]]
    assert commit_all(h) == {TP0: 6}
    h.assert_no_leaks()


async def test_global_max_buffered_pauses_every_partition() -> None:
    """Past max_buffered in total every partition pauses; below half they all resume."""
    h = Harness(SchedulerLimits(max_inflight=1, partition_buffer=100, max_buffered=4),
                gated=True)
    h.scheduler.assign([TP0, TP1])
    h.scheduler.submit([rec(TP0, 0, "t:a"), rec(TP0, 1, "t:b"), rec(TP0, 2, "t:c")])
    assert h.paused == []
    h.scheduler.submit([rec(TP1, 0, "t:d"), rec(TP1, 1, "t:e")])
    assert h.scheduler.buffered == 4
    assert sorted(h.paused[-1]) == [TP0, TP1]
    while not h.resumed:
        h.release(*h.running)
        await h.settle()
    assert h.scheduler.buffered <= 2
    assert sorted(h.resumed[-1]) == [TP0, TP1]
    while not h.scheduler.idle:
        h.release(*h.running)
        await h.settle()
    assert commit_all(h) == {TP0: 3, TP1: 2}
    h.assert_no_leaks()


# ---- parked teams -------------------------------------------------------------------------------


async def test_paused_team_waits_while_others_proceed_and_resumes_in_order() -> None:
    """A team whose key is refused is parked with its records kept; other teams go on; on resume
    its records run in their order and none is lost."""
    h = Harness(delay=lambda r: 0.001)
    h.scheduler.assign([TP0])
    bad = [rec(TP0, i, "bad:c1") for i in range(0, 6, 2)] + [rec(TP0, 6, "bad:c2")]
    good = [rec(TP0, i, f"good:c{i}") for i in range(1, 7, 2)]
    h.answer(bad[0], ProcessResult.TEAM_PAUSED)
    h.scheduler.submit(sorted(bad + good, key=lambda r: r.offset))
    await h.until_quiet()
    assert h.teams_paused == ["bad"]
    assert h.scheduler.paused_teams == frozenset({"bad"})
    # bad:c2 was already running when the team was parked: it finishes; bad:c1 waits whole.
    assert sorted(r.offset for r in h.finished) == [1, 3, 5, 6]
    assert h.scheduler.commit_points() == {}  # offset 0 is kept, so nothing commits
    assert h.scheduler.buffered == 3
    assert h.scheduler.inflight == 0
    assert not h.scheduler.idle
    h.scheduler.submit([rec(TP0, 7, "bad:c1"), rec(TP0, 8, "good:late")])
    await h.until_quiet()
    assert "good:late" in finished_keys(h)
    assert "bad:c1" not in finished_keys(h)
    h.scheduler.resume_team("bad")
    await h.until_idle()
    assert finished_keys(h)["bad:c1"] == [0, 2, 4, 7]
    assert h.scheduler.paused_teams == frozenset()
    assert commit_all(h) == {TP0: 9}
    h.assert_no_leaks()


async def test_parked_records_do_not_hold_their_partition_but_count_globally() -> None:
    """Parked records leave the partition's buffer (no pause for them) but count in total."""
    h = Harness(SchedulerLimits(max_inflight=10, partition_buffer=3, max_buffered=100),
                gated=True)
    h.scheduler.assign([TP0])
    head = rec(TP0, 0, "bad:c")
    h.answer(head, ProcessResult.TEAM_PAUSED)
    h.scheduler.submit([head])
    h.release(head)
    await h.settle()
    h.scheduler.submit([rec(TP0, i, "bad:c") for i in range(1, 6)])
    await h.settle()
    assert h.paused == []  # 6 parked records, none counted against the partition
    assert h.scheduler.buffered == 6
    h.scheduler.resume_team("bad")
    await h.settle()
    assert h.paused == [[TP0]]  # back in the partition's buffer: 5 waiting behind the head
    h.release(*(rec(TP0, i, "bad:c") for i in range(6)))
    await h.until_idle()
    assert finished_keys(h)["bad:c"] == list(range(6))
    assert h.resumed == [[TP0]]
    h.assert_no_leaks()


# ---- failures -----------------------------------------------------------------------------------


async def test_processor_that_raises_is_retried_in_order_without_wedging() -> None:
    """A record whose processing raises is not completed and not dropped: it runs again after a
    backoff at the head of its lane (its key's later records wait), other keys go on, and once
    it succeeds everything completes and commits."""
    h = Harness()
    h.scheduler.assign([TP0])
    boom = rec(TP0, 1, "t:broken")
    h.answer(boom, RuntimeError("store locked"))
    h.scheduler.submit([rec(TP0, 0, "t:ok"), boom, rec(TP0, 2, "t:broken"),
                        rec(TP0, 3, "t:other")])
    await h.settle()
    assert {r.offset for r in h.finished} == {0, 3}
    assert commit_all(h) == {TP0: 1}  # held at the failed record
    await asyncio.wait_for(h.until_idle(), timeout=10)
    assert [r.offset for r in h.finished if r.key_text == "t:broken"] == [1, 2]
    assert commit_all(h) == {TP0: 4}
    h.assert_no_leaks()


# ---- rebalances and shutdown --------------------------------------------------------------------


async def test_revoke_waits_for_its_partitions_only_and_returns_commit_points() -> None:
    """Revoke drops the partition's waiting records (not completed), waits for its in-flight
    work, returns the commit point; the other partition keeps running."""
    h = Harness(gated=True)
    h.scheduler.assign([TP0, TP1])
    a0, a1, a2, a3 = (rec(TP0, i, k) for i, k in enumerate(["t:a", "t:b", "t:a", "t:c"]))
    b0 = rec(TP1, 0, "t:x")
    h.scheduler.submit([a0, a1, a2, a3, b0])
    await h.settle()
    h.release(a0)  # done; a2 (same key) is now running
    await h.settle()
    assert {r.offset for r in h.running if r.tp == TP0} == {1, 2, 3}
    revoke = asyncio.create_task(h.scheduler.revoke([TP0], timeout=5))
    await h.settle()
    assert not revoke.done()
    h.release(a1, a3)
    await h.settle()
    assert not revoke.done()  # a2 still in flight; b0 of TP1 does not matter
    h.release(a2)
    points = await revoke
    assert points == {TP0: 4}
    assert TP0 not in h.scheduler.partitions()
    assert not any(r.tp == TP1 for r in h.finished)
    h.release(b0)
    await h.until_idle()
    assert commit_all(h) == {TP1: 1}
    h.assert_no_leaks()


async def test_revoke_drops_waiting_records_without_completing_them() -> None:
    """Records still waiting in lanes at revoke are dropped and never run; the commit point
    stops before them."""
    h = Harness(SchedulerLimits(max_inflight=1), gated=True)
    h.scheduler.assign([TP0])
    records = [rec(TP0, i, f"t:c{i % 2}") for i in range(5)]
    h.scheduler.submit(records)
    await h.settle()
    revoke = asyncio.create_task(h.scheduler.revoke([TP0], timeout=5))
    await h.settle()
    assert h.scheduler.buffered == 0
    h.release(*records)
    assert await revoke == {TP0: 1}
    assert [r.offset for r in h.started] == [0]
    h.scheduler.submit([rec(TP0, 5, "t:c0")])  # a late batch of a revoked partition
    await h.settle()
    assert [r.offset for r in h.started] == [0]
    h.assert_no_leaks()


async def test_revoke_deadline_returns_what_is_done() -> None:
    """When in-flight work outlasts the deadline, revoke returns without passing it."""
    h = Harness(gated=True)
    h.scheduler.assign([TP0])
    stuck, quick = rec(TP0, 0, "t:a"), rec(TP0, 1, "t:b")
    h.scheduler.submit([stuck, quick])
    h.release(quick)
    await h.settle()
    assert await h.scheduler.revoke([TP0], timeout=0.05) == {}
    h.release(stuck)
    await h.until_idle()
    h.assert_no_leaks()


async def test_record_outliving_its_revoke_is_not_parked() -> None:
    """A record still running after its partition's revoke that reports TEAM_PAUSED is dropped
    (it is redelivered to the partition's owner), not parked to run again here."""
    h = Harness(gated=True)
    h.scheduler.assign([TP0])
    stuck = rec(TP0, 0, "bad:c")
    h.answer(stuck, ProcessResult.TEAM_PAUSED)
    h.scheduler.submit([stuck])
    await h.settle()
    assert await h.scheduler.revoke([TP0], timeout=0.02) == {}
    h.release(stuck)
    await h.settle()
    h.scheduler.resume_team("bad")
    await h.settle()
    assert len(h.started) == 1
    h.assert_no_leaks()


async def test_revoke_deadline_cancels_work_of_the_revoked_partition() -> None:
    """Work still running at the revoke deadline is cancelled (the next owner takes the
    record over), never completed; a redelivered copy after reassignment runs and commits."""
    h = Harness(gated=True)
    h.scheduler.assign([TP0])
    old = rec(TP0, 0, "t:a")
    h.scheduler.submit([old])
    await h.settle()
    assert await h.scheduler.revoke([TP0], timeout=0.02) == {}
    assert old not in h.finished
    assert not h.running
    h.scheduler.assign([TP0])
    again, other = rec(TP0, 0, "t:a"), rec(TP0, 1, "t:b")
    h.gates[(TP0, 0)] = asyncio.Event()  # a fresh gate for the redelivered copy
    h.scheduler.submit([again, other])
    h.release(again, other)
    await h.until_idle()
    assert commit_all(h) == {TP0: 2}
    h.assert_no_leaks()


async def test_revoke_of_unknown_partitions_is_a_no_op() -> None:
    """Revoking partitions never assigned returns nothing."""
    h = Harness()
    assert await h.scheduler.revoke([TP1], timeout=1) == {}
    h.scheduler.lose([TP1])
    h.assert_no_leaks()


async def test_revoke_resumes_partitions_paused_by_the_revoked_backlog() -> None:
    """Revoking a partition whose parked records held every partition paused resumes the rest."""
    h = Harness(SchedulerLimits(max_inflight=10, partition_buffer=100, max_buffered=4))
    h.scheduler.assign([TP0, TP1])
    head = rec(TP0, 0, "bad:c")
    h.answer(head, ProcessResult.TEAM_PAUSED)
    h.scheduler.submit([head, *(rec(TP0, i, "bad:c") for i in range(1, 4))])
    await h.settle()
    assert h.scheduler.buffered == 4
    assert sorted(h.paused[-1]) == [TP0, TP1]
    assert await h.scheduler.revoke([TP0], timeout=1) == {}
    assert h.resumed == [[TP1]], "TP1 stays paused for good after the revoke"
    h.scheduler.resume_team("bad")
    h.assert_no_leaks()


async def test_lose_drops_without_commit_points() -> None:
    """Lost partitions are forgotten at once: no commit points, waiting records dropped."""
    h = Harness(SchedulerLimits(max_inflight=1), gated=True)
    h.scheduler.assign([TP0, TP1])
    records = [rec(TP0, i, f"t:c{i}") for i in range(3)]
    h.scheduler.submit(records)
    h.scheduler.submit([rec(TP1, 0, "t:z")])
    await h.settle()
    h.scheduler.lose([TP0])
    assert set(h.scheduler.partitions()) == {TP1}
    assert h.scheduler.commit_points() == {}
    h.release(*records)
    await h.settle()
    assert h.scheduler.commit_points() == {}  # offset 0 finished after the loss: not tracked
    h.release(rec(TP1, 0, "t:z"))
    await h.until_idle()
    assert [r.offset for r in h.started if r.tp == TP0] == [0]
    assert commit_all(h) == {TP1: 1}
    h.assert_no_leaks()


async def test_drain_finishes_inflight_work_and_takes_nothing_new() -> None:
    """Drain stops intake, drops waiting records, waits for in-flight ones, then commits them."""
    h = Harness(SchedulerLimits(max_inflight=2), gated=True)
    h.scheduler.assign([TP0])
    records = [rec(TP0, i, f"t:c{i}") for i in range(5)]
    h.scheduler.submit(records)
    await h.settle()
    drain = asyncio.create_task(h.scheduler.drain(timeout=5))
    await h.settle()
    h.scheduler.submit([rec(TP0, 5, "t:new")])
    h.release(*records)
    assert await drain is True
    assert sorted(r.offset for r in h.started) == [0, 1]
    assert h.scheduler.commit_points() == {TP0: 2}
    h.assert_no_leaks()


async def test_drain_deadline_cancels_inflight_work() -> None:
    """Work that outlasts the drain deadline is cancelled and not completed."""
    h = Harness(gated=True)
    h.scheduler.assign([TP0])
    h.scheduler.submit([rec(TP0, 0, "t:a"), rec(TP0, 1, "t:b")])
    h.release(rec(TP0, 1, "t:b"))
    await h.settle()
    assert await h.scheduler.drain(timeout=0.05) is False
    assert h.scheduler.commit_points() == {}
    h.assert_no_leaks()


async def test_scenarios_submit_order_across_batches() -> None:
    """Several batches over two partitions keep per-key order and commit everything."""
    h = Harness(delay=lambda r: 0.0005 * (r.offset % 3))
    h.scheduler.assign([TP0, TP1])
    batches: list[Iterable[InboundRecord]] = []
    for b in range(5):
        batches.append([rec(TP0, b * 10 + i, f"t{i % 2}:c{i % 4}") for i in range(10)])
        batches.append([rec(TP1, b * 10 + i, f"u:c{i % 3}") for i in range(10)])
    for batch in batches:
        h.scheduler.submit(batch)
        await asyncio.sleep(0)
    await h.until_idle()
    for key, offsets in finished_keys(h).items():
        assert offsets == sorted(offsets), key
    assert commit_all(h) == {TP0: 50, TP1: 50}
    h.assert_no_leaks()


# ---- transient failures past the call's budget ---------------------------------------------------


async def test_retry_later_holds_the_lane_in_order_and_never_completes_early() -> None:
    """RETRY_LATER keeps the record at its lane's head with a backoff: the candidate's next
    record does not overtake it, other candidates go on, and both complete in order later."""
    h = Harness(SchedulerLimits(hold_base_s=0.05, hold_max_s=0.2), delay=lambda r: 0.0)
    h.scheduler.assign([TP0])
    first, second = rec(TP0, 0, "t:c1"), rec(TP0, 1, "t:c1")
    other = rec(TP0, 2, "t:c2")
    h.answer(first, ProcessResult.RETRY_LATER, ProcessResult.RETRY_LATER)
    h.scheduler.submit([first, second, other])
    await asyncio.sleep(0.01)
    assert [r.offset for r in h.finished] == [2]
    assert h.scheduler.commit_points() == {}
    await h.until_idle()
    assert finished_keys(h)["t:c1"] == [0, 1]
    assert [r.offset for r in h.started].count(0) == 3
    assert commit_all(h) == {TP0: 3}
    h.assert_no_leaks()


# ---- fair shares --------------------------------------------------------------------------------


async def test_slow_team_takes_only_its_share_while_others_wait_and_all_when_alone() -> None:
    """Alone, a team uses up to its ceiling; with three teams waiting, no team starts more than
    max(floor, global / active teams), and the others get slots at once."""
    limits = SchedulerLimits(max_inflight=15, max_inflight_per_team=15, inflight_team_floor=2)
    h = Harness(limits, gated=True)
    h.scheduler.assign([TP0])
    slow = [rec(TP0, i, f"slow:c{i}") for i in range(20)]
    h.scheduler.submit(slow[:6])
    await h.settle()
    assert h.scheduler.inflight == 6  # alone: all it has, under its ceiling
    others = [rec(TP0, 20 + i, f"{team}:c{i}") for i, team in enumerate(["a", "b"] * 4)]
    h.scheduler.submit(slow[6:] + others)
    await h.settle()
    # Three active teams: a share of 15 // 3 = 5 each; slow already had 6 and gets no more,
    # while a and b start all four of theirs at once.
    assert h.max_running_per_team["slow"] == 6
    assert h.max_running_per_team["a"] == 4
    assert h.max_running_per_team["b"] == 4
    h.release(*slow, *others)
    await h.until_idle()
    assert len(h.finished) == 28
    h.assert_no_leaks()
