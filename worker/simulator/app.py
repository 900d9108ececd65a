"""The simulator's aiohttp application: tenant API dispatch (faults, auth, rate limit) and the
control API under `/_sim/`."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from worker.simulator.api import ROUTES, Handler
from worker.simulator.contract import check_request
from worker.simulator.documents import SimError, error_response
from worker.simulator.faults import Fate, FaultState
from worker.simulator.specs import FaultConfig, FaultsRequest, TenantSpec, TenantUpdate
from worker.simulator.state import SimulatorState, TenantState

API_PREFIX = "/tenants/{subdomain}/api/v1"


class Simulator:
    """State, faults and the request pipeline of one simulated Pinpoint."""

    def __init__(self, tenants: list[TenantSpec] | None = None, seed: int | None = None) -> None:
        self.state = SimulatorState(tenants)
        self._rng = random.Random(seed)  # noqa: S311  # fault injection, not cryptography
        self.global_faults = FaultState(FaultConfig(), self._rng)
        self.tenant_faults: dict[str, FaultState] = {}
        self._late_writes: set[asyncio.Task[None]] = set()

    # ---- faults -----------------------------------------------------------------------------
    def set_faults(self, config: FaultConfig, tenant: str | None = None) -> None:
        """Replace the global faults, or one tenant's (which then override the global ones)."""
        state = FaultState(config, self._rng)
        if tenant is None:
            self.global_faults = state
        elif config.is_quiet:
            self.tenant_faults.pop(tenant, None)
        else:
            self.tenant_faults[tenant] = state

    def faults_for(self, subdomain: str) -> FaultState:
        """The fault state that applies to a tenant."""
        return self.tenant_faults.get(subdomain, self.global_faults)

    def reset(self, *, drop_tenants: bool = False) -> None:
        """Clear every record, request log and fault; optionally forget the tenants too."""
        self.global_faults = FaultState(FaultConfig(), self._rng)
        self.tenant_faults.clear()
        if drop_tenants:
            self.state.tenants.clear()
        for tenant in self.state.tenants.values():
            tenant.clear_records()

    # ---- tenant API pipeline ----------------------------------------------------------------
    def wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The aiohttp handler running `handler` behind faults, auth and the rate limit."""

        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self.dispatch(request, handler)

        return endpoint

    async def dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Log, delay, inject faults, authenticate, rate-limit, then handle."""
        started = time.monotonic()
        tenant = self.state.tenants.get(request.match_info["subdomain"])
        if tenant is None:
            return error_response(404, "No such Pinpoint account")
        entry = tenant.log_request(request.method, request.path, dict(request.query))
        raw = await request.read()
        if raw:
            try:
                entry.body = json.loads(raw)
            except ValueError:
                entry.body = raw.decode("utf-8", "replace")
        faults = self.faults_for(tenant.subdomain)
        try:
            delay = faults.latency_seconds()
            if delay:
                await asyncio.sleep(delay)
            fate, status = faults.draw()
            if fate is not Fate.NORMAL:
                entry.fault = fate.value
            if fate is Fate.TIMEOUT:
                entry.status = "timeout"
                await asyncio.sleep(faults.config.hang_s)
                response = error_response(504, "Simulated timeout")
            elif fate is Fate.ERROR:
                response = error_response(status, "Simulated server error")
            elif fate is Fate.LATE_WRITE and request.method in ("POST", "PUT", "DELETE"):
                entry.status = "late_write"
                self._apply_late(request, tenant, handler, faults.config.late_write_delay_s)
                await asyncio.sleep(faults.config.hang_s)
                response = error_response(504, "Simulated late write")
            elif fate is Fate.RATE_LIMITED:
                retry_after = faults.config.retry_after_s
                response = error_response(
                    429,
                    "Rate limit exceeded (simulated burst)",
                    headers={
                        "Retry-After": str(math.ceil(retry_after)),
                        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                    },
                )
            else:
                response = await self._authenticated(request, tenant, handler)
                if fate is Fate.LOST_RESPONSE:
                    entry.status = "lost_response"
                    await asyncio.sleep(faults.config.hang_s)
                    response = error_response(504, "Simulated lost response")
            entry.status = response.status
            return response
        finally:
            entry.duration_ms = (time.monotonic() - started) * 1000.0

    def _apply_late(
        self, request: web.Request, tenant: TenantState, handler: Handler, delay: float
    ) -> None:
        """Apply a held write `delay` seconds from now, whether or not its client still waits
        (the body was read already, so the request no longer needs its connection)."""

        async def later() -> None:
            await asyncio.sleep(delay)
            await self._authenticated(request, tenant, handler)

        task = asyncio.create_task(later())
        self._late_writes.add(task)
        task.add_done_callback(self._late_writes.discard)

    async def _authenticated(
        self, request: web.Request, tenant: TenantState, handler: Handler
    ) -> web.Response:
        if request.headers.get("X-API-KEY") != tenant.api_key:
            return error_response(401, "Invalid or missing API key")
        if not tenant.integration_enabled:
            return error_response(403, "Integration not enabled")
        if tenant.read_only and request.method not in ("GET", "HEAD"):
            return error_response(403, "API key does not have write permission")
        bucket = tenant.bucket
        headers: dict[str, str] = {}
        if bucket is not None:
            now = time.monotonic()
            allowed = bucket.try_take(now)
            headers["X-RateLimit-Limit"] = f"{bucket.rate:g}"
            headers["X-RateLimit-Remaining"] = str(bucket.remaining(now))
            if not allowed:
                wait = bucket.seconds_until_token(now)
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
                headers["X-RateLimit-Reset"] = f"{time.time() + wait:.3f}"
                return error_response(429, "Rate limit exceeded", headers=headers)
        try:
            refused = _refusal(request, _parsed(await request.read()))
            response = refused if refused is not None else await handler(request, tenant)
        except SimError as err:
            response = error_response(err.status, err.detail, err.pointer)
        response.headers.update(headers)
        return response

    async def unmatched(self, request: web.Request) -> web.StreamResponse:
        """Any other path or method of a tenant (PATCH included: not in the reference): 404."""

        async def not_found(req: web.Request, _tenant: TenantState) -> web.Response:
            tail = req.match_info.get("tail", "")
            raise SimError(404, f"No route matches {req.method} /{tail}")

        return await self.dispatch(request, not_found)

    # ---- control API ------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read())
        except ValueError as exc:
            raise web.HTTPBadRequest(text="body is not JSON") from exc

    def _tenant_or_404(self, request: web.Request) -> TenantState:
        tenant = self.state.tenants.get(request.match_info["subdomain"])
        if tenant is None:
            raise web.HTTPNotFound(text="no such tenant")
        return tenant

    async def ctl_list_tenants(self, _request: web.Request) -> web.Response:
        """GET /_sim/tenants."""
        return web.json_response({"tenants": sorted(self.state.tenants)})

    async def ctl_create_tenant(self, request: web.Request) -> web.Response:
        """POST /_sim/tenants."""
        try:
            spec = TenantSpec.model_validate(await self._body(request))
        except ValidationError as exc:
            return web.json_response({"errors": _validation_errors(exc)}, status=400)
        try:
            self.state.add_tenant(spec)
        except KeyError:
            return web.json_response({"errors": ["tenant exists"]}, status=409)
        return web.json_response({"subdomain": spec.subdomain}, status=201)

    async def ctl_update_tenant(self, request: web.Request) -> web.Response:
        """PUT /_sim/tenants/{subdomain}: change api_key, integration_enabled or rate_limit."""
        tenant = self._tenant_or_404(request)
        try:
            update = TenantUpdate.model_validate(await self._body(request))
        except ValidationError as exc:
            return web.json_response({"errors": _validation_errors(exc)}, status=400)
        apply_update(tenant, update)
        return web.json_response({"subdomain": tenant.subdomain})

    async def ctl_delete_tenant(self, request: web.Request) -> web.Response:
        """DELETE /_sim/tenants/{subdomain}."""
        tenant = self._tenant_or_404(request)
        del self.state.tenants[tenant.subdomain]
        self.tenant_faults.pop(tenant.subdomain, None)
        return web.Response(status=204)

    async def ctl_state(self, request: web.Request) -> web.Response:
        """GET /_sim/tenants/{subdomain}/state."""
        return web.json_response(self._tenant_or_404(request).snapshot())

    async def ctl_requests(self, request: web.Request) -> web.Response:
        """GET /_sim/tenants/{subdomain}/requests (?since=SEQ); never shows API keys."""
        tenant = self._tenant_or_404(request)
        since = int(request.query.get("since", "0"))
        entries = [e.as_json() for e in tenant.requests if e.seq > since]
        return web.json_response({"requests": entries})

    async def ctl_get_faults(self, _request: web.Request) -> web.Response:
        """GET /_sim/faults."""
        return web.json_response(
            {
                "global": self.global_faults.describe(),
                "tenants": {k: v.describe() for k, v in self.tenant_faults.items()},
            }
        )

    async def ctl_put_faults(self, request: web.Request) -> web.Response:
        """PUT /_sim/faults: replace the global faults or one tenant's."""
        try:
            req = FaultsRequest.model_validate(await self._body(request))
        except ValidationError as exc:
            return web.json_response({"errors": _validation_errors(exc)}, status=400)
        if req.tenant is not None and req.tenant not in self.state.tenants:
            return web.json_response({"errors": ["no such tenant"]}, status=404)
        config = FaultConfig.model_validate(req.model_dump(exclude={"tenant"}))
        self.set_faults(config, req.tenant)
        return await self.ctl_get_faults(request)

    async def ctl_reset(self, request: web.Request) -> web.Response:
        """POST /_sim/reset ({"tenants": true} also forgets the tenants)."""
        body = await request.read()
        drop = False
        if body.strip():
            parsed = await self._body(request)
            drop = bool(isinstance(parsed, dict) and parsed.get("tenants"))
        self.reset(drop_tenants=drop)
        return web.json_response({"reset": True, "tenants_dropped": drop})

    # ---- application ------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        """The aiohttp application serving tenants and the control API."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        router = app.router
        for method, path, handler in ROUTES:
            router.add_route(method, API_PREFIX + path, self.wrap(handler))
        router.add_route("*", "/tenants/{subdomain}/{tail:.*}", self.unmatched)
        router.add_get("/_sim/tenants", self.ctl_list_tenants)
        router.add_post("/_sim/tenants", self.ctl_create_tenant)
        router.add_put("/_sim/tenants/{subdomain}", self.ctl_update_tenant)
        router.add_delete("/_sim/tenants/{subdomain}", self.ctl_delete_tenant)
        router.add_get("/_sim/tenants/{subdomain}/state", self.ctl_state)
        router.add_get("/_sim/tenants/{subdomain}/requests", self.ctl_requests)
        router.add_get("/_sim/faults", self.ctl_get_faults)
        router.add_put("/_sim/faults", self.ctl_put_faults)
        router.add_post("/_sim/reset", self.ctl_reset)
        return app


def _parsed(raw: bytes) -> Any:
    """A request body as JSON (the raw bytes when it is not JSON; None when empty)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _refusal(request: web.Request, body: Any) -> web.Response | None:
    """Pinpoint's answer to a request outside its reference (the first violation), or None."""
    prefix = f"/tenants/{request.match_info['subdomain']}"
    path = request.path.removeprefix(prefix)
    found = check_request(request.method, path, list(request.query.items()), body)
    if not found:
        return None
    first = found[0]
    return error_response(first.status, first.detail, first.pointer)


def apply_update(tenant: TenantState, update: TenantUpdate) -> None:
    """Apply a runtime change to a tenant."""
    if update.api_key is not None:
        tenant.api_key = update.api_key
    if update.integration_enabled is not None:
        tenant.integration_enabled = update.integration_enabled
    if update.read_only is not None:
        tenant.read_only = update.read_only
    if update.disable_rate_limit:
        tenant.set_rate_limit(None)
    elif update.rate_limit is not None:
        tenant.set_rate_limit(update.rate_limit)


def _validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]} for err in exc.errors()
    ]
