"""The Pinpoint API client: per-tenant base URL and key, JSON:API, retries, rate limiting.

Every failure is classified by :func:`worker.pinpoint.errors.classify` and surfaces as a
:class:`~worker.pinpoint.errors.PinpointError`; aiohttp's exceptions never leave this module.

Creates are made safe to retry: after a transient failure of a POST (the request may have been
applied), the client looks for what it may have created (external reference on records, same
text on the same record for comments) before sending again.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import enum
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import structlog

from worker.pinpoint import jsonapi
from worker.pinpoint.errors import (
    AuthError,
    FailureClass,
    InvalidRequestError,
    PinpointError,
    RateLimitedError,
    TransientError,
    classify,
)
from worker.pinpoint.models import (
    CUSTOM_PREFIX,
    Comment,
    CreatedRecord,
    CustomField,
    PinpointCandidate,
    RecordKind,
    RecordRef,
    TenantCredentials,
)
from worker.pinpoint.observer import ClientObserver, NullObserver
from worker.pinpoint.ratelimit import RateLimitConfig, RateLimiter
from worker.pinpoint.retry import RetryPolicy

log = structlog.get_logger("worker.pinpoint")

JSONAPI = "application/vnd.api+json"
PAGE_SIZE = 100
DEFAULT_RETRY_AFTER = 1.0
Doc = dict[str, Any]
Reconcile = Callable[[], Awaitable[Doc | None]]


class Operation(enum.StrEnum):
    """Client operations, as named in metrics and logs."""

    FIND_CANDIDATES_BY_EMAIL = "find_candidates_by_email"
    FIND_RECORD_BY_EXTERNAL_REFERENCE = "find_record_by_external_reference"
    CREATE_JOB_SEEKER = "create_job_seeker"
    CREATE_APPLICATION = "create_application"
    GET_CANDIDATE = "get_candidate"
    UPDATE_CANDIDATE = "update_candidate"
    WRITE_COMMENT = "write_comment"
    LIST_COMMENTS = "list_comments"
    LIST_CUSTOM_FIELDS = "list_custom_fields"
    PROBE = "probe"


def _status_class(status: int | None, *, timeout: bool, connection_error: bool) -> str:
    if timeout:
        return "timeout"
    if connection_error or status is None:
        return "connection_error"
    return f"{status // 100}xx"


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``
    (a Unix time when large, else seconds); None when neither is usable."""
    wall = time.time() if now is None else now
    raw = headers.get("Retry-After")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if raw.strip() else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - wall)
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        return max(0.0, value - wall) if value > 1e9 else max(0.0, value)
    return None


class PinpointClient:
    """Async client for many Pinpoint tenants over one connection pool."""

    def __init__(
        self,
        base_url_template: str = "https://{subdomain}.pinpointhq.com",
        *,
        connect_timeout: float = 5,
        total_timeout: float = 30,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimitConfig | None = None,
        observer: ClientObserver | None = None,
        max_connections: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        if "{subdomain}" not in base_url_template:
            raise ValueError("base_url_template must contain {subdomain}")
        self._template = base_url_template.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self._retry = retry or RetryPolicy()
        self.limiter = RateLimiter(rate_limit or RateLimitConfig())
        self._observer: ClientObserver = observer or NullObserver()
        self._max_connections = max_connections
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not cryptography
        self._session: aiohttp.ClientSession | None = None
        self._custom_fields: dict[str, dict[str, CustomField]] = {}

    # ---- lifecycle --------------------------------------------------------------------------
    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"Accept": JSONAPI, "User-Agent": "pinpoint-sync"},
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> PinpointClient:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def forget_tenant(self, subdomain: str) -> None:
        """Drop what is cached about a tenant (its custom field definitions)."""
        self._custom_fields.pop(subdomain, None)

    # ---- the request loop ---------------------------------------------------------------------
    async def _call(
        self,
        tenant: TenantCredentials,
        operation: Operation,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Doc | None = None,
        reconcile: Reconcile | None = None,
    ) -> Doc:
        """One logical request: rate limit, send, classify, retry; the decoded JSON on success."""
        session = self._open()
        sub = tenant.subdomain
        url = self._template.format(subdomain=sub) + path
        headers = {"X-API-KEY": tenant.api_key}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = JSONAPI
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry.deadline
        attempts = 0
        maybe_applied = False
        while True:
            await self._wait_for_turn(sub, operation, deadline)
            if maybe_applied and reconcile is not None:
                found = await reconcile()
                if found is not None:
                    log.info("pinpoint.reconciled", subdomain=sub, operation=str(operation))
                    return found
            status, resp_headers, payload, timeout, conn_error = await self._send(
                session,
                method=method,
                url=url,
                params=params,
                data=data,
                headers=headers,
                operation=operation,
                sub=sub,
            )
            if status is not None and 200 <= status < 300:
                if resp_headers is not None:
                    self._observe_limit(sub, resp_headers)
                try:
                    return json.loads(payload) if payload else {}
                except ValueError:
                    status, timeout, conn_error = None, False, True  # garbled: transient
            failure = classify(status, timeout=timeout, connection_error=conn_error)
            if failure is FailureClass.RATE_LIMITED:
                self._on_429(sub, operation, resp_headers or {}, deadline)
                continue
            if failure is not FailureClass.TRANSIENT:
                raise self._final_error(failure, operation, status, payload)
            attempts += 1
            reason = _status_class(status, timeout=timeout, connection_error=conn_error)
            reason = "5xx" if reason.endswith("xx") else reason
            maybe_applied = maybe_applied or method != "GET"
            delay = self._retry.backoff(attempts, self._rng)
            if attempts >= self._retry.max_attempts or loop.time() + delay > deadline:
                log.warning(
                    "pinpoint.retries_exhausted",
                    subdomain=sub,
                    operation=str(operation),
                    attempts=attempts,
                    reason=reason,
                )
                raise TransientError(
                    f"{operation} failed transiently after {attempts} attempt(s) ({reason})",
                    operation=str(operation),
                    status=status,
                    attempts=attempts,
                    reason=reason,
                )
            self._observer.on_retry(sub, str(operation), reason)
            log.info(
                "pinpoint.retry",
                subdomain=sub,
                operation=str(operation),
                attempt=attempts,
                reason=reason,
                delay_s=round(delay, 3),
            )
            await asyncio.sleep(delay)

    async def _wait_for_turn(self, sub: str, operation: Operation, deadline: float) -> None:
        """Sleep until the tenant's limiter lets this request go (re-reserving on a new pace)."""
        loop = asyncio.get_running_loop()
        waited = 0.0
        while True:
            generation = self.limiter.generation(sub)
            wait = self.limiter.reserve(sub)
            if wait <= 0:
                break
            if loop.time() + wait > deadline:
                raise RateLimitedError(
                    f"{operation}: rate limit wait of {wait:.1f}s exceeds the deadline",
                    operation=str(operation),
                    status=None,
                    retry_after=wait,
                )
            await asyncio.sleep(wait)
            waited += wait
            if self.limiter.generation(sub) == generation:
                break
        if waited > 0:
            self._observer.on_rate_limit_wait(sub, waited)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        *,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str],
        operation: Operation,
        sub: str,
    ) -> tuple[int | None, Mapping[str, str] | None, bytes, bool, bool]:
        """Send once: (status, headers, body, timed out, connection error)."""
        started = time.perf_counter()
        status: int | None = None
        resp_headers: Mapping[str, str] | None = None
        payload = b""
        timeout = conn_error = False
        try:
            async with session.request(
                method, url, params=params, data=data, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                resp_headers = resp.headers
                payload = await resp.read()
        except TimeoutError:
            timeout = True
        except aiohttp.ClientError:
            conn_error = True
        elapsed = time.perf_counter() - started
        self._observer.on_request(
            sub,
            str(operation),
            _status_class(status, timeout=timeout, connection_error=conn_error),
            elapsed,
        )
        return status, resp_headers, payload, timeout, conn_error

    def _observe_limit(self, sub: str, headers: Mapping[str, str]) -> None:
        raw = headers.get("X-RateLimit-Limit")
        if raw:
            with contextlib.suppress(ValueError):
                self.limiter.observe_limit(sub, float(raw))

    def _on_429(
        self, sub: str, operation: Operation, headers: Mapping[str, str], deadline: float
    ) -> None:
        wait = parse_retry_after(headers)
        self._observe_limit(sub, headers)
        self.limiter.on_rate_limited(sub, DEFAULT_RETRY_AFTER if wait is None else wait)
        loop = asyncio.get_running_loop()
        if loop.time() + (wait or 0.0) > deadline:
            raise RateLimitedError(
                f"{operation}: still rate limited at the deadline",
                operation=str(operation),
                retry_after=wait,
            )
        self._observer.on_retry(sub, str(operation), "rate_limited")
        log.info(
            "pinpoint.rate_limited",
            subdomain=sub,
            operation=str(operation),
            retry_after_s=wait,
        )

    def _final_error(
        self, failure: FailureClass, operation: Operation, status: int | None, payload: bytes
    ) -> PinpointError:
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            doc = None
        detail, pointer = jsonapi.error_detail(doc)
        log.warning(
            "pinpoint.request_failed",
            operation=str(operation),
            status=status,
            failure=failure.value,
            detail=detail,
            pointer=pointer,
        )
        if failure is FailureClass.AUTH:
            return AuthError(
                f"{operation}: Pinpoint refused the credentials ({status})",
                operation=str(operation),
                status=status,
                detail=detail,
            )
        return InvalidRequestError(
            f"{operation}: Pinpoint refused the request ({status}): {detail}",
            operation=str(operation),
            status=status,
            detail=detail,
            pointer=pointer,
        )

    @staticmethod
    @contextlib.contextmanager
    def _decoding(operation: Operation) -> Iterator[None]:
        """Turn a response that is not the expected document into a TransientError."""
        try:
            yield
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientError(
                f"{operation}: unexpected response document ({type(exc).__name__})",
                operation=str(operation),
                reason="bad_response",
            ) from exc

    async def _pages(
        self,
        tenant: TenantCredentials,
        operation: Operation,
        path: str,
        params: Mapping[str, str],
        *,
        max_pages: int | None = None,
    ) -> AsyncIterator[Doc]:
        """Each page document of a list, following page numbers."""
        number = 1
        while True:
            query = {**params, "page[number]": str(number), "page[size]": str(PAGE_SIZE)}
            doc = await self._call(tenant, operation, "GET", path, params=query)
            yield doc
            data = doc.get("data")
            links = doc.get("links") or {}
            if not isinstance(data, list) or len(data) < PAGE_SIZE or "next" not in links:
                return
            number += 1
            if max_pages is not None and number > max_pages:
                return

    # ---- operations ---------------------------------------------------------------------------
    async def find_candidates_by_email(
        self, tenant: TenantCredentials, email: str
    ) -> list[PinpointCandidate]:
        """Candidates whose e-mail equals ``email`` (case-insensitive); reads one page only."""
        op = Operation.FIND_CANDIDATES_BY_EMAIL
        wanted = email.strip().lower()
        params = {"filter[email]": email.strip(), "include": "custom_attributes"}
        found: list[PinpointCandidate] = []
        async for doc in self._pages(tenant, op, "/api/v1/candidates", params, max_pages=1):
            with self._decoding(op):
                included = jsonapi.index_included(doc)
                page = [jsonapi.candidate_from(r, included) for r in jsonapi.data_list(doc)]
            found.extend(
                c for c in page if (c.attributes.get("email") or "").strip().lower() == wanted
            )
        log.debug(
            "pinpoint.candidates_found",
            subdomain=tenant.subdomain,
            email=jsonapi.mask_email(email),
            count=len(found),
        )
        return found

    async def _record_doc_by_ref(
        self, tenant: TenantCredentials, kind: RecordKind, ref: str
    ) -> Doc | None:
        doc = await self._call(
            tenant,
            Operation.FIND_RECORD_BY_EXTERNAL_REFERENCE,
            "GET",
            f"/api/v1/{kind.value}",
            params={
                "filter[external_system_reference]": ref,
                "page[size]": str(PAGE_SIZE),
            },
        )
        with self._decoding(Operation.FIND_RECORD_BY_EXTERNAL_REFERENCE):
            resources = jsonapi.data_list(doc)
        for res in resources:
            if (res.get("attributes") or {}).get("external_system_reference") == ref:
                return {"data": res}
        return None

    async def find_record_by_external_reference(
        self, tenant: TenantCredentials, kind: RecordKind, ref: str
    ) -> CreatedRecord | None:
        """The job seeker or application created with this external reference, if any."""
        doc = await self._record_doc_by_ref(tenant, kind, ref)
        if doc is None:
            return None
        op = Operation.FIND_RECORD_BY_EXTERNAL_REFERENCE
        with self._decoding(op):
            return jsonapi.created_record_from(doc["data"], kind)

    @staticmethod
    def _person_attributes(fields: Mapping[str, str]) -> dict[str, str]:
        custom = [name for name in fields if name.startswith(CUSTOM_PREFIX)]
        if custom:
            raise ValueError(
                f"custom fields {custom} cannot be set on create; use update_candidate"
            )
        return dict(fields)

    async def _create_record(
        self,
        tenant: TenantCredentials,
        kind: RecordKind,
        *,
        operation: Operation,
        attributes: dict[str, Any],
        relationships: dict[str, Any],
        external_ref: str,
    ) -> CreatedRecord:
        attributes["external_system_reference"] = external_ref
        attributes["skip_notifications_on_create"] = True
        body: Doc = {"data": {"type": kind.value, "attributes": attributes}}
        if relationships:
            body["data"]["relationships"] = relationships

        async def reconcile() -> Doc | None:
            return await self._record_doc_by_ref(tenant, kind, external_ref)

        doc = await self._call(
            tenant, operation, "POST", f"/api/v1/{kind.value}", body=body, reconcile=reconcile
        )
        with self._decoding(operation):
            return jsonapi.created_record_from(doc["data"], kind)

    async def create_job_seeker(
        self,
        tenant: TenantCredentials,
        fields: Mapping[str, str],
        external_ref: str,
        candidate_id: str | None = None,
    ) -> CreatedRecord:
        """Create a talent-pipeline record (and its candidate, unless ``candidate_id``)."""
        rels: dict[str, Any] = {}
        if candidate_id is not None:
            rels["candidate"] = {"data": {"type": "candidates", "id": candidate_id}}
        return await self._create_record(
            tenant,
            RecordKind.JOB_SEEKERS,
            operation=Operation.CREATE_JOB_SEEKER,
            attributes=self._person_attributes(fields),
            relationships=rels,
            external_ref=external_ref,
        )

    async def create_application(
        self,
        tenant: TenantCredentials,
        job_id: str,
        fields: Mapping[str, str],
        external_ref: str,
        candidate_id: str | None = None,
    ) -> CreatedRecord:
        """Create an application to a job (and its candidate, unless ``candidate_id``)."""
        rels: dict[str, Any] = {"job": {"data": {"type": "jobs", "id": job_id}}}
        if candidate_id is not None:
            rels["candidate"] = {"data": {"type": "candidates", "id": candidate_id}}
        return await self._create_record(
            tenant,
            RecordKind.APPLICATIONS,
            operation=Operation.CREATE_APPLICATION,
            attributes=self._person_attributes(fields),
            relationships=rels,
            external_ref=external_ref,
        )

    async def get_candidate(
        self, tenant: TenantCredentials, candidate_id: str
    ) -> PinpointCandidate:
        """A candidate with its custom attributes and the ids of its records."""
        op = Operation.GET_CANDIDATE
        doc = await self._call(
            tenant,
            op,
            "GET",
            f"/api/v1/candidates/{candidate_id}",
            params={"include": "custom_attributes"},
        )
        with self._decoding(op):
            return jsonapi.candidate_from(jsonapi.data_one(doc), jsonapi.index_included(doc))

    async def custom_fields(
        self, tenant: TenantCredentials, *, refresh: bool = False
    ) -> dict[str, CustomField]:
        """The tenant's candidate custom fields by id (cached)."""
        cached = self._custom_fields.get(tenant.subdomain)
        if cached is not None and not refresh:
            return cached
        op = Operation.LIST_CUSTOM_FIELDS
        fields: dict[str, CustomField] = {}
        params = {"filter[resource_type]": "candidate"}
        async for doc in self._pages(tenant, op, "/api/v1/custom_fields", params):
            with self._decoding(op):
                page = [jsonapi.custom_field_from(r) for r in jsonapi.data_list(doc)]
            fields.update((cf.id, cf) for cf in page if cf.resource_type == "candidate")
        self._custom_fields[tenant.subdomain] = fields
        return fields

    async def update_candidate(
        self,
        tenant: TenantCredentials,
        candidate_id: str,
        fields: Mapping[str, str],
        protected: frozenset[str] = frozenset(),
    ) -> PinpointCandidate:
        """Write standard and ``custom:<id>`` fields with one PUT; protected fields only where
        Pinpoint's current value is empty."""
        op = Operation.UPDATE_CANDIDATE
        custom = {n[len(CUSTOM_PREFIX) :]: v for n, v in fields.items() if n.startswith("custom:")}
        needs_current = bool(custom) or any(name in protected for name in fields)
        current = await self.get_candidate(tenant, candidate_id) if needs_current else None
        wanted = dict(fields)
        if current is not None:
            wanted = {
                name: value
                for name, value in fields.items()
                if name not in protected or not (current.value(name) or "").strip()
            }
        standard = {n: v for n, v in wanted.items() if not n.startswith(CUSTOM_PREFIX)}
        custom = {n[len(CUSTOM_PREFIX) :]: v for n, v in wanted.items() if n.startswith("custom:")}
        data: Doc = {"type": "candidates", "id": candidate_id, "attributes": standard}
        body: Doc = {"data": data}
        if custom:
            assert current is not None
            defs = await self._custom_field_defs(tenant, custom)
            changes = []
            for cf_id, value in custom.items():
                held = current.custom_attributes.get(cf_id)
                field_type = defs[cf_id].field_type
                converted = jsonapi.custom_value_for(field_type, value)
                changes.append((cf_id, held[0] if held else None, field_type, converted))
            rel_data, included = jsonapi.custom_attributes_payload(changes)
            data["relationships"] = {"custom_attributes": {"data": rel_data}}
            body["included"] = included
        if not standard and not custom:
            return (
                current if current is not None else await self.get_candidate(tenant, candidate_id)
            )
        doc = await self._call(
            tenant,
            op,
            "PUT",
            f"/api/v1/candidates/{candidate_id}",
            params={"include": "custom_attributes"},
            body=body,
        )
        with self._decoding(op):
            return jsonapi.candidate_from(jsonapi.data_one(doc), jsonapi.index_included(doc))

    async def _custom_field_defs(
        self, tenant: TenantCredentials, wanted: Mapping[str, str]
    ) -> dict[str, CustomField]:
        defs = await self.custom_fields(tenant)
        if any(cf_id not in defs for cf_id in wanted):
            defs = await self.custom_fields(tenant, refresh=True)
        unknown = sorted(cf_id for cf_id in wanted if cf_id not in defs)
        if unknown:
            raise InvalidRequestError(
                f"update_candidate: unknown custom field(s) {unknown}",
                operation=str(Operation.UPDATE_CANDIDATE),
                detail=f"Custom field {unknown[0]} does not exist for candidates",
                pointer=f"custom:{unknown[0]}",
            )
        return defs

    async def write_comment(
        self, tenant: TenantCredentials, record: RecordRef, body_text: str
    ) -> Comment:
        """Add a note to a job seeker or an application."""
        op = Operation.WRITE_COMMENT
        body: Doc = {
            "data": {
                "type": "comments",
                "attributes": {"body_text": body_text},
                "relationships": {
                    "commentable": {"data": {"type": record.kind.value, "id": record.id}}
                },
            }
        }

        async def reconcile() -> Doc | None:
            for comment_doc in await self._comment_resources(tenant, record):
                if (comment_doc.get("attributes") or {}).get("body_text") == body_text:
                    return {"data": comment_doc}
            return None

        doc = await self._call(
            tenant, op, "POST", "/api/v1/comments", body=body, reconcile=reconcile
        )
        with self._decoding(op):
            return jsonapi.comment_from(jsonapi.data_one(doc))

    async def _comment_resources(
        self, tenant: TenantCredentials, record: RecordRef
    ) -> list[jsonapi.Resource]:
        op = Operation.LIST_COMMENTS
        params = {
            "filter[commentable_id]": record.id,
            "filter[commentable_type]": record.kind.value,
        }
        out: list[jsonapi.Resource] = []
        async for doc in self._pages(tenant, op, "/api/v1/comments", params):
            with self._decoding(op):
                out.extend(jsonapi.data_list(doc))
        return out

    async def list_comments(self, tenant: TenantCredentials, record: RecordRef) -> list[Comment]:
        """Every comment on a job seeker or an application, oldest first."""
        op = Operation.LIST_COMMENTS
        resources = await self._comment_resources(tenant, record)
        with self._decoding(op):
            comments = [jsonapi.comment_from(r) for r in resources]
        return [c for c in comments if c.commentable == record]

    async def probe(self, tenant: TenantCredentials) -> None:
        """A cheap authenticated read; raises AuthError while the key is refused."""
        await self._call(tenant, Operation.PROBE, "GET", "/api/v1/jobs", params={"page[size]": "1"})
