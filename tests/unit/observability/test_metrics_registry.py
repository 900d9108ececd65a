"""Metrics: names, labels and values behind the intent-named methods."""

from __future__ import annotations

import inspect

import pytest
from prometheus_client.parser import text_string_to_metric_families

import worker
from worker.observability.metrics import Metrics
from worker.pinpoint.observer import ClientObserver

pytestmark = pytest.mark.unit

ALLOWED_LABELS = {"topic", "event_type", "outcome", "reason", "operation", "status_class"}
ALLOWED_LABELS |= {"partition", "version", "le"}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def exercise(metrics: Metrics) -> None:
    metrics.event_consumed("sourcewhale.campaign-events", "com.sourcewhale.candidate.added")
    metrics.event_processed("com.sourcewhale.candidate.added", "synced", "pushed", 1.5)
    metrics.dead_lettered("invalid_event")
    metrics.outcome_publish_failed()
    metrics.pinpoint_request("create_candidate", "2xx", 0.2)
    metrics.on_request("acme", "create_comment", "5xx", 1.0)
    metrics.retry("create_comment", "5xx")
    metrics.on_retry("acme", "create_comment", "timeout")
    metrics.rate_limit_wait(0.5)
    metrics.on_rate_limit_wait("acme", 0.25)
    metrics.partition_state("events", 0, lag=5, committed=10, oldest_inflight_age=2.0)
    metrics.inflight(3)
    metrics.buffered(7)
    metrics.paused_teams(1)
    metrics.consumer_poll()
    metrics.settings_loaded(4)


def test_every_metric_is_namespaced(metrics: Metrics) -> None:
    """Every exported metric name starts with pinpoint_sync_."""
    exercise(metrics)
    names = [family.name for family in metrics.registry.collect()]
    assert names
    assert all(name.startswith("pinpoint_sync_") for name in names), names


def test_labels_are_low_cardinality(metrics: Metrics) -> None:
    """No sample carries a label outside the bounded set (no candidate, team or subdomain)."""
    exercise(metrics)
    for family in metrics.registry.collect():
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, (sample.name, sample.labels)
    assert b"acme" not in metrics.render()


def test_event_consumed_counts_by_topic_and_type(metrics: Metrics) -> None:
    """event_consumed increments the consumed counter for its topic and type."""
    metrics.event_consumed("t", "x")
    metrics.event_consumed("t", "x")
    assert value(metrics, "pinpoint_sync_events_consumed_total", topic="t", event_type="x") == 2


def test_event_processed_counts_outcome_reason_and_latency(metrics: Metrics) -> None:
    """event_processed feeds the processed counter, the decisions counter and the histogram."""
    metrics.event_processed("added", "skipped", "integration_inactive", 3.0)
    metrics.event_processed("added", "skipped", "integration_inactive", None)
    assert (
        value(
            metrics, "pinpoint_sync_events_processed_total", event_type="added", outcome="skipped"
        )
        == 2
    )
    assert (
        value(
            metrics,
            "pinpoint_sync_decisions_total",
            outcome="skipped",
            reason="integration_inactive",
        )
        == 2
    )
    assert value(metrics, "pinpoint_sync_end_to_end_seconds_count", event_type="added") == 1
    assert value(metrics, "pinpoint_sync_end_to_end_seconds_sum", event_type="added") == 3.0


def test_negative_latency_is_clamped(metrics: Metrics) -> None:
    """An event time in the future (clock skew) is observed as zero, not negative."""
    metrics.event_processed("added", "synced", "pushed", -4.0)
    assert value(metrics, "pinpoint_sync_end_to_end_seconds_sum", event_type="added") == 0.0


def test_dead_letters_and_publish_failures(metrics: Metrics) -> None:
    """dead_lettered counts by reason; outcome_publish_failed counts without labels."""
    metrics.dead_lettered("undecodable")
    metrics.outcome_publish_failed()
    assert value(metrics, "pinpoint_sync_dead_letters_total", reason="undecodable") == 1
    assert value(metrics, "pinpoint_sync_outcome_publish_failures_total") == 1


def test_pinpoint_request_and_observer_hooks_share_series(metrics: Metrics) -> None:
    """The client's hooks land on the same series as the direct methods, without subdomain."""
    metrics.pinpoint_request("create_comment", "2xx", 0.1)
    metrics.on_request("acme", "create_comment", "2xx", 0.3)
    metrics.on_request("globex", "create_comment", "2xx", 0.2)
    assert value(
        metrics, "pinpoint_sync_pinpoint_requests_total",
        operation="create_comment", status_class="2xx",
    ) == 3  # fmt: skip
    assert (
        value(metrics, "pinpoint_sync_pinpoint_request_seconds_count", operation="create_comment")
        == 3
    )
    metrics.retry("create_comment", "5xx")
    metrics.on_retry("acme", "create_comment", "5xx")
    assert (
        value(
            metrics,
            "pinpoint_sync_pinpoint_retries_total",
            operation="create_comment",
            reason="5xx",
        )
        == 2
    )
    metrics.rate_limit_wait(1.0)
    metrics.on_rate_limit_wait("acme", 2.0)
    assert value(metrics, "pinpoint_sync_rate_limit_wait_seconds_sum") == 3.0


def test_metrics_satisfies_the_client_observer_protocol() -> None:
    """Metrics has every hook of the Pinpoint client's observer, with the same parameters."""
    hooks = [name for name in vars(ClientObserver) if name.startswith("on_")]
    assert hooks
    for name in hooks:
        expected = inspect.signature(getattr(ClientObserver, name))
        actual = inspect.signature(getattr(Metrics, name))
        assert list(actual.parameters) == list(expected.parameters), name


def test_partition_state_sets_and_clears_series(metrics: Metrics) -> None:
    """Known values are set; unknown lag or offset removes the series; no in-flight reads 0."""
    metrics.partition_state("ev", 2, lag=40, committed=100, oldest_inflight_age=1.5)
    assert value(metrics, "pinpoint_sync_consumer_lag", topic="ev", partition="2") == 40
    assert value(metrics, "pinpoint_sync_committed_offset", topic="ev", partition="2") == 100
    assert (
        value(metrics, "pinpoint_sync_oldest_inflight_age_seconds", topic="ev", partition="2")
        == 1.5
    )
    metrics.partition_state("ev", 2, lag=None, committed=101, oldest_inflight_age=None)
    assert value(metrics, "pinpoint_sync_consumer_lag", topic="ev", partition="2") is None
    assert value(metrics, "pinpoint_sync_committed_offset", topic="ev", partition="2") == 101
    assert (
        value(metrics, "pinpoint_sync_oldest_inflight_age_seconds", topic="ev", partition="2") == 0
    )


def test_forget_partition_removes_its_gauges(metrics: Metrics) -> None:
    """A revoked partition's gauges disappear, others stay; forgetting twice is harmless."""
    metrics.partition_state("ev", 0, lag=1, committed=2, oldest_inflight_age=3.0)
    metrics.partition_state("ev", 1, lag=1, committed=2, oldest_inflight_age=3.0)
    metrics.forget_partition("ev", 0)
    metrics.forget_partition("ev", 0)
    rendered = metrics.render().decode()
    assert 'partition="0"' not in rendered
    assert value(metrics, "pinpoint_sync_consumer_lag", topic="ev", partition="1") == 1


def test_scheduler_gauges(metrics: Metrics) -> None:
    """inflight, buffered and paused_teams set their gauges to the latest value."""
    metrics.inflight(5)
    metrics.inflight(2)
    metrics.buffered(9)
    metrics.paused_teams(1)
    assert value(metrics, "pinpoint_sync_inflight_events") == 2
    assert value(metrics, "pinpoint_sync_buffered_records") == 9
    assert value(metrics, "pinpoint_sync_paused_teams") == 1


def test_consumer_poll_is_a_heartbeat(metrics: Metrics) -> None:
    """consumer_poll counts polls and records when the last one happened."""
    metrics.consumer_poll()
    metrics.consumer_poll()
    assert value(metrics, "pinpoint_sync_consumer_polls_total") == 2
    last = value(metrics, "pinpoint_sync_consumer_last_poll_timestamp_seconds")
    assert last is not None
    assert last > 1_600_000_000


def test_settings_loaded(metrics: Metrics) -> None:
    """settings_loaded records the number of teams and when."""
    metrics.settings_loaded(12)
    assert value(metrics, "pinpoint_sync_settings_teams") == 12
    assert value(metrics, "pinpoint_sync_settings_last_loaded_timestamp_seconds")


def test_build_info_and_process_metrics(metrics: Metrics) -> None:
    """The registry carries the version and namespaced process metrics."""
    assert value(metrics, "pinpoint_sync_build_info", version=worker.__version__) == 1
    without = Metrics(process_metrics=False)
    assert value(without, "pinpoint_sync_process_resident_memory_bytes") is None


def test_instances_are_isolated() -> None:
    """Two Metrics objects have separate registries."""
    one, two = Metrics(), Metrics()
    one.dead_lettered("x")
    assert value(two, "pinpoint_sync_dead_letters_total", reason="x") is None


def test_render_is_valid_prometheus_text(metrics: Metrics) -> None:
    """render() output parses as Prometheus text and contains the exercised families."""
    exercise(metrics)
    families = {f.name for f in text_string_to_metric_families(metrics.render().decode())}
    assert "pinpoint_sync_events_consumed" in families
    assert "pinpoint_sync_pinpoint_request_seconds" in families
