"""Reading the compacted team-settings topic whole, then following it (DESIGN 5.2).

Every worker needs every team's settings, so the follower is not a member of any consumer group:
a thread owns its own `KafkaConsumer`, assigns itself all partitions of the topic, reads them
from the beginning and hands each record to ``on_record(team_id, value)`` in partition order
(``value`` is None for a tombstone). It then keeps following new records until stopped.

``caught_up`` (a `threading.Event`) is set once the follower has read up to the end offsets
taken when it started: immediately for an empty topic. A topic that does not exist (yet) counts
as empty after ``missing_topic_grace_s``; the follower keeps looking for it and reads it from
the beginning once it appears. Partitions added to the topic later are picked up the same way
(checked every ``partition_check_interval_s``).

A record whose key is missing or not UTF-8 is skipped with a log line (it cannot be attributed to
a team). An exception raised by ``on_record`` or by Kafka ends the thread: ``error`` then holds
it (kafka-python's errors translated into `worker.kafka.errors`), and the owner should treat the
worker as unhealthy. `stop()` ends the thread and closes the consumer.

Liveness: every pass of the loop (a poll of at most ``poll_timeout_ms``, or a short wait for a
missing topic) is a heartbeat; `progress_age` tells how long ago the last one was, so a thread
wedged inside a call is told apart from one that is merely idle.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from kafka import KafkaConsumer, TopicPartition

from worker.kafka.errors import mapped_errors

log = structlog.get_logger(__name__)

OnRecord = Callable[[str, bytes | None], None]


class SettingsFollower:
    """A thread reading the settings topic from the beginning, then following it."""

    def __init__(self, options: Mapping[str, Any], topic: str, on_record: OnRecord, *,
                 poll_timeout_ms: int = 200, missing_topic_grace_s: float = 5.0,
                 partition_check_interval_s: float = 30.0,
                 client_id: str = "pinpoint-sync-settings") -> None:
        self._options = dict(options)
        self.topic = topic
        self._on_record = on_record
        self._poll_timeout_ms = poll_timeout_ms
        self._grace_s = missing_topic_grace_s
        self._check_interval_s = partition_check_interval_s
        self._client_id = client_id
        self.caught_up = threading.Event()
        """Set once everything present at start has been handed to ``on_record``."""
        self.error: BaseException | None = None
        """Why the thread ended, if it ended on its own."""
        self.records_read = 0
        """Records handed to ``on_record`` (skipped ones excluded)."""
        self.records_skipped = 0
        """Records skipped for a missing or undecodable key."""
        self._stopping = threading.Event()
        self._last_progress = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"settings-follower:{topic}",
                                        daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following, close the consumer and join the thread (idempotent)."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    @property
    def stopped_on_request(self) -> bool:
        """Whether `stop` was called (the thread's end is then expected)."""
        return self._stopping.is_set()

    def progress_age(self) -> float:
        """Seconds since the thread's loop last went round (since `__init__` before that)."""
        return max(0.0, time.monotonic() - self._last_progress)

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """Block until caught up (True), the timeout passes (False), or the thread died (raise)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.caught_up.wait(0.05):
                return True
            if self.error is not None:
                raise self.error
            if not self._thread.is_alive() and self._stopping.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _run(self) -> None:
        try:
            with mapped_errors():
                consumer = KafkaConsumer(
                    **self._options,
                    client_id=self._client_id,
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    allow_auto_create_topics=False,
                    metadata_max_age_ms=int(self._check_interval_s * 1000),
                )
            try:
                self._follow(consumer)
            finally:
                with contextlib.suppress(Exception):
                    consumer.close()
        except Exception as exc:  # the thread's last resort: kept in .error
            self.error = exc
            log.exception("settings_follower_failed", topic=self.topic,
                          error_type=type(exc).__name__)

    def _follow(self, consumer: KafkaConsumer) -> None:
        started = time.monotonic()
        assigned: set[TopicPartition] = set()
        targets: dict[TopicPartition, int] = {}
        last_check = float("-inf")
        while not self._stopping.is_set():
            now = self._last_progress = time.monotonic()
            if not assigned or now - last_check >= self._check_interval_s:
                last_check = now
                new = self._new_partitions(consumer, assigned)
                if new:
                    assigned |= new
                    with mapped_errors():
                        consumer.assign(sorted(assigned))
                        consumer.seek_to_beginning(*new)
                        if not self.caught_up.is_set():
                            targets.update(consumer.end_offsets(sorted(new)))
                    log.info("settings_partitions_assigned", topic=self.topic,
                             partitions=sorted(tp.partition for tp in assigned))
                elif not assigned and not self.caught_up.is_set() and \
                        now - started >= self._grace_s:
                    log.warning("settings_topic_missing", topic=self.topic,
                                waited_s=round(now - started, 1))
                    self._mark_caught_up()
            if not assigned:
                self._stopping.wait(min(1.0, self._grace_s))
                continue
            with mapped_errors():
                batch = consumer.poll(timeout_ms=self._poll_timeout_ms)
            for records in batch.values():
                for record in records:
                    self._deliver(record)
            if not self.caught_up.is_set() and self._reached(consumer, targets):
                self._mark_caught_up()

    def _new_partitions(self, consumer: KafkaConsumer,
                        assigned: set[TopicPartition]) -> set[TopicPartition]:
        with mapped_errors():
            partitions = consumer.partitions_for_topic(self.topic) or set()
        return {TopicPartition(self.topic, p) for p in partitions} - assigned

    def _reached(self, consumer: KafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
        for tp, end in targets.items():
            with mapped_errors():
                position = consumer.position(tp, timeout_ms=self._poll_timeout_ms)
            if position is None or position < end:
                return False
        return True

    def _mark_caught_up(self) -> None:
        self.caught_up.set()
        log.info("settings_caught_up", topic=self.topic, records=self.records_read,
                 skipped=self.records_skipped)

    def _deliver(self, record: Any) -> None:
        key = record.key
        team_id = _decode_key(key)
        if team_id is None:
            self.records_skipped += 1
            log.warning("settings_record_skipped", topic=record.topic,
                        partition=record.partition, offset=record.offset,
                        reason="undecodable_key" if key else "missing_key")
            return
        self.records_read += 1
        self._on_record(team_id, record.value)


def _decode_key(key: bytes | None) -> str | None:
    """The record key as text; None when it is missing, empty or not UTF-8."""
    if not key:
        return None
    try:
        return bytes(key).decode("utf-8")
    except UnicodeDecodeError:
        return None
