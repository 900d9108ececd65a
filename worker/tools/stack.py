"""Pieces for driving a whole local stack: publish settings, produce events, watch outcomes.

Shared by the demo (``pinpoint-sync dev``), the end-to-end tests and the benchmarks, so that all
three exercise the worker the same way, through real Kafka topics.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from worker.tools.sample import SampleEvent


def produce(options: Mapping[str, Any], topic: str,
            records: Iterable[SampleEvent | tuple[bytes | None, bytes | None]],
            *, headers: list[tuple[str, bytes]] | None = None) -> int:
    """Produce records (key, value) to ``topic`` and wait until all are acknowledged."""
    producer = KafkaProducer(**options, linger_ms=5, batch_size=256 * 1024, acks="all")
    count = 0
    hdrs = headers if headers is not None else [("content-type", b"application/cloudevents+json")]
    try:
        for rec in records:
            key, value = (rec.key, rec.value) if isinstance(rec, SampleEvent) else rec
            producer.send(topic, key=key, value=value, headers=hdrs)
            count += 1
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return count


def publish_settings(options: Mapping[str, Any], topic: str,
                     documents: Iterable[Mapping[str, Any]]) -> None:
    """Publish team settings documents, keyed by team id."""
    produce(options, topic,
            [(str(d["team_id"]).encode(), json.dumps(d).encode()) for d in documents],
            headers=[])


@dataclass
class TopicReader:
    """A thread reading a topic from the beginning (no group), keeping every record."""

    options: Mapping[str, Any]
    topic: str
    decode: Callable[[bytes | None], Any] = field(
        default=lambda v: json.loads(v) if v is not None else None)
    records: list[tuple[bytes | None, Any, dict[str, bytes]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> TopicReader:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name=f"reader:{self.topic}")
        self._thread.start()
        ready.wait(30)
        return self

    def _run(self, ready: threading.Event) -> None:
        consumer = KafkaConsumer(**self.options, enable_auto_commit=False, group_id=None)
        try:
            partitions: set[int] | None = None
            deadline = time.monotonic() + 30
            while not partitions and time.monotonic() < deadline and not self._stop.is_set():
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    time.sleep(0.2)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions or ())]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ready.set()
            while not self._stop.is_set():
                for recs in consumer.poll(timeout_ms=200).values():
                    batch = [(r.key, self.decode(r.value),
                              dict(r.headers or ())) for r in recs]
                    with self._lock:
                        self.records.extend(batch)
        finally:
            ready.set()
            consumer.close()

    def count(self) -> int:
        with self._lock:
            return len(self.records)

    def values(self) -> list[Any]:
        with self._lock:
            return [v for _, v, _ in self.records]

    def wait_for(self, n: int, timeout: float, *, progress: Callable[[int], None] | None = None,
                 ) -> bool:
        """Wait until at least ``n`` records were read (True) or the timeout passed (False)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            got = self.count()
            if progress is not None and got != last:
                progress(got)
                last = got
            if got >= n:
                return True
            time.sleep(0.1)
        return self.count() >= n

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def settings_document(team_id: str, *, version: int = 1, active: bool = True,
                      subdomain: str | None = None, api_key_ref: str | None = None,
                      **groups: Mapping[str, Any]) -> dict[str, Any]:
    """A team settings document (DESIGN 5.2) with the given groups."""
    doc: dict[str, Any] = {
        "schema_version": 1,
        "team_id": team_id,
        "version": version,
        "integration": {"active": active, "subdomain": subdomain or team_id,
                        "api_key_ref": api_key_ref or f"{team_id}-key"},
    }
    doc.update({k: dict(v) for k, v in groups.items()})
    return doc
