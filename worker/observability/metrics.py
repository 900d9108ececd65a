"""The worker's Prometheus metrics, behind intent-named methods.

Code says what happened (``metrics.event_processed(...)``); this module owns the metric names,
types, labels and buckets. Every name starts with ``pinpoint_sync_``. Labels are low-cardinality
on purpose: event types, outcomes, reason codes, operations, status classes, topics and
partitions. There is never a candidate, event, team or subdomain label: teams are unbounded in
number and a subdomain names a customer, so per-team detail lives in the logs, which carry
``team_id`` on every line.

Each `Metrics` has its own registry (a fresh one unless given), so tests are isolated and two
workers in one process do not collide. The reference of every metric is in
``docs/operations.md``.
"""

from __future__ import annotations

import contextlib
import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

import worker

__all__ = ["CONTENT_TYPE", "NAMESPACE", "Metrics"]

NAMESPACE = "pinpoint_sync"

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The content type of `Metrics.render`'s output (Prometheus text format 0.0.4)."""

# Pinpoint calls: a fast local simulator answers in milliseconds, the real API in 0.1 s to a few
# seconds; retries of a slow call can take tens of seconds.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Event time to outcome: from under a second (live traffic) to hours (a backlog, a paused team).
_END_TO_END_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
)  # fmt: skip
# Rate-limiter waits: usually short pauses, up to a 429's Retry-After.
_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """The worker's metrics on one registry.

    Also satisfies the Pinpoint client's observer protocol (`on_request`, `on_retry`,
    `on_rate_limit_wait`); their ``subdomain`` argument is not used as a label (see the module
    docstring).
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        ns = NAMESPACE
        if process_metrics:
            ProcessCollector(namespace=ns, registry=r)
        self._build_info = Info("build", "Version of the running worker.", namespace=ns, registry=r)
        self._build_info.info({"version": worker.__version__})

        # -- events (counted for every event: see _EventCounters) ---------------------------
        self._events = _EventCounters()
        r.register(self._events)
        self._dead_letters = Counter(
            "dead_letters", "Events sent to the dead-letter topic, by reason.",
            ["reason"], namespace=ns, registry=r,
        )  # fmt: skip
        self._outcome_publish_failures = Counter(
            "outcome_publish_failures", "Outcome records that could not be published.",
            namespace=ns, registry=r,
        )  # fmt: skip

        # -- Pinpoint ----------------------------------------------------------------------
        self._requests = Counter(
            "pinpoint_requests", "Pinpoint API calls, by operation and status class.",
            ["operation", "status_class"], namespace=ns, registry=r,
        )  # fmt: skip
        self._request_seconds = Histogram(
            "pinpoint_request_seconds", "Latency of one Pinpoint API call, by operation.",
            ["operation"], namespace=ns, registry=r, buckets=_REQUEST_BUCKETS,
        )  # fmt: skip
        self._retries = Counter(
            "pinpoint_retries", "Pinpoint calls retried, by operation and reason.",
            ["operation", "reason"], namespace=ns, registry=r,
        )  # fmt: skip
        self._rate_limit_wait = Histogram(
            "rate_limit_wait_seconds", "Time spent waiting for the per-team rate limiter.",
            namespace=ns, registry=r, buckets=_WAIT_BUCKETS,
        )  # fmt: skip

        # -- consumer and scheduler --------------------------------------------------------
        self._lag = Gauge(
            "consumer_lag", "Records between the committed offset and the partition's end.",
            ["topic", "partition"], namespace=ns, registry=r,
        )  # fmt: skip
        self._committed = Gauge(
            "committed_offset", "Last committed offset, per partition.",
            ["topic", "partition"], namespace=ns, registry=r,
        )  # fmt: skip
        self._oldest_inflight = Gauge(
            "oldest_inflight_age_seconds",
            "Age of the oldest uncommitted in-flight event, per partition (0 when none).",
            ["topic", "partition"], namespace=ns, registry=r,
        )  # fmt: skip
        self._inflight = Gauge(
            "inflight_events", "Events being processed now.", namespace=ns, registry=r
        )
        self._buffered = Gauge(
            "buffered_records", "Records fetched and waiting for a lane.", namespace=ns, registry=r
        )
        self._paused_teams = Gauge(
            "paused_teams", "Teams whose processing is paused (e.g. a rejected API key).",
            namespace=ns, registry=r,
        )  # fmt: skip
        self._polls = Counter(
            "consumer_polls", "Consumer poll loop iterations (a heartbeat).",
            namespace=ns, registry=r,
        )  # fmt: skip
        self._last_poll = Gauge(
            "consumer_last_poll_timestamp_seconds", "Unix time of the last consumer poll.",
            namespace=ns, registry=r,
        )  # fmt: skip

        self._rebalancing = Gauge(
            "consumer_rebalancing_seconds",
            "Seconds the consumer has been in its current rebalance (or joining); 0 when stable.",
            namespace=ns, registry=r,
        )  # fmt: skip

        # -- settings ----------------------------------------------------------------------
        self._settings_follower_up = Gauge(
            "settings_follower_up",
            "1 while the settings follower's thread runs and makes progress, else 0.",
            namespace=ns, registry=r,
        )  # fmt: skip
        self._settings_teams = Gauge(
            "settings_teams", "Teams with settings held in memory.", namespace=ns, registry=r
        )
        self._settings_loaded_at = Gauge(
            "settings_last_loaded_timestamp_seconds",
            "Unix time the team settings were last loaded or changed.",
            namespace=ns, registry=r,
        )  # fmt: skip

    # -- events ----------------------------------------------------------------------------

    def event_consumed(self, topic: str, event_type: str) -> None:
        """A record was taken from ``topic`` (``event_type`` may be ``unknown`` if undecodable)."""
        consumed = self._events.consumed
        key = (topic, event_type)
        consumed[key] = consumed.get(key, 0) + 1

    def event_processed(
        self, event_type: str, outcome: str, reason: str, end_to_end_seconds: float | None
    ) -> None:
        """An event reached its outcome; ``end_to_end_seconds`` is event time to now, if known."""
        events = self._events
        decided = events.decided
        key = (event_type, outcome, reason)
        decided[key] = decided.get(key, 0) + 1
        if end_to_end_seconds is not None:
            events.observe(event_type, end_to_end_seconds)

    def event_settled(
        self, topic: str, event_type: str, outcome: str, reason: str, end_to_end_seconds: float
    ) -> None:
        """`event_consumed` and `event_processed` at once, for an event settled as it arrived
        (the skip path: one call per event instead of two)."""
        events = self._events
        consumed, decided = events.consumed, events.decided
        key = (topic, event_type)
        consumed[key] = consumed.get(key, 0) + 1
        key3 = (event_type, outcome, reason)
        decided[key3] = decided.get(key3, 0) + 1
        events.observe(event_type, end_to_end_seconds)

    def dead_lettered(self, reason: str) -> None:
        """An event was written to the dead-letter topic."""
        self._dead_letters.labels(reason=reason).inc()

    def outcome_publish_failed(self) -> None:
        """An outcome record could not be published."""
        self._outcome_publish_failures.inc()

    # -- Pinpoint --------------------------------------------------------------------------

    def pinpoint_request(self, operation: str, status_class: str, seconds: float) -> None:
        """A Pinpoint call ended with ``status_class`` (``2xx``, ``4xx``, ``timeout``, …)."""
        self._requests.labels(operation=operation, status_class=status_class).inc()
        self._request_seconds.labels(operation=operation).observe(max(0.0, seconds))

    def retry(self, operation: str, reason: str) -> None:
        """A Pinpoint call is being retried for ``reason`` (e.g. ``5xx``, ``timeout``)."""
        self._retries.labels(operation=operation, reason=reason).inc()

    def rate_limit_wait(self, seconds: float) -> None:
        """A call waited ``seconds`` for its team's rate limiter (or a Retry-After)."""
        self._rate_limit_wait.observe(max(0.0, seconds))

    # Observer protocol of the Pinpoint client: the subdomain is deliberately not a label.

    def on_request(self, subdomain: str, operation: str, status_class: str, seconds: float) -> None:
        """Pinpoint client hook: a call ended (see `pinpoint_request`)."""
        del subdomain
        self.pinpoint_request(operation, status_class, seconds)

    def on_retry(self, subdomain: str, operation: str, reason: str) -> None:
        """Pinpoint client hook: a call is retried (see `retry`)."""
        del subdomain
        self.retry(operation, reason)

    def on_rate_limit_wait(self, subdomain: str, seconds: float) -> None:
        """Pinpoint client hook: a call waited for the rate limiter (see `rate_limit_wait`)."""
        del subdomain
        self.rate_limit_wait(seconds)

    # -- consumer and scheduler ------------------------------------------------------------

    def partition_state(
        self,
        topic: str,
        partition: int,
        *,
        lag: int | None,
        committed: int | None,
        oldest_inflight_age: float | None,
    ) -> None:
        """Report one assigned partition's position.

        ``lag`` or ``committed`` of ``None`` (not known yet) removes that series rather than
        showing a stale value; ``oldest_inflight_age`` of ``None`` means nothing is in flight
        and reads 0.
        """
        labels = (topic, str(partition))
        for gauge, value in ((self._lag, lag), (self._committed, committed)):
            if value is None:
                _remove(gauge, labels)
            else:
                gauge.labels(*labels).set(value)
        self._oldest_inflight.labels(*labels).set(
            0.0 if oldest_inflight_age is None else max(0.0, oldest_inflight_age)
        )

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop a revoked or lost partition's series, so no stale gauge outlives it."""
        labels = (topic, str(partition))
        for gauge in (self._lag, self._committed, self._oldest_inflight):
            _remove(gauge, labels)

    def inflight(self, n: int) -> None:
        """Events being processed now."""
        self._inflight.set(n)

    def buffered(self, n: int) -> None:
        """Records fetched and not yet started."""
        self._buffered.set(n)

    def paused_teams(self, n: int) -> None:
        """Teams currently paused."""
        self._paused_teams.set(n)

    def consumer_poll(self) -> None:
        """The consumer loop polled (a heartbeat that alerts can watch)."""
        self._polls.inc()
        self._last_poll.set(time.time())

    def consumer_rebalancing(self, seconds: float) -> None:
        """The consumer has been rebalancing for ``seconds`` (0: its membership is stable)."""
        self._rebalancing.set(max(0.0, seconds))

    # -- settings --------------------------------------------------------------------------

    def settings_follower_up(self, up: bool) -> None:
        """Whether the settings follower runs and makes progress."""
        self._settings_follower_up.set(1 if up else 0)

    def settings_loaded(self, n_teams: int) -> None:
        """The team settings were loaded or changed; ``n_teams`` teams are held."""
        self._settings_teams.set(n_teams)
        self._settings_loaded_at.set(time.time())

    # -- exposition ------------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in Prometheus text format (see `CONTENT_TYPE`)."""
        return generate_latest(self.registry)


def _remove(gauge: Gauge, labels: tuple[str, str]) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)


class _EventCounters(Collector):
    """The per-event metrics (`events_consumed`, `events_processed`, `decisions`,
    `end_to_end_seconds`), counted in plain integers and read at collection time.

    They are updated for every event, from the event loop: prometheus-client's own counters take
    a lock per increment, which cost more than the rest of a skipped event's bookkeeping. Here an
    event is one dictionary increment (and one bucket increment); `events_processed` and
    `decisions` are both sums of the same counts by (event type, outcome, reason). Updated from
    one thread; a scrape from another only reads.
    """

    def __init__(self) -> None:
        self.consumed: dict[tuple[str, str], int] = {}
        self.decided: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, list[float]] = {}  # event type -> bucket counts..., sum
        self._bounds = _END_TO_END_BUCKETS

    def observe(self, event_type: str, seconds: float) -> None:
        row = self._latency.get(event_type)
        if row is None:
            row = self._latency[event_type] = [0.0] * (len(self._bounds) + 2)
        seconds = max(seconds, 0.0)
        row[bisect_left(self._bounds, seconds)] += 1  # le: the first bound >= seconds
        row[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        ns = NAMESPACE
        consumed = CounterMetricFamily(
            f"{ns}_events_consumed", "Records taken from Kafka, by topic and event type.",
            labels=["topic", "event_type"])
        for (topic, event_type), count in list(self.consumed.items()):
            consumed.add_metric([topic, event_type], count)
        yield consumed
        by_type: dict[tuple[str, str], int] = {}
        by_reason: dict[tuple[str, str], int] = {}
        for (event_type, outcome, reason), count in list(self.decided.items()):
            by_type[event_type, outcome] = by_type.get((event_type, outcome), 0) + count
            by_reason[outcome, reason] = by_reason.get((outcome, reason), 0) + count
        processed = CounterMetricFamily(
            f"{ns}_events_processed",
            "Events finished (offset committable), by type and outcome.",
            labels=["event_type", "outcome"])
        for labels, count in by_type.items():
            processed.add_metric(list(labels), count)
        yield processed
        decisions = CounterMetricFamily(
            f"{ns}_decisions", "Decisions taken, by outcome and reason code.",
            labels=["outcome", "reason"])
        for labels, count in by_reason.items():
            decisions.add_metric(list(labels), count)
        yield decisions
        latency = HistogramMetricFamily(
            f"{ns}_end_to_end_seconds", "Time from the event's own time to its outcome.",
            labels=["event_type"])
        for event_type, row in list(self._latency.items()):
            counts = list(row)
            cumulative, buckets = 0, []
            for bound, n in zip((*self._bounds, float("inf")), counts[:-1], strict=True):
                cumulative += int(n)
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            latency.add_metric([event_type], buckets, sum_value=counts[-1])
        yield latency
