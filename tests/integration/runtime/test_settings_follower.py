"""SettingsFollower against the real broker: reads the compacted topic whole, then follows it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from worker.kafka.settings_follower import SettingsFollower

pytestmark = pytest.mark.integration

Seen = list[tuple[str, bytes | None]]


class Recorder:
    """Collects the follower's records; waits for a count."""

    def __init__(self) -> None:
        self.seen: Seen = []
        self._cond = threading.Condition()

    def __call__(self, team_id: str, value: bytes | None) -> None:
        with self._cond:
            self.seen.append((team_id, value))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 20) -> Seen:
        with self._cond:
            self._cond.wait_for(lambda: len(self.seen) >= count, timeout)
            return list(self.seen)


@pytest.fixture
def produce(kafka_bootstrap: str) -> Iterator[Callable[..., None]]:
    """Send (key, value) records to a topic and flush."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)

    def send(topic: str, *records: tuple[bytes | None, bytes | None], partition: int = 0) -> None:
        for key, value in records:
            producer.send(topic, key=key, value=value, partition=partition)
        producer.flush(timeout=30)

    yield send
    producer.close()


@pytest.fixture
def follow(kafka_bootstrap: str) -> Iterator[Callable[..., tuple[SettingsFollower, Recorder]]]:
    """Start followers on topics; stop them afterwards."""
    started: list[SettingsFollower] = []

    def start(topic: str, **kwargs: object) -> tuple[SettingsFollower, Recorder]:
        recorder = Recorder()
        follower = SettingsFollower({"bootstrap_servers": kafka_bootstrap}, topic, recorder,
                                    **kwargs)  # type: ignore[arg-type]
        follower.start()
        started.append(follower)
        return follower, recorder

    yield start
    for follower in started:
        follower.stop()
        assert not follower.is_alive()


def test_caught_up_after_existing_records(
    create_topic: Callable[..., str], unique_name: Callable[[str], str],
    produce: Callable[..., None], follow: Callable[..., tuple[SettingsFollower, Recorder]],
) -> None:
    """Existing records (both partitions) arrive in order before caught_up is set."""
    topic = create_topic(unique_name("settings"), partitions=2,
                         configs={"cleanup.policy": "compact"})
    produce(topic, (b"acme", b"v1"), (b"acme", b"v2"), (b"globex", b"g1"), partition=0)
    produce(topic, (b"initech", b"i1"), partition=1)
    follower, recorder = follow(topic)
    assert follower.wait_caught_up(20)
    seen = recorder.wait_for(4, timeout=0)
    assert len(seen) == 4
    assert [s for s in seen if s[0] == "acme"] == [("acme", b"v1"), ("acme", b"v2")]
    assert sorted(seen) == sorted([("acme", b"v1"), ("acme", b"v2"), ("globex", b"g1"),
                                   ("initech", b"i1")])
    assert follower.error is None


def test_empty_topic_is_caught_up_at_once(
    create_topic: Callable[..., str], unique_name: Callable[[str], str],
    follow: Callable[..., tuple[SettingsFollower, Recorder]],
) -> None:
    """An empty topic: caught up without any record."""
    topic = create_topic(unique_name("settings"))
    follower, recorder = follow(topic)
    assert follower.wait_caught_up(10)
    assert recorder.seen == []


def test_follows_later_update_and_tombstone(
    create_topic: Callable[..., str], unique_name: Callable[[str], str],
    produce: Callable[..., None], follow: Callable[..., tuple[SettingsFollower, Recorder]],
) -> None:
    """After catching up, a new document and a tombstone (None) are handed over as they come."""
    topic = create_topic(unique_name("settings"))
    produce(topic, (b"acme", b"v1"))
    follower, recorder = follow(topic)
    assert follower.wait_caught_up(20)
    produce(topic, (b"acme", b"v2"), (b"acme", None))
    assert recorder.wait_for(3) == [("acme", b"v1"), ("acme", b"v2"), ("acme", None)]


def test_undecodable_and_missing_keys_are_skipped(
    create_topic: Callable[..., str], unique_name: Callable[[str], str],
    produce: Callable[..., None], follow: Callable[..., tuple[SettingsFollower, Recorder]],
) -> None:
    """A record whose key is not UTF-8, or missing, is skipped; the next one still arrives."""
    topic = create_topic(unique_name("settings"))
    produce(topic, (b"\xff\xfe", b"x"), (None, b"y"), (b"acme", b"v1"))
    follower, recorder = follow(topic)
    assert follower.wait_caught_up(20)
    assert recorder.seen == [("acme", b"v1")]
    assert follower.records_skipped == 2


def test_missing_topic_counts_as_empty_then_is_followed(
    kafka_bootstrap: str, unique_name: Callable[[str], str], produce: Callable[..., None],
    follow: Callable[..., tuple[SettingsFollower, Recorder]],
) -> None:
    """A topic that does not exist: caught up after the grace; once it appears it is read."""
    topic = unique_name("later")
    started = time.monotonic()
    follower, recorder = follow(topic, missing_topic_grace_s=1.0)
    assert follower.wait_caught_up(10)
    assert time.monotonic() - started >= 1.0
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="tests-follower")
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}},
                            timeout_ms=10_000, wait_for_metadata=True)
        produce(topic, (b"acme", b"v1"))
        assert recorder.wait_for(1) == [("acme", b"v1")]
    finally:
        admin.delete_topics([topic], timeout_ms=10_000)
        admin.close()


def test_callback_error_ends_the_thread_with_error(
    create_topic: Callable[..., str], unique_name: Callable[[str], str],
    produce: Callable[..., None], kafka_bootstrap: str,
) -> None:
    """An exception from on_record stops the follower and is kept in .error."""
    topic = create_topic(unique_name("settings"))
    produce(topic, (b"acme", b"v1"))

    def boom(team_id: str, value: bytes | None) -> None:
        raise RuntimeError("listener bug")

    follower = SettingsFollower({"bootstrap_servers": kafka_bootstrap}, topic, boom)
    follower.start()
    with pytest.raises(RuntimeError, match="listener bug"):
        follower.wait_caught_up(20)
    follower.stop()
    assert isinstance(follower.error, RuntimeError)
