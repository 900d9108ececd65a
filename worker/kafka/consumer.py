"""The group consumer: one thread owns the ``KafkaConsumer`` (it is not thread-safe).

The thread polls continuously, so that no slow Pinpoint call can make this member miss
``max.poll.interval.ms`` and leave the group: backpressure pauses partitions instead of stopping
the poll loop. Records cross to the asyncio side through :class:`ConsumerEvents` callbacks that
the runtime implements (they schedule work on the event loop and return at once); pause, resume
and commit requests come back through a command queue that the thread applies between polls.

The hand-over is bounded: the thread counts batches handed over but not yet taken in by the
event loop, and past ``max_pending_batches`` it pauses every partition (and keeps polling) until
the loop catches up.

Rebalances use the cooperative-sticky assignor (KIP-429): only the partitions that move are
revoked. On revoke, the listener (which kafka-python runs on its network thread) asks the runtime
to finish the work of those partitions and waits for the offsets to commit, bounded by a
deadline, then commits them before the partitions are handed over. On loss (the member was
evicted), nothing is committed: the runtime only drops what it held.

`rebalancing_seconds` tells how long the member has been out of a stable group membership
(joining at start, or rebalancing since): read after every poll, so a member stuck in a
rebalance that never completes is seen as such while its poll loop itself keeps beating.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka import errors as kafka_errors
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import KafkaError, RebalanceInProgressError
from kafka.structs import MemberState, OffsetAndMetadata

from worker.kafka.records import InboundRecord, PartitionId

log = structlog.get_logger("pinpoint_sync.consumer")


class ConsumerEvents(Protocol):
    """What the consumer thread tells the runtime. Called from Kafka's threads: implementations
    must be thread-safe and must not block, except :meth:`revoked`, which may block up to its
    deadline (it runs while the group waits for this member)."""

    def assigned(self, tps: list[PartitionId]) -> None: ...

    def records(self, batch: list[InboundRecord], done: Callable[[], None]) -> None:
        """A batch fetched; call ``done`` once the event loop has taken it in."""

    def revoked(self, tps: list[PartitionId]) -> Mapping[PartitionId, int]:
        """Finish those partitions' work; return the offsets to commit (may block)."""

    def lost(self, tps: list[PartitionId]) -> None: ...

    def polled(self) -> None:
        """Heartbeat: the poll loop is alive."""

    def highwater(self, marks: Mapping[PartitionId, int]) -> None:
        """The latest known end offsets of the assigned partitions (for lag), every few seconds."""


HELD_POLL_TIMEOUT_MS = 5
"""The poll timeout while fetching is held back because the loop has batches waiting."""


@dataclass(frozen=True)
class ConsumerSettings:
    """How the group consumer is set up (see ``worker/config.py`` for where each comes from)."""

    group_id: str
    topic: str
    client_options: Mapping[str, Any]
    max_poll_records: int = 1000
    session_timeout_ms: int = 45000
    max_poll_interval_ms: int = 300000
    poll_timeout_ms: int = 100
    max_pending_batches: int = 4
    """Batches handed over and not yet taken by the loop before fetching is held back. Each
    record waiting costs a few kilobytes (kafka-python's record and ours): four batches of
    1,000 keep that to a few tens of megabytes (``bench/bench_memory.py``)."""
    fetch_max_wait_ms: int = 100
    """How long the broker may hold a fetch that has no data yet. kafka-python sends one fetch
    per broker at a time, so a partition resumed after backpressure waits for the fetch in
    flight: Kafka's default of 500 ms stalls it that long."""
    commit_timeout_ms: int = 10000
    stats_interval_s: float = 2.0


class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: GroupConsumer) -> None:
        self._owner = owner

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owner.on_assigned(assigned)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Blocks kafka-python's network thread while in-flight work finishes: bounded by the
        # runtime's revoke deadline, which is kept well under the session timeout.
        offsets = self._owner.on_revoked(revoked)
        if offsets:
            await self._owner.commit_from_listener(offsets)

    async def on_partitions_lost(self, lost: set[TopicPartition]) -> None:
        self._owner.on_lost(lost)


class GroupConsumer(threading.Thread):
    """The consumer thread. ``start()`` it; ``stop()`` closes it after a final commit."""

    def __init__(self, settings: ConsumerSettings, events: ConsumerEvents) -> None:
        super().__init__(name="kafka-consumer", daemon=True)
        self._settings = settings
        self._events = events
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._stop_event = threading.Event()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._held_all = False
        self._halted = False
        self._paused: set[TopicPartition] = set()
        self._consumer: KafkaConsumer | None = None
        self._final_offsets: Mapping[PartitionId, int] | None = None
        self._joined = False
        self._unstable_since: float | None = time.monotonic()
        self.error: BaseException | None = None
        self.started = threading.Event()

    # ---- requests from the runtime (any thread) -----------------------------------------------

    def pause(self, tps: list[PartitionId]) -> None:
        self._commands.put(("pause", tps))

    def resume(self, tps: list[PartitionId]) -> None:
        self._commands.put(("resume", tps))

    def halt(self) -> None:
        """Stop fetching for good (shutdown): every partition paused, nothing more handed over.
        The thread keeps polling, so the member stays in the group until :meth:`stop`."""
        self._commands.put(("halt", None))

    def commit(self, offsets: Mapping[PartitionId, int]) -> Future[bool]:
        """Commit offsets from the consumer thread; the future tells whether it succeeded."""
        fut: Future[bool] = Future()
        self._commands.put(("commit", (dict(offsets), fut)))
        return fut

    def stop(self, final_offsets: Mapping[PartitionId, int] | None = None,
             timeout: float = 30.0) -> None:
        """Commit ``final_offsets``, leave the group, close the consumer, join the thread."""
        self._final_offsets = final_offsets
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def rebalancing_seconds(self) -> float:
        """Seconds since the membership stopped being stable (0 while it is stable)."""
        since = self._unstable_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def _track_membership(self, stable: bool) -> None:
        if stable:
            self._unstable_since = None
        elif self._unstable_since is None:
            self._unstable_since = time.monotonic()

    # ---- the thread -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc
            log.exception("consumer thread failed")
        finally:
            self.started.set()

    def _run(self) -> None:
        s = self._settings
        consumer = KafkaConsumer(
            **s.client_options,
            group_id=s.group_id,
            client_id=f"pinpoint-sync-{s.group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=[CooperativeStickyAssignor],
            max_poll_records=s.max_poll_records,
            session_timeout_ms=s.session_timeout_ms,
            max_poll_interval_ms=s.max_poll_interval_ms,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
        )
        self._consumer = consumer
        # The topic's metadata before joining: a group leader that assigns without it gives
        # nobody anything and, now and then, never notices the partitions arriving afterwards.
        consumer.partitions_for_topic(s.topic)
        consumer.subscribe([s.topic], listener=_Listener(self))
        self.started.set()
        next_stats = time.monotonic() + s.stats_interval_s
        try:
            while not self._stop_event.is_set():
                self._apply_commands(consumer)
                self._hold_if_backlogged(consumer)
                _release_parked_fetches(consumer)
                # Held back (the loop has batches to take): poll briefly, so fetching resumes
                # soon after the loop catches up. With every partition paused kafka-python
                # sleeps through the whole timeout, and the loop would run dry meanwhile.
                held = self._held_all and not self._halted
                batch = consumer.poll(timeout_ms=HELD_POLL_TIMEOUT_MS if held
                                      else s.poll_timeout_ms)
                self._events.polled()
                stable = consumer.group_metadata().state == MemberState.STABLE
                self._track_membership(stable)
                if not self._joined and stable:
                    # A member given no partition (more members than partitions) is never told
                    # "assigned" under the cooperative protocol, yet it has joined the group.
                    self._joined = True
                    self._events.assigned([])
                if batch and not self._halted:
                    self._hand_over(batch)
                if time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + s.stats_interval_s
                    self._report_highwater(consumer)
        finally:
            self._apply_commands(consumer)
            leftover: dict[TopicPartition, Any] = {}
            if self._final_offsets:
                leftover = self._commit_final(consumer, self._final_offsets)
            with contextlib.suppress(Exception):
                # The listener's revoke on close must not wait for a loop that is stopping.
                consumer.close(autocommit=False, timeout_ms=10_000)
            self._consumer = None
            if leftover:
                self._commit_after_leaving(leftover)

    def _hand_over(self, batch: dict[TopicPartition, list[Any]]) -> None:
        records: list[InboundRecord] = []
        append = records.append
        for tp, recs in batch.items():
            pid = PartitionId(tp.topic, tp.partition)
            for r in recs:
                append(InboundRecord(pid, r.offset, r.key, r.value,
                                     tuple(r.headers) if r.headers else (), r.timestamp))
        with self._pending_lock:
            self._pending += 1
        self._events.records(records, self._batch_taken)

    def _report_highwater(self, consumer: KafkaConsumer) -> None:
        marks: dict[PartitionId, int] = {}
        for tp in consumer.assignment():
            mark = consumer.highwater(tp)
            if mark is not None:
                marks[PartitionId(tp.topic, tp.partition)] = int(mark)
        self._events.highwater(marks)

    def _batch_taken(self) -> None:
        with self._pending_lock:
            self._pending -= 1

    def _hold_if_backlogged(self, consumer: KafkaConsumer) -> None:
        with self._pending_lock:
            backlogged = self._pending >= self._settings.max_pending_batches
        if backlogged or self._halted:
            # Re-applied on every pass: a partition assigned meanwhile must not fetch either.
            self._held_all = True
            consumer.pause(*consumer.assignment())
        elif not backlogged and self._held_all:
            self._held_all = False
            assigned = consumer.assignment()
            consumer.resume(*[tp for tp in assigned if tp not in self._paused])

    def _apply_commands(self, consumer: KafkaConsumer) -> None:
        while True:
            try:
                kind, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            assigned = consumer.assignment()
            if kind == "pause":
                tps = [TopicPartition(*tp) for tp in arg]
                self._paused.update(tps)
                live = [tp for tp in tps if tp in assigned]
                if live:
                    consumer.pause(*live)
            elif kind == "resume":
                tps = [TopicPartition(*tp) for tp in arg]
                self._paused.difference_update(tps)
                live = [tp for tp in tps if tp in assigned]
                if live and not self._held_all:
                    consumer.resume(*live)
            elif kind == "halt":
                self._halted = True
                consumer.pause(*assigned)
            elif kind == "commit":
                offsets, fut = arg
                fut.set_result(self._commit_now(consumer, offsets))

    def _commit_now(self, consumer: KafkaConsumer, offsets: Mapping[PartitionId, int]) -> bool:
        assigned = consumer.assignment()
        payload = {TopicPartition(*tp): OffsetAndMetadata(off, "", -1)
                   for tp, off in offsets.items() if TopicPartition(*tp) in assigned}
        if not payload:
            return False
        try:
            consumer.commit(payload, timeout_ms=self._settings.commit_timeout_ms)
        except KafkaError as exc:
            log.warning("commit failed; will retry with the next commit", error=str(exc))
            return False
        return True

    def _commit_final(self, consumer: KafkaConsumer,
                      offsets: Mapping[PartitionId, int]) -> dict[TopicPartition, Any]:
        """The last commit before leaving. A rebalance in progress (another member joining or
        leaving) refuses commits until this member has rejoined: poll to let it finish (every
        partition is paused, nothing is handed over), then commit what is still assigned.
        Returns what could not be committed this way (see `_commit_after_leaving`)."""
        deadline = time.monotonic() + 3.0
        while True:
            assigned = consumer.assignment()
            payload = {TopicPartition(*tp): OffsetAndMetadata(off, "", -1)
                       for tp, off in offsets.items() if TopicPartition(*tp) in assigned}
            if not payload:
                return {}
            try:
                consumer.commit(payload, timeout_ms=self._settings.commit_timeout_ms)
            except RebalanceInProgressError:
                if time.monotonic() >= deadline:
                    return payload
                consumer.pause(*assigned)
                consumer.poll(timeout_ms=200)
            except KafkaError as exc:
                log.warning("final commit failed; the records after the last commit will be"
                            " redelivered (idempotently)", error=str(exc))
                return {}
            else:
                return {}

    def _commit_after_leaving(self, payload: dict[TopicPartition, Any]) -> None:
        """Commit as a group's administrator once this member has left: the broker accepts it
        only while the group has no member, so offsets already moved on by a new owner are
        never overwritten."""
        from kafka.admin import KafkaAdminClient  # noqa: PLC0415

        admin = None
        try:
            admin = KafkaAdminClient(**self._settings.client_options,
                                     client_id=f"pinpoint-sync-{self._settings.group_id}-final")
            results = admin.alter_group_offsets(self._settings.group_id, payload)
            refused = {str(tp): err.__name__ for tp, err in results.items()
                       if err is not kafka_errors.NoError}
            if refused:
                log.warning("final commit refused (the group has a new member); the records"
                            " after the last commit will be redelivered (idempotently)",
                            refused=refused)
            else:
                log.info("final commit made after leaving the group",
                         partitions=len(results))
        except KafkaError as exc:
            log.warning("final commit failed; the records after the last commit will be"
                        " redelivered (idempotently)", error=str(exc))
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    admin.close()

    # ---- listener callbacks (kafka-python's network thread) ------------------------------------

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._joined = True
        tps = sorted(PartitionId(tp.topic, tp.partition) for tp in assigned)
        log.info("partitions assigned", partitions=[str(tp) for tp in tps])
        if self._consumer is not None:
            still_paused = [tp for tp in assigned if tp in self._paused]
            if still_paused:
                self._paused.difference_update(still_paused)  # fresh assignment, fresh state
        self._events.assigned(tps)

    def on_revoked(self, revoked: set[TopicPartition]) -> Mapping[PartitionId, int]:
        tps = sorted(PartitionId(tp.topic, tp.partition) for tp in revoked)
        self._paused.difference_update(revoked)
        if not tps:
            return {}
        t0 = time.monotonic()
        offsets = self._events.revoked(tps)
        log.info("partitions revoked", partitions=[str(tp) for tp in tps],
                 drained_in=round(time.monotonic() - t0, 3),
                 commit={str(tp): off for tp, off in offsets.items()})
        return offsets

    async def commit_from_listener(self, offsets: Mapping[PartitionId, int]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        payload = {TopicPartition(*tp): OffsetAndMetadata(off, "", -1)
                   for tp, off in offsets.items()}
        try:
            # The coordinator's own awaitable commit: the blocking commit() cannot be used on the
            # network thread, and an asynchronous one might land after the handover.
            await consumer._coordinator._commit_offsets_sync_async(
                payload, timeout_ms=self._settings.commit_timeout_ms)
        except Exception as exc:  # noqa: BLE001 - a failed handover commit only means redelivery
            log.warning("commit on revoke failed; the next owner will reprocess (idempotently)",
                        error=str(exc))

    def on_lost(self, lost: set[TopicPartition]) -> None:
        tps = sorted(PartitionId(tp.topic, tp.partition) for tp in lost)
        self._paused.difference_update(lost)
        log.warning("partitions lost", partitions=[str(tp) for tp in tps])
        self._events.lost(tps)


def _release_parked_fetches(consumer: KafkaConsumer) -> None:
    """Work around kafka-python 3.0.12 never fetching a resumed partition again.

    When a partition is paused with fetched records not yet returned, the fetcher parks them
    (``_paused_partition_records``, KAFKA-7548) and leaves that partition out of every fetch
    request while they are parked. It gives them back only when its in-line slot
    (``_next_partition_records``) is ``None``; but after the first fetch that slot holds a
    drained, falsy batch and is never reset to ``None``, so parked records are almost never given
    back and the resumed partition silently stops being consumed (lag grows, nothing is paused,
    nothing is in flight). Emptying the slot when it only holds a drained batch is what the
    fetcher itself treats as equivalent (it tests the slot for truth), and lets it give the
    parked records back on this poll.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not getattr(fetcher, "_paused_partition_records", None):
        return
    slot = getattr(fetcher, "_next_partition_records", None)
    if slot is not None and not slot:
        fetcher._next_partition_records = None
