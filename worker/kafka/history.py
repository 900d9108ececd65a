"""Reading a topic's history by partition and offset, outside any consumer group.

The replay and dead-letter tools read what happened (events, outcomes, dead letters) without
joining the workers' group, committing anything or moving anybody's offsets: a `HistoryReader`
owns a `KafkaConsumer` with no group id and *assigns* itself the partitions it reads.
Time ranges become offsets through the brokers' time index (``offsets_for_times``).
`RecordWriter` publishes records to an explicit partition (a replayed record goes to the
partition number its original came from); it is kafka-python's producer, as the tools send a
few records per run and wait for each batch, where the worker's librdkafka producer is made
for one record per event on the hot path.

Everything raises the adapter's errors (`worker.kafka.errors`): `KafkaUnavailable` when the
brokers cannot be reached, `TopicAdminError` for a topic that does not exist.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors

from worker.kafka.errors import KafkaUnavailable, TopicAdminError, mapped_errors, translate
from worker.kafka.records import InboundRecord, PartitionId


@dataclass(frozen=True, order=True)
class OffsetRange:
    """Offsets ``start`` (included) to ``end`` (excluded) of one partition."""

    partition: int
    start: int
    end: int

    def __len__(self) -> int:
        return max(self.end - self.start, 0)


class HistoryReader:
    """An assigned consumer (no group, no commits) over one or more topics' partitions."""

    def __init__(self, options: Mapping[str, Any], *, client_id: str,
                 max_poll_records: int = 2000, connect_timeout_s: float = 5.0) -> None:
        try:
            with mapped_errors():
                self._consumer = KafkaConsumer(
                    **options, client_id=client_id, group_id=None, enable_auto_commit=False,
                    auto_offset_reset="earliest", allow_auto_create_topics=False,
                    max_poll_records=max_poll_records, fetch_max_wait_ms=100,
                    request_timeout_ms=max(int(connect_timeout_s * 1000), 1000) + 5000,
                    bootstrap_timeout_ms=int(connect_timeout_s * 1000),
                )
        except KafkaUnavailable:
            raise
        except Exception as exc:  # NoBrokersAvailable is not marked retriable by kafka-python
            raise KafkaUnavailable(str(exc)) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._consumer.close()

    def __enter__(self) -> HistoryReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- where things are ---------------------------------------------------------------------

    def partitions(self, topic: str) -> list[int]:
        """The topic's partitions; raises `TopicAdminError` when the topic does not exist."""
        with mapped_errors():
            found = self._consumer.partitions_for_topic(topic)
        if not found:
            raise TopicAdminError(f"topic {topic!r} does not exist")
        return sorted(found)

    def beginning_offsets(self, topic: str) -> dict[int, int]:
        tps = [TopicPartition(topic, p) for p in self.partitions(topic)]
        with mapped_errors():
            return {tp.partition: int(o) for tp, o in self._consumer.beginning_offsets(tps).items()}

    def end_offsets(self, topic: str) -> dict[int, int]:
        tps = [TopicPartition(topic, p) for p in self.partitions(topic)]
        with mapped_errors():
            return {tp.partition: int(o) for tp, o in self._consumer.end_offsets(tps).items()}

    def offsets_for_time(self, topic: str, timestamp_ms: int) -> dict[int, int]:
        """Per partition, the first offset whose record timestamp is at or after
        ``timestamp_ms`` (the partition's end offset when there is none)."""
        tps = [TopicPartition(topic, p) for p in self.partitions(topic)]
        with mapped_errors():
            found = self._consumer.offsets_for_times({tp: int(timestamp_ms) for tp in tps})
            ends = self._consumer.end_offsets(tps)
        return {tp.partition: int(found[tp].offset) if found.get(tp) is not None
                else int(ends[tp]) for tp in tps}

    def time_ranges(self, topic: str, from_ms: int, to_ms: int) -> list[OffsetRange]:
        """The offsets of records timestamped from ``from_ms`` (included) to ``to_ms``
        (excluded), per partition."""
        starts = self.offsets_for_time(topic, from_ms)
        ends = self.offsets_for_time(topic, to_ms)
        return [OffsetRange(p, starts[p], max(ends[p], starts[p])) for p in sorted(starts)]

    # ---- reading ------------------------------------------------------------------------------

    def read(self, topic: str, ranges: Iterable[OffsetRange], *,
             poll_timeout_ms: int = 500, idle_timeout_s: float = 30.0,
             ) -> Iterator[list[InboundRecord]]:
        """The records of ``ranges``, in batches, in offset order per partition.

        Ends once every range is read through. Offsets missing from a range (compaction,
        transaction markers) are passed over; a range whose records stopped coming for
        ``idle_timeout_s`` (deleted by retention meanwhile) raises `KafkaUnavailable`.
        """
        wanted = {TopicPartition(topic, r.partition): r for r in ranges if len(r)}
        if not wanted:
            return
        consumer = self._consumer
        with mapped_errors():
            consumer.assign(sorted(wanted))
            for tp, r in wanted.items():
                consumer.seek(tp, r.start)
        open_tps = set(wanted)
        last_progress = time.monotonic()
        while open_tps:
            with mapped_errors():
                batch = consumer.poll(timeout_ms=poll_timeout_ms)
            out: list[InboundRecord] = []
            for tp, recs in batch.items():
                if tp not in open_tps:
                    continue
                pid = PartitionId(tp.topic, tp.partition)
                end = wanted[tp].end
                out.extend(InboundRecord(pid, m.offset, m.key, m.value,
                                         tuple(m.headers) if m.headers else (), m.timestamp)
                           for m in recs if m.offset < end)
            finished = []
            for tp in open_tps:
                with mapped_errors():
                    position = consumer.position(tp)
                if position is not None and position >= wanted[tp].end:
                    finished.append(tp)
            if finished:
                open_tps.difference_update(finished)
                with mapped_errors():
                    consumer.pause(*finished)
            if out or finished:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > idle_timeout_s:
                raise KafkaUnavailable(
                    f"no records from {topic} for {idle_timeout_s:.0f}s while offsets remained "
                    f"to read: {sorted(tp.partition for tp in open_tps)}")
            if out:
                yield out
        with mapped_errors():
            consumer.assign([])

    def read_one(self, topic: str, partition: int, offset: int) -> InboundRecord | None:
        """The record at ``partition``/``offset``, or None when there is none there."""
        ends = self.end_offsets(topic)
        if partition not in ends or not 0 <= offset < ends[partition]:
            return None
        for batch in self.read(topic, [OffsetRange(partition, offset, offset + 1)]):
            for record in batch:
                if record.offset == offset:
                    return record
        return None

    def follow(self, topic: str, starts: Mapping[int, int], *, poll_timeout_ms: int = 500,
               ) -> Iterator[list[InboundRecord]]:
        """Records of ``topic`` from ``starts`` on, as they come, without end: one batch per
        poll (empty when nothing came), so the caller can stop whenever it likes."""
        consumer = self._consumer
        tps = {TopicPartition(topic, p): off for p, off in starts.items()}
        with mapped_errors():
            consumer.assign(sorted(tps))
            for tp, off in tps.items():
                consumer.seek(tp, off)
        while True:
            with mapped_errors():
                batch = consumer.poll(timeout_ms=poll_timeout_ms)
            yield [InboundRecord(PartitionId(tp.topic, tp.partition), m.offset, m.key, m.value,
                                 tuple(m.headers) if m.headers else (), m.timestamp)
                   for tp, recs in batch.items() for m in recs]


class RecordWriter:
    """Publishes records to explicit partitions and waits for the brokers' acknowledgement."""

    def __init__(self, options: Mapping[str, Any], *, client_id: str,
                 timeout_s: float = 30.0) -> None:
        self._timeout_s = timeout_s
        try:
            with mapped_errors():
                self._producer = KafkaProducer(
                    **options, client_id=client_id, acks="all", linger_ms=5,
                    max_in_flight_requests_per_connection=1, retries=5,
                    bootstrap_timeout_ms=int(timeout_s * 1000))
        except KafkaUnavailable:
            raise
        except Exception as exc:  # NoBrokersAvailable
            raise KafkaUnavailable(str(exc)) from exc
        self._pending: list[Any] = []

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]]) -> None:
        """Queue one record; `flush` waits for it (and raises if it was refused)."""
        with mapped_errors():
            self._pending.append(self._producer.send(topic, key=key, value=value,
                                                     partition=partition, headers=headers))

    def flush(self) -> None:
        """Wait until every queued record is acknowledged; raises `PublishError` or
        `KafkaUnavailable` (translated) for the first that was not."""
        pending, self._pending = self._pending, []
        with mapped_errors():
            self._producer.flush(timeout=self._timeout_s)
        for future in pending:
            try:
                future.get(timeout=self._timeout_s)
            except kafka_errors.KafkaError as exc:
                raise translate(exc) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._producer.close(timeout=10)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
