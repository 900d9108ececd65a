"""The per-event metrics, counted in plain integers and read at scrape time."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from worker.observability.metrics import Metrics

pytestmark = pytest.mark.unit

E2E = "pinpoint_sync_end_to_end_seconds"
ADDED = "com.sourcewhale.candidate.added"
SENT = "com.sourcewhale.outreach.sent"


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(process_metrics=False)


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def buckets(metrics: Metrics, event_type: str) -> dict[str, float]:
    """The end-to-end histogram's buckets of one event type, by ``le`` label, in order."""
    found: dict[str, float] = {}
    for family in metrics.registry.collect():
        if family.name != E2E:
            continue
        for sample in family.samples:
            if sample.name == f"{E2E}_bucket" and sample.labels["event_type"] == event_type:
                found[sample.labels["le"]] = sample.value
    return found


def bound(le: str) -> float:
    return math.inf if le == "+Inf" else float(le)


@pytest.mark.parametrize(("seconds", "first_le"), [
    (0.0, "0.05"),
    (0.05, "0.05"),
    (0.051, "0.1"),
    (0.1, "0.1"),
    (1.0, "1.0"),
    (1.0000001, "2.5"),
    (86400.0, "86400.0"),
    (86400.5, "+Inf"),
    (1e12, "+Inf"),
])
def test_a_latency_lands_in_the_first_bucket_it_fits(
    metrics: Metrics, seconds: float, first_le: str,
) -> None:
    """A latency counts in the bucket of the first bound it does not exceed (a value equal to
    a bound counts in it) and in every bucket after; a huge value only in +Inf."""
    metrics.event_processed(ADDED, "skipped", "integration_inactive", seconds)
    found = buckets(metrics, ADDED)
    assert "+Inf" in found
    assert first_le in found
    les = list(found)
    at = les.index(first_le)
    assert [found[le] for le in les[:at]] == [0.0] * at
    assert [found[le] for le in les[at:]] == [1.0] * (len(les) - at)


def test_bounds_are_increasing_and_end_with_inf(metrics: Metrics) -> None:
    """The histogram's bounds rise strictly, start at 0.05 s and end with +Inf."""
    metrics.event_processed(ADDED, "synced", "sync_trigger_reached", 1.0)
    les = list(buckets(metrics, ADDED))
    values = [bound(le) for le in les]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert (les[0], les[1], les[-1]) == ("0.05", "0.1", "+Inf")


def test_buckets_are_cumulative_with_count_and_sum(metrics: Metrics) -> None:
    """Each bucket counts every observation at or under its bound; _count is all of them and
    _sum their total (negative latencies count as zero)."""
    observed = [0.0, 0.05, 0.051, 0.3, 0.3, 7.0, 3600.0, 1e9, -2.0]
    for seconds in observed:
        metrics.event_processed(ADDED, "skipped", "integration_inactive", seconds)
    clamped = [max(s, 0.0) for s in observed]
    found = buckets(metrics, ADDED)
    for le, count in found.items():
        assert count == sum(1 for s in clamped if s <= bound(le)), le
    counts = list(found.values())
    assert counts == sorted(counts)
    assert found["+Inf"] == len(observed)
    assert value(metrics, f"{E2E}_count", event_type=ADDED) == len(observed)
    assert value(metrics, f"{E2E}_sum", event_type=ADDED) == pytest.approx(sum(clamped))


def test_buckets_match_a_stock_histogram(metrics: Metrics) -> None:
    """The buckets, count and sum are those a prometheus-client Histogram with the same bounds
    gives for the same observations."""
    observed = [0.0, 0.01, 0.05, 0.0500001, 0.25, 0.26, 2.5, 9.99, 10.0, 299.0, 14400.0, 5e5]
    for seconds in observed:
        metrics.event_processed(SENT, "noted", "note_written", seconds)
    found = buckets(metrics, SENT)
    registry = CollectorRegistry()
    stock = Histogram("stock", "reference", registry=registry,
                      buckets=[bound(le) for le in found if le != "+Inf"])
    for seconds in observed:
        stock.observe(seconds)
    for le, count in found.items():
        assert registry.get_sample_value("stock_bucket", {"le": le}) == count, le
    assert registry.get_sample_value("stock_count", {}) == value(
        metrics, f"{E2E}_count", event_type=SENT)
    assert registry.get_sample_value("stock_sum", {}) == pytest.approx(
        value(metrics, f"{E2E}_sum", event_type=SENT))


def test_event_types_have_their_own_histograms(metrics: Metrics) -> None:
    """Latencies of one event type do not show in another's histogram; an outcome without a
    latency is counted but not observed."""
    metrics.event_processed(ADDED, "synced", "sync_trigger_reached", 0.02)
    metrics.event_processed(SENT, "noted", "note_written", 40.0)
    metrics.event_processed(SENT, "noted", "note_written", None)
    assert value(metrics, f"{E2E}_bucket", event_type=ADDED, le="0.05") == 1
    assert value(metrics, f"{E2E}_bucket", event_type=SENT, le="0.05") == 0
    assert value(metrics, f"{E2E}_bucket", event_type=SENT, le="60.0") == 1
    assert value(metrics, f"{E2E}_count", event_type=SENT) == 1
    assert value(metrics, f"{E2E}_sum", event_type=SENT) == 40.0
    assert value(metrics, "pinpoint_sync_events_processed_total", event_type=SENT,
                 outcome="noted") == 2


def test_processed_sums_over_reasons_and_decisions_over_types(metrics: Metrics) -> None:
    """events_processed adds up every reason of a type and outcome; decisions adds up every
    event type of an outcome and reason."""
    for _ in range(3):
        metrics.event_processed(ADDED, "skipped", "integration_inactive", None)
    metrics.event_processed(ADDED, "skipped", "sync_trigger_not_reached", None)
    metrics.event_processed(SENT, "skipped", "integration_inactive", 1.0)
    metrics.event_processed(SENT, "skipped", "integration_inactive", 1.0)
    metrics.event_processed(SENT, "noted", "note_written", 1.0)
    processed = "pinpoint_sync_events_processed_total"
    decisions = "pinpoint_sync_decisions_total"
    assert value(metrics, processed, event_type=ADDED, outcome="skipped") == 4
    assert value(metrics, processed, event_type=SENT, outcome="skipped") == 2
    assert value(metrics, processed, event_type=SENT, outcome="noted") == 1
    assert value(metrics, processed, event_type=ADDED, outcome="noted") is None
    assert value(metrics, decisions, outcome="skipped", reason="integration_inactive") == 5
    assert value(metrics, decisions, outcome="skipped", reason="sync_trigger_not_reached") == 1
    assert value(metrics, decisions, outcome="noted", reason="note_written") == 1


def test_consumed_counts_by_topic_and_type(metrics: Metrics) -> None:
    """events_consumed counts each topic and event type apart."""
    metrics.event_consumed("events", ADDED)
    metrics.event_consumed("events", ADDED)
    metrics.event_consumed("events", "invalid")
    metrics.event_consumed("replay", ADDED)
    consumed = "pinpoint_sync_events_consumed_total"
    assert value(metrics, consumed, topic="events", event_type=ADDED) == 2
    assert value(metrics, consumed, topic="events", event_type="invalid") == 1
    assert value(metrics, consumed, topic="replay", event_type=ADDED) == 1


def test_counts_are_read_at_each_scrape(metrics: Metrics) -> None:
    """A scrape shows the counts as they are then: later events show in the next one."""
    metrics.event_processed(ADDED, "synced", "sync_trigger_reached", 0.5)
    processed = "pinpoint_sync_events_processed_total"
    assert value(metrics, processed, event_type=ADDED, outcome="synced") == 1
    metrics.event_processed(ADDED, "synced", "sync_trigger_reached", 0.5)
    metrics.event_consumed("events", ADDED)
    assert value(metrics, processed, event_type=ADDED, outcome="synced") == 2
    assert value(metrics, f"{E2E}_count", event_type=ADDED) == 2
    assert value(metrics, "pinpoint_sync_events_consumed_total", topic="events",
                 event_type=ADDED) == 1


def test_rendered_text_has_counter_and_histogram_families(metrics: Metrics) -> None:
    """The rendered text declares the event counters as counters and the latency as a
    histogram, and parses back with the counted values."""
    metrics.event_consumed("events", ADDED)
    metrics.event_processed(ADDED, "skipped", "integration_inactive", 0.07)
    text = metrics.render().decode()
    for name in ("events_consumed", "events_processed", "decisions"):
        assert f"# TYPE pinpoint_sync_{name}_total counter" in text
    assert f"# TYPE {E2E} histogram" in text
    assert f'{E2E}_bucket{{event_type="{ADDED}",le="0.1"}} 1.0' in text
    assert f'{E2E}_bucket{{event_type="{ADDED}",le="0.05"}} 0.0' in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["pinpoint_sync_events_processed"].type == "counter"
    assert families["pinpoint_sync_decisions"].type == "counter"
    assert families[E2E].type == "histogram"
    [processed] = families["pinpoint_sync_events_processed"].samples
    assert processed.labels == {"event_type": ADDED, "outcome": "skipped"}
    assert processed.value == 1
    count = [s for s in families[E2E].samples if s.name == f"{E2E}_count"]
    assert [s.value for s in count] == [1]


def test_nothing_counted_renders_no_event_samples(metrics: Metrics) -> None:
    """Before any event, the event families have no samples."""
    for family in metrics.registry.collect():
        if family.name in ("pinpoint_sync_events_consumed", "pinpoint_sync_events_processed",
                           "pinpoint_sync_decisions", E2E):
            assert family.samples == [], family.name
