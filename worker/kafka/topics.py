"""Creating the worker's topics when they are missing (idempotent; safe from several replicas).

`ensure_topics` creates only the topics the cluster does not list yet; a topic created by
someone else in between (``TopicAlreadyExists``) counts as done. Existing topics are left as
they are: their partition count and configuration belong to whoever made them.
`default_topic_specs` gives the worker's four topics: the settings topic compacted (DESIGN 5.2),
the others with time retention (the broker's default); the events and dead-letter topics sized
so that any event up to the contract's limit can be dead-lettered whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError, for_code

from worker.core.limits import EVENTS_TOPIC_MAX_BYTES, MAX_DEAD_LETTER_BYTES
from worker.kafka.errors import TopicAdminError, mapped_errors

if TYPE_CHECKING:
    from worker.config import WorkerConfig


@dataclass(frozen=True)
class TopicSpec:
    """How a topic is created: partitions, compaction and other topic configs."""

    partitions: int
    compacted: bool = False
    configs: Mapping[str, str] = field(default_factory=dict)
    replication_factor: int = -1
    """-1: the broker's default replication factor."""

    def topic_configs(self) -> dict[str, str]:
        """The configs sent on creation (``cleanup.policy=compact`` when compacted)."""
        configs = dict(self.configs)
        if self.compacted:
            configs.setdefault("cleanup.policy", "compact")
        return configs


def default_topic_specs(config: WorkerConfig, events_partitions: int = 6) -> dict[str, TopicSpec]:
    """The worker's topics: events and outcomes alike, settings compacted, one DLQ partition per
    three event partitions (dead letters are few).

    Sizes: the events topic takes an event of the contract's largest size with its key and
    headers; the dead-letter topic takes any record the events topic took, with its ``dlq.*``
    headers (a dead letter carries its event's bytes whole)."""
    return {
        config.events_topic: TopicSpec(
            partitions=events_partitions,
            configs={"max.message.bytes": str(EVENTS_TOPIC_MAX_BYTES)}),
        config.settings_topic: TopicSpec(partitions=1, compacted=True),
        config.outcomes_topic: TopicSpec(partitions=events_partitions),
        config.dlq_topic: TopicSpec(
            partitions=max(1, events_partitions // 3),
            configs={"max.message.bytes": str(MAX_DEAD_LETTER_BYTES)}),
    }


def ensure_topics(options: Mapping[str, Any], topics: Mapping[str, TopicSpec], *,
                  client_id: str = "pinpoint-sync-admin", timeout_s: float = 30.0) -> list[str]:
    """Create the missing ones of ``topics``; returns the names this call created.

    ``timeout_s`` bounds reaching the brokers and each admin request.

    Raises `KafkaUnavailable` when the brokers cannot be reached, `TopicAdminError` when a
    topic cannot be created (invalid name or config, not authorised...).
    """
    if not topics:
        return []
    with mapped_errors(admin=True):
        admin = KafkaAdminClient(**options, client_id=client_id,
                                 bootstrap_timeout_ms=int(timeout_s * 1000))
    try:
        with mapped_errors(admin=True):
            existing = set(admin.list_topics())
            missing = {name: spec for name, spec in topics.items() if name not in existing}
            if not missing:
                return []
            request = {
                name: {
                    "num_partitions": spec.partitions,
                    "replication_factor": spec.replication_factor,
                    "configs": spec.topic_configs(),
                }
                for name, spec in missing.items()
            }
            response = admin.create_topics(request, timeout_ms=int(timeout_s * 1000),
                                           raise_errors=False)
            created = _created(response)
            if created:
                admin.wait_for_topics(created, timeout_ms=int(timeout_s * 1000))
            return created
    finally:
        admin.close()


def _created(response: Mapping[str, Any]) -> list[str]:
    """Names created by a CreateTopics response; an error other than 'already exists' raises."""
    created: list[str] = []
    problems: list[str] = []
    for topic in response.get("topics", []):
        name = topic["name"]
        error = for_code(topic["error_code"])
        if topic["error_code"] == 0:
            created.append(name)
        elif error is not TopicAlreadyExistsError:
            detail = topic.get("error_message") or error.__name__
            problems.append(f"{name}: {detail}")
    if problems:
        raise TopicAdminError("could not create topics: " + "; ".join(problems))
    return created
