"""Bad input of any size: events near the size limits are dead-lettered and the worker goes on."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from worker.core.limits import MAX_EVENT_BYTES
from worker.kafka.topics import TopicSpec, ensure_topics
from worker.tools.sample import CampaignGenerator, SampleEvent

from .conftest import Stack

pytestmark = pytest.mark.integration


def invalid_event(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes that is not a campaign event."""
    head, tail = b'{"specversion":"1.0","padding":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def produce_large(stack: Stack, records: list[tuple[bytes, bytes]]) -> None:
    """Produce records larger than a client's default request size, one batch each, in order."""
    producer = KafkaProducer(**stack.options, acks="all", max_request_size=4 * 1024 * 1024,
                             linger_ms=0, max_in_flight_requests_per_connection=1)
    try:
        for key, value in records:
            producer.send(stack.events_topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close(timeout=10)


async def wait_committed_to_end(stack: Stack, timeout: float = 30) -> None:
    """Wait until the group's committed offsets reach every partition's end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    end = stack.end_offsets()
    while True:
        committed = await asyncio.to_thread(stack.group_offsets)
        if all(committed.get(p, 0) >= off for p, off in end.items()):
            return
        assert loop.time() < deadline, f"committed {committed}, end {end}"
        await asyncio.sleep(0.2)


def good_events(seed: int) -> list[SampleEvent]:
    """Valid events of a team without settings (skipped at once, no Pinpoint call)."""
    return CampaignGenerator(seed=seed).campaign(["quiet"], 3, steps=1, reply_rate=0.0)


async def test_events_at_the_size_limit_are_dead_lettered_whole(stack: Stack) -> None:
    """Invalid events just under, exactly at and just over the event size limit are each
    dead-lettered with their bytes unchanged, and the events after them are processed."""
    good = good_events(41)
    key = good[0].key  # the same key: the bad records sit in front of a good one
    sizes = {"under": MAX_EVENT_BYTES - 8_000, "at": MAX_EVENT_BYTES, "over": MAX_EVENT_BYTES + 1}
    bad = {name: invalid_event(size) for name, size in sizes.items()}
    outcomes = stack.reader(stack.outcomes_topic)
    dlq = stack.reader(stack.dlq_topic, decode=lambda v: v)
    await stack.start_worker()
    produce_large(stack, [(key, value) for value in bad.values()])
    stack.produce(good)
    await stack.wait_outcomes(outcomes, len(bad) + len(good), timeout=60)
    assert await asyncio.to_thread(dlq.wait_for, len(bad), 30)
    letters = sorted(dlq.records, key=lambda r: int(r[2]["dlq.source.offset"]))
    assert [len(v) for _, v, _ in letters] == list(sizes.values())
    assert [v for _, v, _ in letters] == list(bad.values())
    assert all(k == key and "dlq.truncated" not in h for k, _, h in letters)
    reasons = [h["dlq.reason"].decode() for _, _, h in letters]
    assert reasons[:2] == ["invalid_event"] * 2
    assert reasons[2] == "undecodable"  # too large to be read at all
    verdicts = {v["event_id"]: v["outcome"] for v in outcomes.values() if v["event_id"]}
    assert all(verdicts[e.event_id] == "skipped" for e in good)
    await wait_committed_to_end(stack)


def check_digest(letter: tuple[bytes | None, bytes, dict[str, bytes]], original: bytes,
                 key: bytes) -> None:
    """The dead letter is the digest of ``original``, with its headers."""
    got_key, value, headers = letter
    assert got_key == key
    assert headers["dlq.truncated"] == b"true"
    assert int(headers["dlq.original.size"]) == len(original)
    digest = json.loads(value)
    assert digest["value"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert digest["value"]["size"] == len(original)
    assert base64.b64decode(digest["value"]["head_base64"]) == original[:1024]
    assert len(value) < 4_000


async def test_event_above_the_producers_limit_is_dead_lettered_as_a_digest(
        stack: Stack) -> None:
    """An events topic configured above the worker's limits: an event too large for the
    producer to send whole is dead-lettered as a digest at once, and the worker goes on."""
    admin = KafkaAdminClient(**stack.options, client_id="tests-admin")
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, stack.events_topic,
                                            configs={"max.message.bytes": "3000000"})])
    finally:
        admin.close()
    good = good_events(45)
    huge = invalid_event(2_000_000)
    outcomes = stack.reader(stack.outcomes_topic)
    dlq = stack.reader(stack.dlq_topic, decode=lambda v: v)
    await stack.start_worker()
    produce_large(stack, [(good[0].key, huge)])
    stack.produce(good)
    await stack.wait_outcomes(outcomes, 1 + len(good), timeout=60)
    assert await asyncio.to_thread(dlq.wait_for, 1, 30)
    check_digest(dlq.records[0], huge, good[0].key)
    assert dlq.records[0][2]["dlq.reason"] == b"undecodable"  # over the size limit
    await wait_committed_to_end(stack)


async def test_dead_letter_too_large_for_its_topic_is_sent_as_a_digest(stack: Stack) -> None:
    """A dead-letter topic smaller than the event: a digest (size, SHA-256, first bytes) is
    dead-lettered with dlq.truncated, and the worker goes on with the next records."""
    small_dlq = stack.names("small-dlq")
    ensure_topics(stack.options, {small_dlq: TopicSpec(
        partitions=1, configs={"max.message.bytes": "100000"})})
    good = good_events(43)
    big = invalid_event(MAX_EVENT_BYTES)
    medium = invalid_event(300_000)
    outcomes = stack.reader(stack.outcomes_topic)
    dlq = stack.reader(small_dlq, decode=lambda v: v)
    await stack.start_worker(dlq_topic=small_dlq)
    produce_large(stack, [(good[0].key, big), (good[0].key, medium)])
    stack.produce(good)
    await stack.wait_outcomes(outcomes, 2 + len(good), timeout=60)
    assert await asyncio.to_thread(dlq.wait_for, 2, 30)
    letters = sorted(dlq.records, key=lambda r: int(r[2]["dlq.source.offset"]))
    for letter, original in zip(letters, (big, medium), strict=True):
        check_digest(letter, original, good[0].key)
        _, _, headers = letter
        assert headers["dlq.reason"] == b"invalid_event"
        assert headers["dlq.source.topic"].decode() == stack.events_topic
    verdicts = {v["event_id"]: v["outcome"] for v in outcomes.values() if v["event_id"]}
    assert all(verdicts[e.event_id] == "skipped" for e in good)
    await wait_committed_to_end(stack)
