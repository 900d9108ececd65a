"""AsyncProducer against the real broker: acknowledged coordinates, headers, errors translated."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from worker.kafka.errors import KafkaClosed, PublishError
from worker.kafka.producer import AsyncProducer

pytestmark = pytest.mark.integration


def read_all(bootstrap: str, topic: str, count: int, partitions: int = 1) -> list[Any]:
    """The first ``count`` records of ``topic``, read without a group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got: list[Any] = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    consumer.close()
    return got


async def test_send_returns_coordinates_and_record_reads_back(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """A sent record is acknowledged with its partition and offset, and reads back intact."""
    topic = create_topic(unique_name("out"))
    async with AsyncProducer({"bootstrap_servers": kafka_bootstrap},
                             client_id="test-producer") as producer:
        first = await producer.send(topic, key=b"team-1:cand-1", value=b'{"n":1}',
                                    headers=[("content-type", b"application/json"),
                                             ("dlq.reason", b"invalid_event")])
        second = await producer.send(topic, key=b"team-1:cand-1", value=None)
    assert first == (0, 0)
    assert second == (0, 1)
    records = read_all(kafka_bootstrap, topic, 2)
    assert [(r.key, r.value) for r in records] == [(b"team-1:cand-1", b'{"n":1}'),
                                                   (b"team-1:cand-1", None)]
    assert list(records[0].headers) == [("content-type", b"application/json"),
                                        ("dlq.reason", b"invalid_event")]


async def test_many_concurrent_sends_keep_per_key_order(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """Hundreds of sends in flight at once all complete; records of one key keep their order."""
    topic = create_topic(unique_name("out"), partitions=3)
    producer = AsyncProducer({"bootstrap_servers": kafka_bootstrap}, client_id="test-producer")
    try:
        await producer.prepare(topic)
        futures = [producer.send_nowait(topic, key=f"k{i % 5}".encode(), value=str(i).encode())
                   for i in range(500)]
        results = await asyncio.gather(*futures)
    finally:
        await producer.close()
    assert len(set(results)) == 500
    records = read_all(kafka_bootstrap, topic, 500, partitions=3)
    by_key: dict[bytes, list[int]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(int(record.value))
    assert all(values == sorted(values) for values in by_key.values())
    assert sum(len(v) for v in by_key.values()) == 500


async def test_send_does_not_block_the_loop(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """While a send waits for its acknowledgement, other coroutines keep running."""
    topic = create_topic(unique_name("out"))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    async with AsyncProducer({"bootstrap_servers": kafka_bootstrap},
                             client_id="test-producer", config={"linger.ms": 100}) as producer:
        await producer.send(topic, key=b"k", value=b"v")
    task.cancel()
    assert ticks >= 10


async def test_oversized_record_is_a_publish_error(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """A record larger than the producer allows raises PublishError, not librdkafka's error."""
    topic = create_topic(unique_name("out"))
    async with AsyncProducer({"bootstrap_servers": kafka_bootstrap}, client_id="test-producer",
                             config={"message.max.bytes": 1024}) as producer:
        await producer.prepare(topic)
        with pytest.raises(PublishError):
            await producer.send(topic, key=b"k", value=b"x" * 4096)


async def test_send_after_close_is_refused(kafka_bootstrap: str) -> None:
    """A closed producer raises KafkaClosed; closing twice is fine."""
    producer = AsyncProducer({"bootstrap_servers": kafka_bootstrap}, client_id="test-producer")
    await producer.close()
    await producer.close()
    with pytest.raises(KafkaClosed):
        await producer.send("any", key=b"k", value=b"v")


# These two scenarios run in a child interpreter: librdkafka's threads keep retrying the refused
# address until the producer is closed, and the test must see the error reach the caller.
_UNREACHABLE = """
import asyncio, sys
from worker.kafka.errors import KafkaUnavailable
from worker.kafka.producer import AsyncProducer

async def on_send():
    producer = AsyncProducer({"bootstrap_servers": ["127.0.0.1:1"]}, client_id="t",
                             config={"message.timeout.ms": 1000})
    try:
        await producer.send("nowhere", key=b"k", value=b"v")
    finally:
        await producer.close(timeout=1)

async def at_start():
    await AsyncProducer.create({"bootstrap_servers": ["127.0.0.1:1"]}, client_id="t",
                               connect_timeout=1.0)

try:
    asyncio.run(on_send() if sys.argv[1] == "on_send" else at_start())
except KafkaUnavailable:
    print("KafkaUnavailable")
"""


@pytest.mark.parametrize("when", ["on_send", "at_start"])
def test_unreachable_broker_is_kafka_unavailable(when: str) -> None:
    """No broker answers (on a send, or while bootstrapping): KafkaUnavailable, within seconds."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", _UNREACHABLE, when],
                          capture_output=True, text=True, timeout=60, check=False,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.stdout.strip().splitlines()[-1:] == ["KafkaUnavailable"], done.stderr
    assert time.monotonic() - started < 20
