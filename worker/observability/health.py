"""Liveness and readiness, and the HTTP server of ``/metrics``, ``/healthz`` and ``/readyz``.

- **Alive** (``/healthz``): the consumer loop made progress recently: it calls
  `HealthState.heartbeat` on every poll, and a heartbeat older than the stall threshold (60 s by
  default) turns liveness false, so Kubernetes restarts a wedged process. The threshold counts
  from start-up until the first heartbeat. Beside the heartbeat, named checks (`HealthState.watch`)
  each say what is wrong, if anything: the settings follower's thread died or stopped making
  progress (`thread_progress_check`), the consumer is stuck in a rebalance past its deadline
  (`rebalance_check`). Any failing check turns liveness false, and ``/healthz`` names it.
- **Ready** (``/readyz``): the consumer group was first joined, the state store opened and the
  team settings loaded. Once ready, the worker stays ready through later rebalances (readiness
  that flaps on every rebalance stalls rolling updates and node drains); it turns not ready only
  when shutdown begins.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from worker.observability.metrics import CONTENT_TYPE, Metrics

__all__ = [
    "DEFAULT_STALL_SECONDS", "Check", "HealthServer", "HealthState", "Progressing",
    "ReadinessCondition", "rebalance_check", "thread_progress_check",
]

DEFAULT_STALL_SECONDS = 60.0

Check = Callable[[], str | None]
"""A liveness check: None while healthy, else why not (one line, safe to show)."""


class Progressing(Protocol):
    """A background thread that shows it is making progress (the settings follower)."""

    @property
    def error(self) -> BaseException | None:
        """Why the thread ended, if it ended on its own."""

    @property
    def stopped_on_request(self) -> bool:
        """Whether it was asked to stop (its end is then no failure)."""

    def is_alive(self) -> bool: ...

    def progress_age(self) -> float:
        """Seconds since the thread last made progress."""


def thread_progress_check(what: str, thread: Progressing, *, stall_after: float) -> Check:
    """Fails when ``thread`` died (naming its error) or made no progress for ``stall_after``."""

    def check() -> str | None:
        if not thread.is_alive():
            if thread.stopped_on_request:
                return None
            error = thread.error
            cause = f": {type(error).__name__}: {str(error)[:200]}" if error is not None else ""
            return f"{what} thread stopped{cause}"
        age = thread.progress_age()
        if age > stall_after:
            return f"{what} made no progress for {age:.1f} s (threshold {stall_after:.1f} s)"
        return None

    return check


def rebalance_check(rebalancing_seconds: Callable[[], float], *, stuck_after: float) -> Check:
    """Fails when the consumer has been rebalancing (or joining) for more than ``stuck_after``
    seconds without its assignment completing."""

    def check() -> str | None:
        seconds = rebalancing_seconds()
        if seconds > stuck_after:
            return (f"consumer rebalancing for {seconds:.1f} s without completing "
                    f"(threshold {stuck_after:.1f} s)")
        return None

    return check


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
        self._checks: dict[str, Check] = {}

    # -- feeding ---------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """The consumer loop made progress (call it on every poll)."""
        self._last_beat = self._clock()

    def watch(self, name: str, check: Check) -> None:
        """Add (or replace) a named liveness check."""
        self._checks[name] = check

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
        """True while the consumer loop has made progress within the stall threshold and no
        check fails."""
        return self.heartbeat_age() <= self._stall_after and not self.failing()

    def failing(self) -> dict[str, str]:
        """The checks failing now: name → why."""
        problems: dict[str, str] = {}
        for name, check in list(self._checks.items()):
            try:
                problem = check()
            except Exception as exc:  # noqa: BLE001 - a check that cannot tell is a failure
                problem = f"check failed: {type(exc).__name__}: {exc}"
            if problem is not None:
                problems[name] = problem
        return problems

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
        """The body of ``/healthz``: ``status`` ``ok``, ``stalled`` (no heartbeat) or
        ``failing`` (a check fails), with every ``reason`` in one line."""
        age = round(self.heartbeat_age(), 3)
        stalled = age > self._stall_after
        failing = self.failing()
        status = "stalled" if stalled else "failing" if failing else "ok"
        report: dict[str, Any] = {
            "status": status,
            "heartbeat_age_seconds": age,
            "stall_after_seconds": self._stall_after,
        }
        reasons: list[str] = []
        if stalled:
            what = "no consumer heartbeat" if self._last_beat is not None else "no consumer poll"
            reasons.append(f"{what} for {age:.1f} s (threshold {self._stall_after:.1f} s)")
        reasons.extend(failing.values())
        if failing:
            report["failing"] = failing
        if reasons:
            report["reason"] = "; ".join(reasons)
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
        report = self._health.liveness_report()
        status = 200 if report["status"] == "ok" else 503
        return web.json_response(report, status=status)

    async def _handle_readyz(self, request: web.Request) -> web.Response:
        del request
        status = 200 if self._health.ready else 503
        return web.json_response(self._health.readiness_report(), status=status)

    async def _handle_index(self, request: web.Request) -> web.Response:
        del request
        return web.Response(text="pinpoint-sync: /metrics /healthz /readyz\n")
