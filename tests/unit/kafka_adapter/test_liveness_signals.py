"""What the Kafka threads tell the health checks: rebalance duration and follower progress."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import pytest

from worker.kafka.consumer import ConsumerSettings, GroupConsumer
from worker.kafka.records import InboundRecord, PartitionId
from worker.kafka.settings_follower import SettingsFollower

pytestmark = pytest.mark.unit


class Events:
    """ConsumerEvents that ignore everything (the thread is never started here)."""

    def assigned(self, tps: list[PartitionId]) -> None: ...

    def records(self, batch: list[InboundRecord], done: Callable[[], None]) -> None: ...

    def revoked(self, tps: list[PartitionId]) -> Mapping[PartitionId, int]:
        return {}

    def lost(self, tps: list[PartitionId]) -> None: ...

    def polled(self) -> None: ...

    def highwater(self, marks: Mapping[PartitionId, int]) -> None: ...


def test_rebalance_time_counts_from_joining_until_stable_and_again_from_the_next() -> None:
    """A new consumer counts as rebalancing until its membership is stable; it reads 0 while
    stable, and a later rebalance counts from when it was first seen."""
    consumer = GroupConsumer(ConsumerSettings(group_id="g", topic="t", client_options={}),
                             Events())
    time.sleep(0.01)
    assert consumer.rebalancing_seconds() > 0
    consumer._track_membership(stable=True)
    assert consumer.rebalancing_seconds() == 0
    consumer._track_membership(stable=False)
    time.sleep(0.02)
    consumer._track_membership(stable=False)  # still the same rebalance: not restarted
    assert consumer.rebalancing_seconds() >= 0.02
    consumer._track_membership(stable=True)
    assert consumer.rebalancing_seconds() == 0


def test_follower_reports_its_progress_age_and_a_requested_stop() -> None:
    """Before its thread runs the follower's progress age grows from creation; stop() marks
    its end as requested."""
    follower = SettingsFollower({"bootstrap_servers": ["127.0.0.1:1"]}, "settings",
                                lambda _team, _raw: None)
    time.sleep(0.01)
    assert follower.progress_age() >= 0.01
    assert not follower.stopped_on_request
    follower.stop()
    assert follower.stopped_on_request
    assert not follower.is_alive()
