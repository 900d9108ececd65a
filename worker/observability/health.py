"""Liveness and readiness, and the HTTP server of ``/metrics``, ``/healthz`` and ``/readyz``.

- **Alive** (``/healthz``): the consumer loop made progress recently: it calls
  `HealthState.heartbeat` on every poll, and a heartbeat older than the stall threshold (60 s by
  default) turns liveness false, so Kubernetes restarts a wedged process. The threshold counts
  from start-up until the first heartbeat.
- **Ready** (``/readyz``): the consumer group was first joined, the state store opened and the
  team settings loaded. Once ready, the worker stays ready through later rebalances (readiness
  that flaps on every rebalance stalls rolling updates and node drains); it turns not ready only
  when shutdown begins.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from worker.observability.metrics import CONTENT_TYPE, Metrics

__all__ = ["DEFAULT_STALL_SECONDS", "HealthServer", "HealthState", "ReadinessCondition"]

DEFAULT_STALL_SECONDS = 60.0


class ReadinessCondition(enum.StrEnum):
    """What must have happened once before the worker is ready."""

    GROUP_JOINED = "group_joined"
    """The consumer joined its group and got its first assignment (possibly empty)."""

    STORE_OPENED = "store_opened"
    """The state store was opened (and migrated)."""

    SETTINGS_LOADED = "settings_loaded"
    """The compacted settings topic was read up to its end."""


class HealthState:
    """The worker's liveness and readiness, fed by the consumer loop and the lifecycle."""

    def __init__(
        self,
        *,
        stall_after: float = DEFAULT_STALL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stall_after <= 0:
            raise ValueError(f"stall_after must be positive, got {stall_after}")
        self._stall_after = stall_after
        self._clock = clock
        self._started = clock()
        self._last_beat: float | None = None
        self._done: set[ReadinessCondition] = set()
        self._ready = False
        self._stopping = False

    # -- feeding ---------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """The consumer loop made progress (call it on every poll)."""
        self._last_beat = self._clock()

    def condition_met(self, condition: ReadinessCondition) -> None:
        """One readiness condition is met; the worker turns ready once all are."""
        self._done.add(condition)
        if self._done >= set(ReadinessCondition):
            self._ready = True

    def mark_ready(self) -> None:
        """All readiness conditions are met."""
        for condition in ReadinessCondition:
            self.condition_met(condition)

    def mark_stopping(self) -> None:
        """Shutdown began: readiness turns false for good (liveness is unaffected)."""
        self._stopping = True

    # -- reading ---------------------------------------------------------------------------

    @property
    def stall_after(self) -> float:
        """Seconds without a heartbeat after which the worker is not alive."""
        return self._stall_after

    def heartbeat_age(self) -> float:
        """Seconds since the last heartbeat (since start-up if there was none yet)."""
        since = self._last_beat if self._last_beat is not None else self._started
        return max(0.0, self._clock() - since)

    @property
    def alive(self) -> bool:
        """True while the consumer loop has made progress within the stall threshold."""
        return self.heartbeat_age() <= self._stall_after

    @property
    def ready(self) -> bool:
        """True once every condition was met, until shutdown begins."""
        return self._ready and not self._stopping

    def missing(self) -> list[str]:
        """The readiness conditions not met yet (empty once ready), or ``stopping``."""
        if self._stopping:
            return ["stopping"]
        if self._ready:
            return []
        return [c.value for c in ReadinessCondition if c not in self._done]

    def liveness_report(self) -> dict[str, Any]:
        """The body of ``/healthz``."""
        age = round(self.heartbeat_age(), 3)
        report: dict[str, Any] = {
            "status": "ok" if self.alive else "stalled",
            "heartbeat_age_seconds": age,
            "stall_after_seconds": self._stall_after,
        }
        if not self.alive:
            what = "no consumer heartbeat" if self._last_beat is not None else "no consumer poll"
            report["reason"] = f"{what} for {age:.1f} s (threshold {self._stall_after:.1f} s)"
        return report

    def readiness_report(self) -> dict[str, Any]:
        """The body of ``/readyz``."""
        if self.ready:
            return {"status": "ready"}
        return {"status": "not_ready", "missing": self.missing()}


class HealthServer:
    """aiohttp server of ``/metrics``, ``/healthz`` and ``/readyz`` on one port.

    ``port=0`` picks a free port, readable from `port` after `start`.
    """

    def __init__(
        self,
        metrics: Metrics,
        health: HealthState,
        host: str = "0.0.0.0",  # noqa: S104 -- scraped and probed from outside the pod
        port: int = 9400,
    ) -> None:
        self._metrics = metrics
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    def make_app(self) -> web.Application:
        """The aiohttp application (usable on its own with aiohttp's test tools)."""
        app = web.Application()
        app.router.add_get("/metrics", self._handle_metrics)
        app.router.add_get("/healthz", self._handle_healthz)
        app.router.add_get("/readyz", self._handle_readyz)
        app.router.add_get("/", self._handle_index)
        return app

    async def start(self) -> None:
        """Bind and serve; raises `OSError` if the port is taken."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; a second call is a no-op."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def port(self) -> int:
        """The port actually bound (meaningful after `start`)."""
        if self._bound_port is None:
            raise RuntimeError("HealthServer is not started")
        return self._bound_port

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- handlers --------------------------------------------------------------------------

    async def _handle_metrics(self, request: web.Request) -> web.Response:
        del request
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _handle_healthz(self, request: web.Request) -> web.Response:
        del request
        status = 200 if self._health.alive else 503
        return web.json_response(self._health.liveness_report(), status=status)

    async def _handle_readyz(self, request: web.Request) -> web.Response:
        del request
        status = 200 if self._health.ready else 503
        return web.json_response(self._health.readiness_report(), status=status)

    async def _handle_index(self, request: web.Request) -> web.Response:
        del request
        return web.Response(text="pinpoint-sync: /metrics /healthz /readyz\n")
