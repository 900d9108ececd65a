"""Running the simulator: in-process (`async with SimulatorServer(...)`) or as a process."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from worker.simulator.app import Simulator
from worker.simulator.specs import FaultConfig, TenantSpec
from worker.simulator.state import TenantState


def _specs(tenants: Iterable[TenantSpec | Mapping[str, Any]]) -> list[TenantSpec]:
    return [t if isinstance(t, TenantSpec) else TenantSpec.model_validate(t) for t in tenants]


class SimulatorServer:
    """The simulator listening on a real TCP port, with direct access to its state for tests.

    ``async with SimulatorServer(port=0, tenants=[...]) as sim:`` then ``sim.url`` and
    ``sim.base_url_template`` (for the client's ``{subdomain}`` template).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tenants: Iterable[TenantSpec | Mapping[str, Any]] = (),
        *,
        faults: FaultConfig | None = None,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.simulator = Simulator(_specs(tenants), seed=seed)
        if faults is not None:
            self.simulator.set_faults(faults)
        self._runner: web.AppRunner | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind and start serving."""
        runner = web.AppRunner(
            self.simulator.build_app(),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self._runner = runner
        if self.port == 0 and runner.addresses:
            self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving (idempotent); hanging requests are cancelled."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- addresses and state ----------------------------------------------------------------
    @property
    def url(self) -> str:
        """e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url_template(self) -> str:
        """The client's base-URL template pointing at this simulator."""
        return f"{self.url}/tenants/{{subdomain}}"

    def add_tenant(self, spec: TenantSpec | Mapping[str, Any]) -> TenantState:
        """Create a tenant."""
        return self.simulator.state.add_tenant(_specs([spec])[0])

    def tenant(self, subdomain: str) -> TenantState:
        """A tenant's live state."""
        return self.simulator.state.tenant(subdomain)

    def set_faults(self, config: FaultConfig | None = None, tenant: str | None = None) -> None:
        """Replace global or per-tenant faults (None clears)."""
        self.simulator.set_faults(config or FaultConfig(), tenant)

    def reset(self, *, drop_tenants: bool = False) -> None:
        """As ``POST /_sim/reset``."""
        self.simulator.reset(drop_tenants=drop_tenants)


# ---- command line ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The simulator's flags (also used by `pinpoint-sync simulator`)."""
    p = argparse.ArgumentParser(
        prog="pinpoint-sync simulator", description="Run the Pinpoint API simulator."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free; default 8765)")
    p.add_argument("--tenants", type=Path, help="JSON file: a list of tenant specs")
    p.add_argument("--seed", type=int, help="random seed for fault injection")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform extra latency")
    p.add_argument("--error-rate", type=float, default=0.0, help="share answered with a 5xx")
    p.add_argument("--error-status", type=int, default=500, help="status of injected errors")
    p.add_argument("--timeout-rate", type=float, default=0.0, help="share never answered")
    p.add_argument(
        "--lost-response-rate", type=float, default=0.0, help="share applied but never answered"
    )
    p.add_argument("--burst-429", type=int, default=0, help="answer the next N requests 429")
    p.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of injected 429s")
    return p


def load_tenants(path: Path) -> list[TenantSpec]:
    """Tenant specs from a JSON file (a list, or an object with a ``tenants`` list)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = raw["tenants"] if isinstance(raw, dict) else raw
    return _specs(items)


async def serve(args: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or until `stop` is set)."""
    faults = FaultConfig(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        error_rate=args.error_rate,
        error_status=args.error_status,
        timeout_rate=args.timeout_rate,
        lost_response_rate=args.lost_response_rate,
        burst_429=args.burst_429,
        retry_after_s=args.retry_after,
    )
    tenants = load_tenants(args.tenants) if args.tenants else []
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(args.host, args.port, tenants, faults=faults, seed=args.seed) as sim:
        print(f"Pinpoint simulator listening on {sim.url}", flush=True)
        print(f"base URL template: {sim.base_url_template}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `pinpoint-sync simulator`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (OSError, ValueError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    return 0
