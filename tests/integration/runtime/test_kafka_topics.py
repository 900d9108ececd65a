"""ensure_topics against the real broker: creates what is missing, idempotently, with configs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from worker.config import WorkerConfig
from worker.core.limits import EVENTS_TOPIC_MAX_BYTES, MAX_DEAD_LETTER_BYTES, MAX_EVENT_BYTES
from worker.kafka.errors import TopicAdminError
from worker.kafka.topics import TopicSpec, default_topic_specs, ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    """An admin client for checking, and the cleanup of topics this test made."""
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="tests-topics")
    client.made = []
    yield client
    with contextlib.suppress(Exception):
        if client.made:
            client.delete_topics(client.made, timeout_ms=10_000)
    client.close()


def topic_config(admin: KafkaAdminClient, topic: str) -> dict[str, str]:
    """The topic's explicitly set configs (name → value)."""
    result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    configs = result["topic"][topic]
    return {name: entry["value"] if isinstance(entry, dict) else entry
            for name, entry in configs.items()}


def test_creates_missing_topics_idempotently(
    kafka_bootstrap: str, admin: KafkaAdminClient, unique_name: Callable[[str], str]
) -> None:
    """A first call creates the topics with their partitions; a second creates nothing."""
    options = {"bootstrap_servers": kafka_bootstrap}
    plain, compacted = unique_name("plain"), unique_name("compacted")
    admin.made += [plain, compacted]
    specs = {plain: TopicSpec(partitions=3),
             compacted: TopicSpec(partitions=1, compacted=True,
                                  configs={"min.cleanable.dirty.ratio": "0.1"})}
    assert sorted(ensure_topics(options, specs)) == sorted([plain, compacted])
    assert ensure_topics(options, specs) == []
    described = {t["name"]: t for t in admin.describe_topics([plain, compacted])}
    assert len(described[plain]["partitions"]) == 3
    assert len(described[compacted]["partitions"]) == 1
    assert topic_config(admin, compacted)["cleanup.policy"] == "compact"
    assert topic_config(admin, compacted)["min.cleanable.dirty.ratio"] == "0.1"
    assert topic_config(admin, plain).get("cleanup.policy", "delete") == "delete"


def test_existing_topic_is_left_alone(
    kafka_bootstrap: str, create_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    """A topic that exists is not touched, whatever its spec says."""
    topic = create_topic(unique_name("existing"), partitions=2)
    assert ensure_topics({"bootstrap_servers": kafka_bootstrap},
                         {topic: TopicSpec(partitions=5, compacted=True)}) == []


def test_invalid_topic_config_is_a_topic_admin_error(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """A config the broker refuses raises TopicAdminError naming the topic."""
    topic = unique_name("bad")
    with pytest.raises(TopicAdminError, match="bad"):
        ensure_topics({"bootstrap_servers": kafka_bootstrap},
                      {topic: TopicSpec(partitions=1, configs={"cleanup.policy": "shred"})})


def test_default_specs_make_the_workers_topics(
    kafka_bootstrap: str, admin: KafkaAdminClient, unique_name: Callable[[str], str]
) -> None:
    """The default specs create four topics, the settings one compacted, the dead-letter topic
    larger than the events topic (a dead letter carries its event whole)."""
    config = WorkerConfig(
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=unique_name("events"), settings_topic=unique_name("settings"),
        outcomes_topic=unique_name("outcomes"), dlq_topic=unique_name("dlq"),
    )
    specs = default_topic_specs(config, events_partitions=3)
    admin.made += list(specs)
    assert sorted(ensure_topics(config.kafka_client_options(), specs)) == sorted(specs)
    assert topic_config(admin, config.settings_topic)["cleanup.policy"] == "compact"
    described = {t["name"]: t for t in admin.describe_topics(list(specs))}
    assert len(described[config.events_topic]["partitions"]) == 3
    events_limit = int(topic_config(admin, config.events_topic)["max.message.bytes"])
    dlq_limit = int(topic_config(admin, config.dlq_topic)["max.message.bytes"])
    assert events_limit == EVENTS_TOPIC_MAX_BYTES > MAX_EVENT_BYTES
    assert dlq_limit == MAX_DEAD_LETTER_BYTES >= events_limit + 8_000
