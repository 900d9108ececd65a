"""Key-ordered concurrent scheduling of consumed records.

Records arrive per partition in offset order. Each record belongs to a *lane*, one per Kafka key
(``team_id:candidate_id``): a lane runs one record at a time, in arrival order, so one candidate's
events take effect in their order, while different candidates run concurrently. Concurrency is
capped globally and per team, and teams take turns, so one busy team cannot starve the others.

Offsets: each partition's :class:`~worker.runtime.offsets.PartitionOffsets` learns every record
at arrival and its completion; only the contiguous prefix of completed offsets is ever committed.

Backpressure: records waiting in lanes (not yet started) are counted per partition. Above
``partition_buffer`` a partition is paused (the consumer keeps polling, so the member stays in the
group) and it is resumed at half that. Above ``max_buffered`` in total, every partition pauses.

Settled at once: records the processor can finish without I/O or state (``settle``: an event of a
team whose integration is not active) do not take a lane or a task. They are handed to ``settle``
as they arrive, when their key has no lane (so nothing of the key is still running before them),
and complete when ``settle`` calls back (their outcome record acknowledged). A revoke and a drain
wait for those callbacks as for work in flight.

Paused teams: when processing reports that a team's credentials were refused, the record goes
back to the head of its lane and the whole team is parked: its lanes do not run until
:meth:`resume_team`. Parked records do not count against their partition's buffer (other teams on
that partition go on at full speed) but do count against ``max_buffered``, so memory stays bounded
during a long outage; their offsets stay uncommitted, so nothing is lost.

Rebalances: :meth:`revoke` stops taking records of those partitions, drops their waiting records,
waits (up to a deadline) for their in-flight work, and returns the offsets to commit.
:meth:`lose` drops everything of those partitions without a commit.

Runs on one asyncio event loop; none of its methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import structlog

from worker.kafka.records import InboundRecord, PartitionId
from worker.runtime.breaker import lane_backoff
from worker.runtime.offsets import PartitionOffsets

log = structlog.get_logger("pinpoint_sync.scheduler")


class ProcessResult(enum.Enum):
    """What processing a record came to."""

    DONE = "done"
    """Effects applied, dead-lettered or deliberately skipped: the offset may be committed."""
    TEAM_PAUSED = "team_paused"
    """The team's credentials were refused: keep the record, park the team until it is resumed."""
    RETRY_LATER = "retry_later"
    """Pinpoint failed transiently past the call's retry budget: not a dead letter. The record
    waits at the head of its lane (nothing of its key overtakes it) and runs again after a
    growing, jittered backoff (`worker.runtime.breaker.lane_backoff`)."""
    RETRY = "retry"
    """Internal: processing raised; the record waits at the head of its lane and runs again
    after a backoff."""


Process = Callable[[InboundRecord], Awaitable[ProcessResult]]
Settle = Callable[[InboundRecord, Callable[[], None]], bool]
"""Finish a record at once if it needs no I/O (True; the callback reports its completion later),
or decline (False) and leave it to its lane."""


@dataclass
class _Lane:
    team: str
    tp: PartitionId
    queue: deque[InboundRecord] = field(default_factory=deque)
    running: bool = False


@dataclass(frozen=True)
class SchedulerLimits:
    """Caps on concurrency and buffering (see ``worker/config.py`` for the defaults)."""

    max_inflight: int = 256
    max_inflight_per_team: int = 64
    """A team's ceiling when no other team has work (work-conserving up to it)."""
    inflight_team_floor: int = 8
    """While others have work, a team's share is max(floor, max_inflight / active teams),
    under the ceiling above."""
    partition_buffer: int = 2000
    max_buffered: int = 20000
    hold_base_s: float = 5.0
    """First wait of a lane held after a transient failure past the call's budget."""
    hold_max_s: float = 600.0


class KeyOrderedScheduler:
    """Per-key FIFO lanes, global and per-team limits, contiguous-offset commits, backpressure."""

    def __init__(
        self,
        process: Process,
        limits: SchedulerLimits,
        *,
        pause: Callable[[list[PartitionId]], None],
        resume: Callable[[list[PartitionId]], None],
        on_team_paused: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        settle: Settle | None = None,
    ) -> None:
        self._process = process
        self._settle = settle
        self._limits = limits
        self._pause_cb = pause
        self._resume_cb = resume
        self._on_team_paused = on_team_paused
        self._clock = clock

        self._lanes: dict[str, _Lane] = {}
        self._ready: dict[str, deque[str]] = {}  # team -> lanes ready to run, in arrival order
        self._turns: deque[str] = deque()  # teams with ready lanes, round robin
        self._paused_teams: set[str] = set()
        self._team_inflight: Counter[str] = Counter()
        self._inflight = 0
        self._tp_inflight: Counter[PartitionId] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tp_tasks: dict[PartitionId, set[asyncio.Task[None]]] = {}
        self._retry_delay: dict[str, float] = {}  # key -> backoff after processing raised
        self._held_attempts: Counter[str] = Counter()  # key -> transient tries past the budget

        self._offsets: dict[PartitionId, PartitionOffsets] = {}
        # Records settled at once and not yet reported complete, per partition assignment.
        self._settling: dict[PartitionOffsets, int] = {}
        self._settle_failures = 0
        self._settle_failure_logged = float("-inf")
        self._buffered: Counter[PartitionId] = Counter()  # waiting, not parked
        self._parked = 0  # waiting records of paused teams
        self._paused_tps: set[PartitionId] = set()
        self._globally_paused = False
        self._closing: set[PartitionId] = set()  # being revoked: take nothing new
        self._stopped = False
        self._progress = asyncio.Event()

    # ---- intake -------------------------------------------------------------------------------

    def assign(self, tps: Iterable[PartitionId]) -> None:
        """Partitions newly assigned to this member: start tracking their offsets afresh."""
        for tp in tps:
            old = self._offsets.get(tp)
            if old is not None:
                self._settling.pop(old, None)
            self._offsets[tp] = PartitionOffsets(self._clock)
            self._closing.discard(tp)
            self._buffered.pop(tp, None)

    def submit(self, records: Iterable[InboundRecord]) -> None:
        """Records fetched from one or more partitions, in offset order per partition."""
        if self._stopped:
            return
        # Runs for every record: attribute lookups are hoisted out of the loop.
        settle, settling, settled_callback = self._settle, self._settling, self._settled_callback
        offsets, closing, lanes = self._offsets, self._closing, self._lanes
        for record in records:
            tp, offset = record.tp, record.offset
            tracker = offsets.get(tp)
            if tracker is None or tp in closing:
                continue  # fetched before a revoke or loss: it will be redelivered to the owner
            last = tracker.last_seen
            if last is not None and offset <= last:
                # A fetch that repeats offsets (a seek, a retried fetch): already taken in.
                log.warning("repeated offset ignored", partition=str(tp), offset=offset,
                            last_seen=last)
                continue
            tracker.received(offset)
            key = record.key_text or f"\x00{tp}:{offset}"  # keyless: its own lane
            lane = lanes.get(key)
            if lane is None and settle is not None:
                settling[tracker] = settling.get(tracker, 0) + 1
                try:
                    taken = settle(record, settled_callback(tracker, offset))
                except Exception:  # noqa: BLE001 - a fault of the fast path: take the lane
                    self._settle_failed(tp, offset)
                    taken = False
                if taken:
                    continue
                settling[tracker] -= 1
            if lane is None:
                lane = _Lane(team=record.team_id, tp=record.tp)
                self._lanes[key] = lane
            lane.queue.append(record)
            if lane.team in self._paused_teams:
                self._parked += 1
            else:
                self._buffered[record.tp] += 1
                if not lane.running and len(lane.queue) == 1:
                    self._make_ready(key, lane)
        self._dispatch()
        self._apply_backpressure()

    def _settle_failed(self, tp: PartitionId, offset: int) -> None:
        # With its traceback once a minute at most: a systematic fault would fail every record.
        self._settle_failures += 1
        now = self._clock()
        if now - self._settle_failure_logged >= 60.0:
            self._settle_failure_logged = now
            log.exception("settling a record at once failed; it goes through its lane",
                          partition=str(tp), offset=offset, failures=self._settle_failures)

    def _settled_callback(self, tracker: PartitionOffsets, offset: int) -> Callable[[], None]:
        def settled() -> None:
            count = self._settling.get(tracker)
            if count is None:
                return  # its partition was revoked or lost meanwhile: not ours to complete
            tracker.completed(offset)
            self._settling[tracker] = count - 1
            if count == 1:
                self._progress.set()

        return settled

    def _settling_in(self, tp: PartitionId) -> int:
        tracker = self._offsets.get(tp)
        return self._settling.get(tracker, 0) if tracker is not None else 0

    # ---- running ------------------------------------------------------------------------------

    def _make_ready(self, key: str, lane: _Lane) -> None:
        ready = self._ready.get(lane.team)
        if ready is None:
            ready = self._ready[lane.team] = deque()
        if not ready:
            self._turns.append(lane.team)
        ready.append(key)

    def _dispatch(self) -> None:
        limits = self._limits
        turns = self._turns
        if not turns:
            return
        # Fair share: while other teams have work, a team takes at most its share of the global
        # limit (never below the floor); alone it may use up to its per-team ceiling.
        team_inflight = self._team_inflight
        active = len(set(turns).union(t for t, n in team_inflight.items() if n > 0))
        share = limits.max_inflight_per_team
        if active > 1:
            share = min(share, max(limits.inflight_team_floor, limits.max_inflight // active))
        skipped = 0
        while turns and self._inflight < limits.max_inflight and skipped < len(turns):
            team = turns[0]
            ready = self._ready.get(team)
            if not ready:
                turns.popleft()
                skipped = 0
                continue
            per_team_full = team_inflight[team] >= share
            if team in self._paused_teams or per_team_full:
                turns.rotate(-1)
                skipped += 1
                continue
            key = ready.popleft()
            if ready:
                turns.rotate(-1)
            else:
                turns.popleft()
            skipped = 0
            self._start(key)

    def _start(self, key: str) -> None:
        lane = self._lanes[key]
        record = lane.queue[0]
        lane.running = True
        self._inflight += 1
        self._team_inflight[lane.team] += 1
        self._tp_inflight[record.tp] += 1
        self._buffered[record.tp] -= 1
        tracker = self._offsets.get(record.tp)
        task = asyncio.get_running_loop().create_task(self._run(key, lane, record, tracker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        running = self._tp_tasks.setdefault(record.tp, set())
        running.add(task)
        task.add_done_callback(running.discard)

    async def _run(self, key: str, lane: _Lane, record: InboundRecord,
                   tracker: PartitionOffsets | None) -> None:
        try:
            result: ProcessResult | None = await self._process(record)
        except asyncio.CancelledError:
            result = None
        except Exception:
            # The processor dead-letters everything it cannot handle, so this is a fault of its
            # own (a state store that is locked or gone, say). The record is tried again after a
            # backoff, at the head of its lane: never completed, never dropped, order kept.
            delay = min(self._retry_delay.get(key, 0.5) * 2, 30.0)
            self._retry_delay[key] = delay
            log.exception("processing raised; the record will be tried again",
                          topic=record.tp.topic, partition=record.tp.partition,
                          offset=record.offset, retry_in_s=delay)
            result = ProcessResult.RETRY
        else:
            self._retry_delay.pop(key, None)
            if result is ProcessResult.RETRY_LATER:
                self._held_attempts[key] += 1
                delay = lane_backoff(self._held_attempts[key], base_s=self._limits.hold_base_s,
                                     max_s=self._limits.hold_max_s)
                self._retry_delay[key] = delay
                log.warning("Pinpoint failing for the record; its lane is held",
                            team=lane.team, partition=record.tp.partition, offset=record.offset,
                            retry_in_s=round(delay, 1))
                result = ProcessResult.RETRY
            elif result is ProcessResult.DONE:
                self._held_attempts.pop(key, None)
        self._finish(key, lane, record, result, tracker)

    def _finish(self, key: str, lane: _Lane, record: InboundRecord,
                result: ProcessResult | None, tracker: PartitionOffsets | None) -> None:
        lane.running = False
        self._inflight -= 1
        self._team_inflight[lane.team] -= 1
        self._tp_inflight[record.tp] -= 1
        # A record that outlived a revoke or loss of its partition is not owned any more, even
        # when the partition was assigned again meanwhile: the new assignment has a new tracker
        # (where the record is redelivered), and the lane may already hold its records.
        going = record.tp not in self._offsets or record.tp in self._closing
        owned = not going and tracker is not None and self._offsets[record.tp] is tracker
        if result is ProcessResult.DONE:
            lane.queue.popleft()
            if tracker is not None:  # the record's own assignment's tracker (maybe gone)
                tracker.completed(record.offset)
        elif result is ProcessResult.RETRY and owned:
            # Back at the head of its lane; the lane is made ready again after the backoff.
            self._buffered[record.tp] += 1
            lane.running = True  # holds the lane (nothing else of the key may overtake it)
            asyncio.get_running_loop().call_later(
                self._retry_delay.get(key, 1.0), self._retry_lane, key, lane)
            self._progress.set()
            self._apply_backpressure()
            return
        elif result is ProcessResult.TEAM_PAUSED and owned:
            # Back at the head of its lane, waiting again.
            if lane.team in self._paused_teams:
                self._parked += 1
            else:
                self._buffered[record.tp] += 1
                self.pause_team(lane.team)
        else:
            # Cancelled, crashed, or kept back from a partition that is going away: neither this
            # record nor the rest of its lane may complete out of order, so leave them all to
            # redelivery (the offset stays uncommitted).
            lane.queue.popleft()
            if owned:
                self._drop_lane_records(lane)
        if going and lane.queue:
            self._drop_lane_records(lane)
        if not lane.queue:
            del self._lanes[key]
        elif lane.team not in self._paused_teams:
            self._make_ready(key, lane)
        self._progress.set()
        self._dispatch()
        self._apply_backpressure()

    def _retry_lane(self, key: str, lane: _Lane) -> None:
        if self._lanes.get(key) is not lane:
            return  # dropped meanwhile (revoke, loss, drain)
        lane.running = False
        if lane.tp in self._closing or lane.tp not in self._offsets or self._stopped:
            self._drop_lane_records(lane)
            if not lane.queue:
                del self._lanes[key]
            return
        if lane.team in self._paused_teams:
            # Parked with its team (the head was still counted as buffered): runs on resume.
            self._buffered[lane.tp] -= 1
            self._parked += 1
            return
        self._make_ready(key, lane)
        self._dispatch()

    # ---- teams --------------------------------------------------------------------------------

    def pause_team(self, team: str) -> None:
        """Park a team: its lanes stop running until :meth:`resume_team`."""
        if team in self._paused_teams:
            return
        self._paused_teams.add(team)
        ready = self._ready.pop(team, None)
        if ready is not None and team in self._turns:
            self._turns.remove(team)
        for lane in self._lanes.values():
            if lane.team == team:
                waiting = len(lane.queue) - (1 if lane.running else 0)
                self._buffered[lane.tp] -= waiting
                self._parked += waiting
        log.warning("team paused", team=team)
        if self._on_team_paused is not None:
            self._on_team_paused(team)
        self._apply_backpressure()

    def resume_team(self, team: str) -> None:
        """Un-park a team: its waiting records run again, in order."""
        if team not in self._paused_teams:
            return
        self._paused_teams.discard(team)
        for key, lane in self._lanes.items():
            if lane.team == team:
                waiting = len(lane.queue) - (1 if lane.running else 0)
                self._buffered[lane.tp] += waiting
                self._parked -= waiting
                if not lane.running and lane.queue:
                    self._make_ready(key, lane)
        log.info("team resumed", team=team)
        self._dispatch()
        self._apply_backpressure()

    @property
    def paused_teams(self) -> frozenset[str]:
        return frozenset(self._paused_teams)

    # ---- backpressure -------------------------------------------------------------------------

    def _apply_backpressure(self) -> None:
        limits = self._limits
        total = sum(self._buffered.values()) + self._parked
        if not self._globally_paused and total >= limits.max_buffered:
            self._globally_paused = True
        elif self._globally_paused and total <= limits.max_buffered // 2:
            self._globally_paused = False
        to_pause: list[PartitionId] = []
        to_resume: list[PartitionId] = []
        for tp in self._offsets:
            count = self._buffered.get(tp, 0)
            paused = tp in self._paused_tps
            want = self._globally_paused or count >= limits.partition_buffer or (
                paused and count > limits.partition_buffer // 2
            )
            if want and not paused:
                to_pause.append(tp)
                self._paused_tps.add(tp)
            elif paused and not want:
                to_resume.append(tp)
                self._paused_tps.discard(tp)
        if to_pause:
            self._pause_cb(to_pause)
        if to_resume:
            self._resume_cb(to_resume)

    # ---- commits and rebalances ---------------------------------------------------------------

    def commit_points(self) -> dict[PartitionId, int]:
        """Offsets that may be committed now (only partitions with new progress)."""
        points: dict[PartitionId, int] = {}
        for tp, tracker in self._offsets.items():
            point = tracker.commit_point()
            if point is not None:
                points[tp] = point
        return points

    def mark_committed(self, offsets: dict[PartitionId, int]) -> None:
        for tp, offset in offsets.items():
            tracker = self._offsets.get(tp)
            if tracker is not None:
                tracker.mark_committed(offset)

    def _drop_lane_records(self, lane: _Lane) -> None:
        keep = 1 if lane.running else 0
        dropped = len(lane.queue) - keep
        if dropped <= 0:
            return
        if lane.team in self._paused_teams:
            self._parked -= dropped
        else:
            self._buffered[lane.tp] -= dropped
        head = lane.queue[0] if keep else None
        lane.queue.clear()
        if head is not None:
            lane.queue.append(head)

    def _close_partitions(self, tps: set[PartitionId]) -> None:
        self._closing |= tps
        for key in [k for k, lane in self._lanes.items() if lane.tp in tps]:
            lane = self._lanes[key]
            self._drop_lane_records(lane)
            if not lane.queue:
                del self._lanes[key]
                ready = self._ready.get(lane.team)
                if ready is not None and key in ready:
                    ready.remove(key)

    async def revoke(self, tps: Iterable[PartitionId], timeout: float) -> dict[PartitionId, int]:
        """Stop taking records of ``tps``, finish their in-flight work (up to ``timeout``), and
        return the offsets to commit for them. Their tracking ends here."""
        revoked = set(tps) & set(self._offsets)
        if not revoked:
            return {}
        self._close_partitions(revoked)
        deadline = self._clock() + timeout
        while any(self._tp_inflight[tp] or self._settling_in(tp) for tp in revoked):
            remaining = deadline - self._clock()
            if remaining <= 0:
                # The partitions go to another member now: their work must stop here, or both
                # would work on the same records. An effect cut off keeps its ledger intent and
                # is reconciled against Pinpoint before it is sent again.
                log.warning("revoke deadline reached; cancelling work in flight",
                            partitions=[str(tp) for tp in revoked])
                await self._cancel_partitions(revoked)
                break
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), timeout=remaining)
            except TimeoutError:
                continue
        points: dict[PartitionId, int] = {}
        for tp in revoked:
            tracker = self._offsets.pop(tp)
            self._settling.pop(tracker, None)
            point = tracker.commit_point()
            if point is not None:
                points[tp] = point
            self._buffered.pop(tp, None)
            self._paused_tps.discard(tp)
        self._closing -= revoked
        self._apply_backpressure()  # the dropped records may have held other partitions paused
        return points

    def lose(self, tps: Iterable[PartitionId]) -> None:
        """Partitions lost without a clean handover: drop their records, commit nothing."""
        lost = set(tps) & set(self._offsets)
        if not lost:
            return
        self._close_partitions(lost)
        for tp in lost:
            for task in self._tp_tasks.get(tp, ()):
                task.cancel()  # another member owns these records already
        for tp in lost:
            self._settling.pop(self._offsets.pop(tp), None)
            self._buffered.pop(tp, None)
            self._paused_tps.discard(tp)
        self._closing -= lost
        self._apply_backpressure()

    async def _cancel_partitions(self, tps: set[PartitionId]) -> None:
        tasks = [t for tp in tps for t in self._tp_tasks.get(tp, ())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, timeout: float) -> bool:
        """Shutdown: take nothing new, start nothing new, wait for in-flight work (up to
        ``timeout``). Returns True when everything in flight finished."""
        self._stopped = True
        # Drop waiting records and forget the lanes left empty, with their ready entries: an
        # emptied lane left ready would be started by the next task to finish.
        self._close_partitions(set(self._offsets) | {lane.tp for lane in self._lanes.values()})
        deadline = self._clock() + timeout
        while self._inflight or self.settling:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), timeout=remaining)
            except TimeoutError:
                break
        if self._inflight:
            log.warning("drain deadline reached; cancelling in-flight work",
                        inflight=self._inflight)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            return False
        return not self.settling

    # ---- introspection (metrics) --------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return self._inflight

    @property
    def settling(self) -> int:
        """Records settled at once whose completion is not reported yet."""
        return sum(self._settling.values())

    @property
    def buffered(self) -> int:
        return sum(self._buffered.values()) + self._parked

    def partitions(self) -> dict[PartitionId, PartitionOffsets]:
        return dict(self._offsets)

    @property
    def idle(self) -> bool:
        """Nothing running and nothing waiting (parked records count as waiting)."""
        return self._inflight == 0 and not self._lanes and not self.settling
