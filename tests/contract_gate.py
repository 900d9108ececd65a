"""A reverse proxy between the worker and the simulator that checks every request against
Pinpoint's reference facts and records each violation.

It lives with the tests because only the end-to-end tests need it: the demo talks to the
simulator directly, which refuses the same requests with Pinpoint's answers. The gate never
refuses anything itself (the simulator answers as Pinpoint would); it only remembers, so that a
test fails on any request the real API would not accept, even one the worker recovered from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from worker.simulator.contract import Violation, check_request

_TENANT_PREFIX = re.compile(r"^/tenants/(?P<subdomain>[^/]+)(?P<rest>/.*)$")
_FORWARDED_REQUEST_HEADERS = ("X-API-KEY", "Content-Type", "Accept", "User-Agent")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class RecordedViolation:
    """A request that broke the reference, without its key."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    violations: tuple[Violation, ...]

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        reasons = "; ".join(v.detail for v in self.violations)
        return f"{self.method} {self.path}{'?' + query if query else ''}: {reasons}"


@dataclass
class ContractGate:
    """`async with ContractGate(upstream_url) as gate:` then point the worker at
    `gate.base_url_template`; `gate.violations` lists every offending request."""

    upstream: str
    host: str = "127.0.0.1"
    port: int = 0
    violations: list[RecordedViolation] = field(default_factory=list)
    checked: int = 0
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """Where the gate listens."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url_template(self) -> str:
        """The worker's Pinpoint base-URL template through the gate."""
        return self.url + "/tenants/{subdomain}"

    def inspect(self, method: str, path: str, query: list[tuple[str, str]], raw: bytes) -> None:
        """Check one request (path without the tenant prefix) and record what is wrong."""
        self.checked += 1
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        found = check_request(method, path, query, body)
        if found:
            self.violations.append(RecordedViolation(method, path, tuple(query), tuple(found)))

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        match = _TENANT_PREFIX.match(request.path)
        if match is not None:
            self.inspect(request.method, match["rest"], list(request.query.items()), raw)
        assert self._session is not None
        headers = {
            h: request.headers[h] for h in _FORWARDED_REQUEST_HEADERS if h in request.headers
        }
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.raw_path_qs,
            data=raw or None,
            headers=headers,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            out_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
            }
            return web.Response(status=upstream.status, body=payload, headers=out_headers)

    async def __aenter__(self) -> ContractGate:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
        )
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0 and self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def report(self) -> str:
        """All violations, one a line, for an assertion message."""
        return "\n".join(str(v) for v in self.violations)
