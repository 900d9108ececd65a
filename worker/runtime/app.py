"""The worker's lifecycle: build the parts, run until told to stop, drain, commit, leave.

::

    start   store opened → health server up → settings topic read to its end → producer →
            Pinpoint client → consumer thread joins the group          (/readyz turns ready)
    run     records → scheduler: settled at once (an inactive team's events) or through their
            key's lane → processor; commits every COMMIT_INTERVAL_S and as soon as the
            worker is idle; metrics; paused teams probed every AUTH_PROBE_INTERVAL_S
    stop    (SIGTERM/SIGINT or shutdown()) /readyz not ready → stop fetching → drain in-flight
            work within DRAIN_TIMEOUT_S → final commit → leave the group → close everything

`Worker.run` returns when stopped; `shutdown` is idempotent and may be called from any coroutine
of the loop; signal handling is installed by `run` unless ``handle_signals=False`` (tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

import structlog

from worker.config import WorkerConfig
from worker.core.policy import integration_active
from worker.core.settings import TeamSettings
from worker.kafka.consumer import ConsumerSettings, GroupConsumer
from worker.kafka.producer import AsyncProducer
from worker.kafka.records import InboundRecord, PartitionId
from worker.kafka.settings_follower import SettingsFollower
from worker.observability.health import (
    HealthServer,
    HealthState,
    ReadinessCondition,
    rebalance_check,
    thread_progress_check,
)
from worker.observability.metrics import Metrics
from worker.pinpoint.client import PinpointClient
from worker.pinpoint.errors import AuthError, PinpointError
from worker.pinpoint.models import TenantCredentials
from worker.pinpoint.ratelimit import RateLimitConfig
from worker.pinpoint.retry import RetryPolicy
from worker.runtime.ports import PinpointApi
from worker.runtime.processor import EventProcessor, Topics
from worker.runtime.scheduler import KeyOrderedScheduler, SchedulerLimits
from worker.runtime.secrets import SecretResolver
from worker.runtime.settings_cache import SettingsCache
from worker.store.factory import open_state_store

log = structlog.get_logger("pinpoint_sync.worker")


class StartupError(RuntimeError):
    """The worker could not start (a dependency is unreachable or misconfigured)."""


class _Bridge:
    """The consumer thread's callbacks, carried onto the event loop (see ConsumerEvents)."""

    def __init__(self, worker: Worker, loop: asyncio.AbstractEventLoop) -> None:
        self._worker = worker
        self._loop = loop
        self.closing = False
        self.broken = False
        self.joined = threading.Event()
        self.highwater_marks: dict[PartitionId, int] = {}
        self.last_poll = time.monotonic()

    def assigned(self, tps: list[PartitionId]) -> None:
        self.joined.set()
        self._loop.call_soon_threadsafe(self._worker.on_assigned, tps)

    def records(self, batch: list[InboundRecord], done: Callable[[], None]) -> None:
        def take() -> None:
            try:
                if not self.broken:
                    self._worker.scheduler.submit(batch)
            except Exception as exc:
                # Taking in later batches could commit past records never taken in: take
                # nothing more and stop; a restart resumes from the last commit (nothing lost).
                self.broken = True
                log.exception("taking in a batch of records failed; stopping")
                self._worker.fail(exc)
            finally:
                done()

        self._loop.call_soon_threadsafe(take)

    def revoked(self, tps: list[PartitionId]) -> Mapping[PartitionId, int]:
        if self.closing or self._loop.is_closed():
            return {}
        timeout = self._worker.config.revoke_timeout_s
        fut: Future[Mapping[PartitionId, int]] = asyncio.run_coroutine_threadsafe(
            self._worker.on_revoked(tps, timeout), self._loop)
        try:
            return fut.result(timeout + 5)
        except Exception:  # noqa: BLE001 - a revoke that cannot finish only means redelivery
            log.warning("revoke did not finish in time; nothing committed for those partitions")
            return {}

    def lost(self, tps: list[PartitionId]) -> None:
        self._loop.call_soon_threadsafe(self._worker.on_lost, tps)

    def polled(self) -> None:
        # The event loop turns this into a heartbeat (see Worker._main_loop): liveness then
        # needs both the consumer thread and the loop to make progress.
        self.last_poll = time.monotonic()
        self._worker.metrics.consumer_poll()

    def highwater(self, marks: Mapping[PartitionId, int]) -> None:
        self.highwater_marks = dict(marks)


class Worker:
    """pinpoint-sync's worker process (one consumer group member)."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        metrics: Metrics | None = None,
        pinpoint: PinpointApi | None = None,
        handle_signals: bool = True,
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.health = HealthState()
        self._pinpoint_override = pinpoint
        self._handle_signals = handle_signals
        self._stop = asyncio.Event()
        self._stopped = False
        self._probes: dict[str, asyncio.Task[None]] = {}
        self.settings = SettingsCache(listener=self._on_settings_changed)
        self.secrets = SecretResolver(config.secrets_dir)
        self.scheduler: KeyOrderedScheduler
        self._consumer: GroupConsumer | None = None
        self._bridge: _Bridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.http_port: int | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Ask the worker to stop (idempotent)."""
        self._stop.set()

    def fail(self, error: BaseException) -> None:
        """Stop because of ``error``: the worker drains, commits what is done and exits 1."""
        if self._exit_error is None:
            self._exit_error = error
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped. Returns the process exit code (0 after a clean stop)."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.shutdown)
        async with contextlib.AsyncExitStack() as stack:
            store = await open_state_store(cfg)
            stack.push_async_callback(store.close)
            self.health.condition_met(ReadinessCondition.STORE_OPENED)

            server = HealthServer(self.metrics, self.health, port=cfg.http_port)
            await server.start()
            self.http_port = server.port
            stack.push_async_callback(server.stop)

            options: dict[str, Any] = dict(cfg.kafka_client_options())
            follower = SettingsFollower(options, cfg.settings_topic, self._apply_settings)
            self._watch_follower(follower)
            follower.start()
            stack.callback(follower.stop)
            if not await self._wait_for(follower.caught_up, "the settings topic"):
                return 1 if not self._stop.is_set() else 0
            self.health.condition_met(ReadinessCondition.SETTINGS_LOADED)
            self.metrics.settings_loaded(self.settings.teams())
            log.info("settings loaded", teams=self.settings.teams())

            producer = await AsyncProducer.create(options, client_id="pinpoint-sync-producer")
            stack.push_async_callback(producer.close, 10.0)
            self._producer = producer
            # The output topics must exist: checked now, not on the first event's outcome.
            await producer.prepare(cfg.outcomes_topic, cfg.dlq_topic, timeout=30.0)

            pinpoint: PinpointApi
            if self._pinpoint_override is not None:
                pinpoint = self._pinpoint_override
            else:
                client = PinpointClient(
                    cfg.pinpoint_base_url,
                    connect_timeout=cfg.pinpoint_connect_timeout_s,
                    total_timeout=cfg.pinpoint_timeout_s,
                    retry=RetryPolicy(max_attempts=cfg.retry_max_attempts,
                                      base_delay=cfg.retry_base_delay_s,
                                      max_delay=cfg.retry_max_delay_s,
                                      deadline=cfg.retry_deadline_s),
                    rate_limit=RateLimitConfig(rate=max(cfg.default_rate_limit, 0.001),
                                               burst=cfg.default_rate_burst,
                                               enabled=cfg.default_rate_limit > 0),
                    observer=self.metrics,
                    max_connections=max(cfg.max_inflight, 10),
                )
                stack.push_async_callback(client.close)
                pinpoint = client
            self._pinpoint = pinpoint

            processor = EventProcessor(
                store=store, pinpoint=pinpoint, settings=self.settings, secrets=self.secrets,
                publisher=producer, metrics=self.metrics,
                topics=Topics(outcomes=cfg.outcomes_topic, dlq=cfg.dlq_topic),
            )
            self._bridge = _Bridge(self, loop)
            consumer = GroupConsumer(
                ConsumerSettings(
                    group_id=cfg.group_id, topic=cfg.events_topic, client_options=options,
                    max_poll_records=cfg.max_poll_records,
                    session_timeout_ms=cfg.session_timeout_ms,
                    max_poll_interval_ms=cfg.max_poll_interval_ms,
                ),
                self._bridge,
            )
            self._watch_consumer(consumer)
            self.scheduler = KeyOrderedScheduler(
                processor.process,
                SchedulerLimits(max_inflight=cfg.max_inflight,
                                max_inflight_per_team=cfg.max_inflight_per_team,
                                partition_buffer=cfg.partition_buffer,
                                max_buffered=cfg.max_buffered),
                pause=consumer.pause, resume=consumer.resume,
                on_team_paused=self._on_team_paused,
                settle=processor.settle_now,
            )
            consumer.start()
            log.info("worker started", group=cfg.group_id, topic=cfg.events_topic,
                     http_port=self.http_port)
            try:
                if not await self._wait_for(self._bridge.joined, "the consumer group"):
                    return 1 if consumer.error is not None else 0
                self.health.condition_met(ReadinessCondition.GROUP_JOINED)
                await self._main_loop(consumer)
            finally:
                await self._stop_consuming(consumer)
        log.info("worker stopped")
        return 0 if self._exit_error is None else 1

    _exit_error: BaseException | None = None
    _producer: AsyncProducer | None = None
    follower: SettingsFollower | None = None
    """The settings follower (its thread feeds `settings`), once started."""
    _idle_commit_after = 0.0

    def _watch_follower(self, follower: SettingsFollower) -> None:
        """Liveness fails when the settings follower dies or stalls (settings would freeze)."""
        self.follower = follower
        self.health.watch("settings_follower", thread_progress_check(
            "settings follower", follower, stall_after=self.health.stall_after))

    def _watch_consumer(self, consumer: GroupConsumer) -> None:
        """Liveness fails when the consumer is stuck in a rebalance past its deadline."""
        self._consumer = consumer
        self.health.watch("consumer_rebalance", rebalance_check(
            consumer.rebalancing_seconds, stuck_after=self.config.rebalance_stuck_s))

    async def _wait_for(self, event: threading.Event, what: str) -> bool:
        """Wait for a thread's event, giving up when asked to stop (True once it is set)."""
        waited = 0.0
        while not event.is_set():
            if self._stop.is_set():
                return False
            self._beat_if_consuming()
            if self._consumer is not None and self._consumer.error is not None:
                self._exit_error = self._consumer.error
                log.error("consumer failed while waiting", waiting_for=what,
                          error=str(self._consumer.error))
                return False
            await asyncio.sleep(0.05)
            waited += 0.05
            if waited and int(waited * 20) % 200 == 0:
                log.info("still waiting", waiting_for=what, seconds=round(waited))
        return True

    def _beat_if_consuming(self) -> None:
        """Heartbeat from the event loop, only while the consumer thread polls too: liveness
        then needs both to make progress. The gauges of the other liveness checks go with it."""
        bridge = self._bridge
        if bridge is not None and time.monotonic() - bridge.last_poll < self.health.stall_after:
            self.health.heartbeat()
        if self.follower is not None:
            self.metrics.settings_follower_up("settings_follower" not in self.health.failing())
        if self._consumer is not None:
            self.metrics.consumer_rebalancing(self._consumer.rebalancing_seconds())

    async def _main_loop(self, consumer: GroupConsumer) -> None:
        cfg = self.config
        next_commit = time.monotonic() + cfg.commit_interval_s
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=0.05)
            self._beat_if_consuming()
            if consumer.error is not None:
                self._exit_error = consumer.error
                log.error("consumer thread died; stopping", error=str(consumer.error))
                break
            if self._producer is not None and self._producer.fatal_error is not None:
                # Outcomes can no longer be published, so nothing more can complete: stop, and
                # let a restart (with a new producer) take over from the last commit.
                self._exit_error = self._producer.fatal_error
                log.error("producer failed; stopping", error=str(self._producer.fatal_error))
                break
            if time.monotonic() >= next_commit:
                next_commit = time.monotonic() + cfg.commit_interval_s
                await self._commit(consumer)
                self._update_gauges()
            elif self.scheduler.idle and time.monotonic() >= self._idle_commit_after:
                # Everything taken in is finished: commit it now rather than at the next
                # interval (a no-op when nothing new is done), so a quiet worker has nothing
                # left to redo after a crash and its lag reads zero at once.
                await self._commit(consumer)

    async def _keep_committing(self, consumer: GroupConsumer) -> None:
        while True:
            await asyncio.sleep(self.config.commit_interval_s)
            await self._commit(consumer)

    async def _commit(self, consumer: GroupConsumer) -> None:
        points = self.scheduler.commit_points()
        if not points:
            return
        ok = await asyncio.wrap_future(consumer.commit(points))
        if ok:
            self.scheduler.mark_committed(points)
        else:  # refused (a rebalance, say): no idle retries before the next interval
            self._idle_commit_after = time.monotonic() + self.config.commit_interval_s

    def _update_gauges(self) -> None:
        marks = self._bridge.highwater_marks if self._bridge else {}
        for tp, tracker in self.scheduler.partitions().items():
            committed = tracker.committed
            mark = marks.get(tp)
            position = committed if committed is not None else tracker.commit_point()
            lag = mark - position if mark is not None and position is not None else None
            self.metrics.partition_state(tp.topic, tp.partition, lag=lag, committed=committed,
                                         oldest_inflight_age=tracker.oldest_age())
        self.metrics.inflight(self.scheduler.inflight + self.scheduler.settling)
        self.metrics.buffered(self.scheduler.buffered)
        self.metrics.paused_teams(len(self.scheduler.paused_teams))

    async def _stop_consuming(self, consumer: GroupConsumer) -> None:
        """Stop fetching, drain in-flight work, commit, leave the group."""
        self.health.mark_stopping()
        log.info("stopping: draining in-flight work", inflight=self.scheduler.inflight,
                 deadline_s=self.config.drain_timeout_s)
        consumer.halt()
        for task in self._probes.values():
            task.cancel()
        # Work finished during the drain is committed as it goes, not only at the end: a final
        # commit refused by a rebalance would otherwise leave all of it to be redone.
        committer = asyncio.get_running_loop().create_task(self._keep_committing(consumer))
        try:
            drained = await self.scheduler.drain(self.config.drain_timeout_s)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer
        final = self.scheduler.commit_points()
        if self._bridge is not None:
            self._bridge.closing = True
        # Joined on a worker thread: the consumer's close runs the revoke listener, which must
        # not wait for this (busy) loop.
        await asyncio.to_thread(consumer.stop, final)
        self.scheduler.mark_committed(final)
        log.info("stopped consuming", drained=drained,
                 committed={str(tp): off for tp, off in final.items()})

    # ---- consumer callbacks (on the loop) ------------------------------------------------------

    def on_assigned(self, tps: list[PartitionId]) -> None:
        self.scheduler.assign(tps)

    async def on_revoked(self, tps: list[PartitionId], timeout: float) -> Mapping[PartitionId, int]:
        offsets = await self.scheduler.revoke(tps, timeout)
        for tp in tps:
            self.metrics.forget_partition(tp.topic, tp.partition)
        return offsets

    def on_lost(self, tps: list[PartitionId]) -> None:
        self.scheduler.lose(tps)
        for tp in tps:
            self.metrics.forget_partition(tp.topic, tp.partition)

    # ---- settings and paused teams -------------------------------------------------------------

    def _apply_settings(self, team_id: str, raw: bytes | None) -> None:
        change = self.settings.apply(team_id, raw)
        log.info("settings record", team=team_id, change=str(change))
        self.metrics.settings_loaded(self.settings.teams())

    def _on_settings_changed(self, team_id: str, _old: TeamSettings | None,
                             _new: TeamSettings | None) -> None:
        # Called on the follower thread: a paused team whose settings changed is probed now.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._probe_soon, team_id)

    def _probe_soon(self, team_id: str) -> None:
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None and team_id in scheduler.paused_teams:
            self._on_team_paused(team_id, immediate=True)

    def _on_team_paused(self, team_id: str, *, immediate: bool = False) -> None:
        self.metrics.paused_teams(len(self.scheduler.paused_teams))
        current = self._probes.get(team_id)
        if current is not None and not current.done():
            if not immediate:
                return
            current.cancel()
        self._probes[team_id] = asyncio.get_running_loop().create_task(
            self._probe_team(team_id, immediate=immediate))

    async def _probe_team(self, team_id: str, *, immediate: bool) -> None:
        """Probe a paused team's credentials until they work, then resume it."""
        interval = self.config.auth_probe_interval_s
        if not immediate:
            await asyncio.sleep(interval)
        while team_id in self.scheduler.paused_teams and not self._stop.is_set():
            if await self._credentials_work(team_id):
                log.info("team's Pinpoint credentials work again; resuming", team=team_id)
                self.scheduler.resume_team(team_id)
                self.metrics.paused_teams(len(self.scheduler.paused_teams))
                return
            await asyncio.sleep(interval)

    async def _credentials_work(self, team_id: str) -> bool:
        settings = self.settings.get(team_id)
        if not integration_active(settings):
            return True  # nothing to call Pinpoint for: its events are skipped, not kept
        tenant = self._paused_team_credentials(team_id, settings)
        if tenant is None:
            return False
        try:
            await self._pinpoint.probe(tenant)
        except AuthError:
            return False
        except PinpointError as exc:
            log.info("probe inconclusive", team=team_id, error=str(exc))
            return False
        return True

    def _paused_team_credentials(self, team_id: str,
                                 settings: TeamSettings) -> TenantCredentials | None:
        integration = settings.integration
        if not integration.subdomain or not integration.api_key_ref:
            return None
        try:
            key = self.secrets.resolve(integration.api_key_ref)
        except ValueError as exc:  # a ref that names no plain file: wait for new settings
            log.warning("paused team's api_key_ref is unusable", team=team_id, error=str(exc))
            return None
        return TenantCredentials(integration.subdomain, key) if key else None

    _pinpoint: PinpointApi
