"""Team gauges with a bounded label set, and the state store's calls timed, failed and fenced."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.observability.metrics import Metrics
from worker.runtime.metered_store import metered
from worker.store.errors import FencedError
from worker.store.sqlite import SqliteStateStore

pytestmark = pytest.mark.unit


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_team_gauges_name_the_worst_teams_and_sum_the_rest() -> None:
    """Past TEAM_LABEL_LIMIT teams, the ones with the most waiting events are named and the rest
    summed as _other; a team that recovers loses its series."""
    metrics = Metrics()
    limit = Metrics.TEAM_LABEL_LIMIT
    states = {f"team-{i:02d}": ("credentials_refused", i + 1, float(i), True)
              for i in range(limit + 5)}
    metrics.team_states(states)
    named = {s.labels["team"] for f in metrics.registry.collect()
             if f.name == "pinpoint_sync_team_held_events" for s in f.samples}
    assert len(named) == limit + 1
    assert "_other" in named
    assert "team-00" not in named
    assert value(metrics, "pinpoint_sync_team_held_events", team="_other") == sum(range(1, 6))
    assert value(metrics, "pinpoint_sync_team_oldest_held_age_seconds", team="_other") == 4.0
    top = f"team-{limit + 4:02d}"
    assert value(metrics, "pinpoint_sync_team_status", team=top,
                 status="credentials_refused") == 1
    assert value(metrics, "pinpoint_sync_team_breaker_open", team=top) == 1

    metrics.team_states({"acme": ("failing", 3, 12.5, False)})
    assert value(metrics, "pinpoint_sync_team_held_events", team=top) is None
    assert value(metrics, "pinpoint_sync_team_status", team=top,
                 status="credentials_refused") is None
    assert value(metrics, "pinpoint_sync_team_status", team="acme", status="failing") == 1
    assert value(metrics, "pinpoint_sync_team_breaker_open", team="acme") == 0


async def test_store_calls_are_timed_and_failures_counted(tmp_path: Path) -> None:
    """Each store call is observed by operation; a fenced write counts a lost lease, not a store
    error, and reaches the caller unchanged."""
    metrics = Metrics()
    async with SqliteStateStore(tmp_path / "state.db") as raw:
        store = metered(raw, metrics)
        old = await store.acquire_lease("events", 0, "a", 30)
        await store.acquire_lease("events", 0, "b", 30)
        assert await store.get_effect("nothing") is None
        with pytest.raises(FencedError):
            await store.mark_done("event:t:1", team_id="t", kind="event", fence=old.fence)
        assert value(metrics, "pinpoint_sync_store_operation_seconds_count",
                     operation="get_effect") == 1
        assert value(metrics, "pinpoint_sync_store_operation_seconds_count",
                     operation="acquire_lease") == 2
        assert value(metrics, "pinpoint_sync_lease_lost_total") == 1
        assert value(metrics, "pinpoint_sync_store_errors_total", operation="mark_done") is None
    with pytest.raises(Exception):  # noqa: B017 - any error of a closed store
        await store.get_effect("after-close")
    assert value(metrics, "pinpoint_sync_store_errors_total", operation="get_effect") == 1
