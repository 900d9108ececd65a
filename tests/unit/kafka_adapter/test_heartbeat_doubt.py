"""A member whose group heartbeats have gone unacknowledged too long doubts its membership."""

from __future__ import annotations

from typing import Any

import pytest

from worker.kafka.consumer import ConsumerSettings, GroupConsumer
from worker.runtime.claims import StartGate
from worker.store.base import Fence

pytestmark = pytest.mark.unit


def _consumer() -> GroupConsumer:
    settings = ConsumerSettings(group_id="g", topic="t",
                                client_options={"request_timeout_ms": 30000},
                                session_timeout_ms=45000)
    events: Any = object()
    return GroupConsumer(settings, events)


def test_stale_heartbeat_closes_the_gate() -> None:
    """Past session timeout less a request timeout (at most a third of it) without an
    acknowledged heartbeat, the start gate refuses every call; a fresh one opens it again."""
    consumer = _consumer()
    consumer._joined = True
    gate = StartGate(in_doubt=consumer.heartbeat_in_doubt)
    fence = Fence("t", 0, 1)
    consumer.last_heartbeat_ok = 1000.0
    assert not consumer.heartbeat_in_doubt(now=1029.0)
    assert consumer.heartbeat_in_doubt(now=1031.0)
    consumer.last_heartbeat_ok = float("-inf")
    assert not gate.allows(fence)
    assert not gate.allows(None)
    import time  # noqa: PLC0415
    consumer.last_heartbeat_ok = time.monotonic()
    assert gate.allows(fence)


def test_member_not_joined_is_not_in_doubt() -> None:
    """Before joining the group there is no membership to doubt."""
    consumer = _consumer()
    consumer.last_heartbeat_ok = float("-inf")
    assert not consumer.heartbeat_in_doubt()
