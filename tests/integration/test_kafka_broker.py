"""Proof against the real broker: JSON round trips, a two-member group, resuming from commits."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.structs import OffsetAndMetadata

from worker.kafka.broker import LocalKafkaBroker, PortInUseError, port_is_open

pytestmark = pytest.mark.integration


def _produce_json(bootstrap: str, topic: str, count: int, partitions: int = 1) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(count):
        producer.send(topic, key=f"team-1:cand-{i % 50}".encode(),
                      value=json.dumps({"n": i}).encode(), partition=i % partitions)
    producer.flush(timeout=30)
    producer.close()


def _consumer(bootstrap: str, group: str, topic: str | None = None) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=[CooperativeStickyAssignor],
        max_poll_records=50,
    )
    if topic:
        # The topic's metadata first: kafka-python's group leader can otherwise assign before
        # it knows the topic's partitions, giving a member nothing (as worker/kafka/consumer.py).
        consumer.partitions_for_topic(topic)
        consumer.subscribe([topic])
    return consumer


def test_json_round_trip(kafka_bootstrap: str, create_topic: Callable[..., str],
                         unique_name: Callable[[str], str]) -> None:
    """A JSON record produced with kafka-python comes back with the same key and value."""
    topic = create_topic(unique_name("events"))
    _produce_json(kafka_bootstrap, topic, 3)
    consumer = _consumer(kafka_bootstrap, unique_name("group"), topic)
    got: list[tuple[bytes | None, object]] = []
    deadline = time.monotonic() + 30
    while len(got) < 3 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend((r.key, json.loads(r.value)) for r in records)
    consumer.close()
    assert got == [(b"team-1:cand-0", {"n": 0}), (b"team-1:cand-1", {"n": 1}),
                   (b"team-1:cand-2", {"n": 2})]


def test_two_members_share_partitions_exactly_once(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str],
) -> None:
    """Two group members over 6 partitions both get partitions; every record is consumed once."""
    topic = create_topic(unique_name("events"), partitions=6)
    total = 600
    group = unique_name("group")
    seen: Counter[int] = Counter()
    owned: dict[str, set[int]] = {"a": set(), "b": set()}
    assigned = {"a": threading.Event(), "b": threading.Event()}
    lock = threading.Lock()
    stop = threading.Event()

    def member(name: str) -> None:
        consumer = _consumer(kafka_bootstrap, group, topic)
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=200)
            if consumer.assignment():
                assigned[name].set()
            for tp, records in batch.items():
                with lock:
                    owned[name].add(tp.partition)
                    seen.update(json.loads(r.value)["n"] for r in records)
                consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)})
        consumer.close(autocommit=False)

    threads = [threading.Thread(target=member, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    # Produce only once the group has settled with both members holding partitions.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(e.is_set() for e in assigned.values()):
        time.sleep(0.1)
    time.sleep(1.0)
    _produce_json(kafka_bootstrap, topic, total, partitions=6)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if sum(seen.values()) >= total:
                break
        time.sleep(0.1)
    time.sleep(1.0)  # anything consumed twice would arrive now
    stop.set()
    for t in threads:
        t.join(timeout=15)

    assert sum(seen.values()) == total
    assert set(seen) == set(range(total))
    assert max(seen.values()) == 1, "a record was consumed twice"
    assert owned["a"], f"member a got no partition: {owned}"
    assert owned["b"], f"member b got no partition: {owned}"


def test_restarted_group_resumes_from_committed_offsets(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str],
) -> None:
    """A group restarted after committing resumes where it committed and reads nothing twice."""
    topic = create_topic(unique_name("events"))
    group = unique_name("group")
    _produce_json(kafka_bootstrap, topic, 10)

    first = _consumer(kafka_bootstrap, group, topic)
    first_seen: list[int] = []
    deadline = time.monotonic() + 30
    while len(first_seen) < 4 and time.monotonic() < deadline:
        for records in first.poll(timeout_ms=500, max_records=4 - len(first_seen)).values():
            first_seen.extend(json.loads(r.value)["n"] for r in records)
    tp = TopicPartition(topic, 0)
    first.commit({tp: OffsetAndMetadata(4, "", -1)})
    first.close(autocommit=False)
    assert first_seen == [0, 1, 2, 3]

    second = _consumer(kafka_bootstrap, group, topic)
    second_seen: list[int] = []
    deadline = time.monotonic() + 30
    while len(second_seen) < 6 and time.monotonic() < deadline:
        for records in second.poll(timeout_ms=500).values():
            second_seen.extend(json.loads(r.value)["n"] for r in records)
    # Anything past the end would show up within a further poll.
    for records in second.poll(timeout_ms=1000).values():
        second_seen.extend(json.loads(r.value)["n"] for r in records)
    second.close(autocommit=False)
    assert second_seen == [4, 5, 6, 7, 8, 9]


def test_second_start_on_a_busy_port_fails_fast(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Starting a broker on a port already in use fails at once with a clear message."""
    host, port = kafka_bootstrap.split(",", maxsplit=1)[0].rsplit(":", 1)
    assert port_is_open(host, int(port))
    t0 = time.monotonic()
    with pytest.raises(PortInUseError, match="already in use"):
        LocalKafkaBroker(port=int(port), host=host, run_dir=tmp_path / "second").start()
    assert time.monotonic() - t0 < 5
