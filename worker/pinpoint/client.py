"""The Pinpoint API client: per-tenant base URL and key, JSON:API, retries, rate limiting.

Every failure is classified by :func:`worker.pinpoint.errors.classify` and surfaces as a
:class:`~worker.pinpoint.errors.PinpointError`; aiohttp's exceptions never leave this module.

Creates are made safe to retry: after a transient failure of a POST (the request may have been
applied), the client looks for what it may have created (external reference on records, the
note's reference marker on the same record for comments) before sending again.

Requests use only what Pinpoint's API reference documents (``worker.core.pinpoint_reference``
holds its facts): filters each operation declares, lists paged by number until a short page,
attributes each operation writes, ``*_id`` attributes rather than relationship linkage that was
not included.
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
from dataclasses import replace
from types import TracebackType
from typing import Any, Final

import aiohttp
import structlog

from worker.core.pinpoint_reference import (
    PAGE_SIZE_MAX,
    RESOURCES,
    address_attributes_refused,
)
from worker.pinpoint import jsonapi
from worker.pinpoint.errors import (
    AuthError,
    FailureClass,
    InvalidRequestError,
    NotFoundError,
    PinpointError,
    RateLimitedError,
    TransientError,
    classify,
)
from worker.pinpoint.models import (
    COMMENTABLE_TYPE,
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
PAGE_SIZE: Final = PAGE_SIZE_MAX
"""Lists are read 1000 a page, the most Pinpoint serves (more is refused, not capped)."""
DEFAULT_RETRY_AFTER = 1.0
Doc = dict[str, Any]
Reconcile = Callable[[], Awaitable[Doc | None]]


class Operation(enum.StrEnum):
    """Client operations, as named in metrics and logs."""

    FIND_PEOPLE_BY_EMAIL = "find_people_by_email"
    FIND_RECORD_BY_EXTERNAL_REFERENCE = "find_record_by_external_reference"
    CREATE_JOB_SEEKER = "create_job_seeker"
    CREATE_APPLICATION = "create_application"
    GET_CANDIDATE = "get_candidate"
    GET_RECORD = "get_record"
    UPDATE_CANDIDATE = "update_candidate"
    UPDATE_RECORD = "update_record"
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
        error_type = NotFoundError if _names_a_missing_record(status, pointer) else (
            InvalidRequestError)
        return error_type(
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
        with_total: bool = False,
    ) -> AsyncIterator[tuple[Doc, int | None]]:
        """Each page document of a list (with ``meta.stats.total.count`` when asked), by page
        number, until a short page: Pinpoint's lists carry no ``links``."""
        number = 1
        while True:
            query = {**params, "page[number]": str(number), "page[size]": str(PAGE_SIZE)}
            if with_total:
                query["stats[total]"] = "count"
            doc = await self._call(tenant, operation, "GET", path, params=query)
            with self._decoding(operation):
                size = len(jsonapi.data_list(doc))
            yield doc, jsonapi.total_count(doc) if with_total else None
            if size < PAGE_SIZE:
                return
            number += 1
            if max_pages is not None and number > max_pages:
                return

    # ---- finding people and records ----------------------------------------------------------
    async def find_people_by_email(self, tenant: TenantCredentials, email: str) -> list[str]:
        """Ids of the candidates Pinpoint holds with this e-mail, oldest first.

        Candidates have no e-mail filter: applications are filtered on ``candidate_email``,
        job seekers searched for the address (hits kept only where their ``email`` equals it,
        case-insensitively); both give ``candidate_id``."""
        op = Operation.FIND_PEOPLE_BY_EMAIL
        address = email.strip()
        wanted = address.lower()
        ids: set[str] = set()
        value = jsonapi.many_filter_value(address)
        for path, params, check in (
            ("/api/v1/applications", {"filter[candidate_email]": value}, False),
            ("/api/v1/job_seekers", {"filter[search]": value}, True),
        ):
            async for doc, _ in self._pages(tenant, op, path, {**params, "sort": "id"}):
                with self._decoding(op):
                    for res in jsonapi.data_list(doc):
                        attrs = res.get("attributes") or {}
                        if check and str(attrs.get("email") or "").strip().lower() != wanted:
                            continue
                        if attrs.get("candidate_id") not in (None, ""):
                            ids.add(str(attrs["candidate_id"]))
        log.debug(
            "pinpoint.people_found",
            subdomain=tenant.subdomain,
            email=jsonapi.mask_email(email),
            count=len(ids),
        )
        return sorted(ids, key=_id_order)

    async def _record_doc_by_ref(
        self, tenant: TenantCredentials, kind: RecordKind, ref: str
    ) -> Doc | None:
        doc = await self._call(
            tenant,
            Operation.FIND_RECORD_BY_EXTERNAL_REFERENCE,
            "GET",
            f"/api/v1/{kind.value}",
            params={
                "filter[external_system_reference]": jsonapi.many_filter_value(ref),
                "sort": "id",
            },
        )
        with self._decoding(Operation.FIND_RECORD_BY_EXTERNAL_REFERENCE):
            resources = jsonapi.data_list(doc)
        for res in resources:
            if (res.get("attributes") or {}).get("external_system_reference") == ref:
                return {"data": res}
        return None

    async def find_record_by_external_reference(
        self, tenant: TenantCredentials, ref: str, prefer: RecordKind = RecordKind.JOB_SEEKERS
    ) -> CreatedRecord | None:
        """The job seeker or application created with this external reference, whichever
        kind it is (``prefer`` is looked at first): a record made before a crash is found even
        when the destination changed since."""
        op = Operation.FIND_RECORD_BY_EXTERNAL_REFERENCE
        for kind in (prefer, *(k for k in RecordKind if k is not prefer)):
            doc = await self._record_doc_by_ref(tenant, kind, ref)
            if doc is not None:
                with self._decoding(op):
                    return jsonapi.created_record_from(doc["data"], kind)
        return None

    # ---- creating records -------------------------------------------------------------------
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
        body: Doc = {"data": {"type": kind.value, "attributes": attributes}}
        if relationships:
            body["data"]["relationships"] = relationships

        async def reconcile() -> Doc | None:
            return await self._record_doc_by_ref(tenant, kind, external_ref)

        doc = await self._call(
            tenant, operation, "POST", f"/api/v1/{kind.value}", body=body, reconcile=reconcile
        )
        with self._decoding(operation):
            return jsonapi.created_record_from(jsonapi.data_one(doc), kind)

    async def create_job_seeker(
        self,
        tenant: TenantCredentials,
        fields: Mapping[str, str],
        external_ref: str,
        candidate_id: str | None = None,
    ) -> CreatedRecord:
        """Create a talent-pipeline record (and its candidate, unless ``candidate_id``).

        Only attributes job seekers' POST writes are sent (others are refused by Pinpoint):
        the caller writes the rest with `update_person`."""
        rels: dict[str, Any] = {}
        if candidate_id is not None:
            rels["candidate"] = {"data": {"type": "candidates", "id": candidate_id}}
        attributes = {**SOURCE[RecordKind.JOB_SEEKERS], **postable(RecordKind.JOB_SEEKERS, fields)}
        return await self._create_record(
            tenant,
            RecordKind.JOB_SEEKERS,
            operation=Operation.CREATE_JOB_SEEKER,
            attributes=attributes,
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
        """Create an application to a job (and its candidate, unless ``candidate_id``),
        without Pinpoint's "Application Received" and "New Application" notifications."""
        rels: dict[str, Any] = {"job": {"data": {"type": "jobs", "id": job_id}}}
        if candidate_id is not None:
            rels["candidate"] = {"data": {"type": "candidates", "id": candidate_id}}
        attributes: dict[str, Any] = {
            **SOURCE[RecordKind.APPLICATIONS],
            **postable(RecordKind.APPLICATIONS, fields),
            "skip_notifications_on_create": True,
        }
        return await self._create_record(
            tenant,
            RecordKind.APPLICATIONS,
            operation=Operation.CREATE_APPLICATION,
            attributes=attributes,
            relationships=rels,
            external_ref=external_ref,
        )

    # ---- reading and updating the person -----------------------------------------------------
    async def get_candidate(
        self, tenant: TenantCredentials, candidate_id: str
    ) -> PinpointCandidate:
        """A candidate with its custom attribute values and the ids of its job seekers."""
        return await self._get_resource(tenant, CANDIDATES, candidate_id, ("job_seekers",))

    async def _get_resource(
        self, tenant: TenantCredentials, type_: str, resource_id: str, extra: tuple[str, ...]
    ) -> PinpointCandidate:
        op = Operation.GET_CANDIDATE if type_ == CANDIDATES else Operation.GET_RECORD
        doc = await self._call(
            tenant,
            op,
            "GET",
            f"/api/v1/{type_}/{resource_id}",
            params={"include": ",".join((CUSTOM_INCLUDE, *extra))},
        )
        names = await self._field_ids_by_name(tenant, doc)
        with self._decoding(op):
            return jsonapi.candidate_from(
                jsonapi.data_one(doc), jsonapi.index_included(doc), names
            )

    async def _field_ids_by_name(self, tenant: TenantCredentials, doc: Doc) -> dict[str, str]:
        """Custom field ids by name, only when some included custom attribute lacks the
        linkage to its field (then only its ``field_name`` says which it is)."""
        lacking = any(
            isinstance(res, dict)
            and res.get("type") == "custom_attributes"
            and not ((res.get("relationships") or {}).get("custom_field") or {}).get("data")
            for res in doc.get("included") or []
        )
        if not lacking:
            return {}
        return {cf.name: cf.id for cf in (await self.custom_fields(tenant)).values()}

    async def custom_fields(
        self, tenant: TenantCredentials, *, refresh: bool = False
    ) -> dict[str, CustomField]:
        """The tenant's custom field definitions (every resource type) by id (cached)."""
        cached = self._custom_fields.get(tenant.subdomain)
        if cached is not None and not refresh:
            return cached
        op = Operation.LIST_CUSTOM_FIELDS
        fields: dict[str, CustomField] = {}
        async for doc, _ in self._pages(tenant, op, "/api/v1/custom_fields", {"sort": "id"}):
            with self._decoding(op):
                fields.update(
                    (cf.id, cf) for cf in map(jsonapi.custom_field_from, jsonapi.data_list(doc))
                )
        self._custom_fields[tenant.subdomain] = fields
        return fields

    async def update_person(
        self,
        tenant: TenantCredentials,
        candidate_id: str,
        fields: Mapping[str, str],
        protected: frozenset[str] = frozenset(),
        *,
        record: RecordRef | None = None,
        current: PinpointCandidate | None = None,
    ) -> None:
        """Write standard and ``custom:<id>`` fields of a person; protected fields only where
        Pinpoint's current value is empty.

        Each field goes where Pinpoint has it: the candidate's PUT for the attributes it writes
        and custom fields of candidates; the record's own PUT for attributes only the record
        has (``summary``, ``linkedin_url`` on applications, ...) and the record's custom fields.
        A standard field neither has is left out (it cannot be written). ``current`` is the
        candidate as just read, saving a read."""
        if not fields:
            return
        defs: dict[str, CustomField] = {}
        if any(name.startswith(CUSTOM_PREFIX) for name in fields):
            defs = await self._custom_field_defs(tenant, fields)
        plan = _route(fields, defs, record)
        for (type_, resource_id), wanted in plan.items():
            await self._put_fields(
                tenant,
                type_,
                resource_id if type_ != CANDIDATES else candidate_id,
                wanted,
                protected,
                defs,
                current if type_ == CANDIDATES else None,
            )

    async def _put_fields(  # noqa: PLR0917 - private; each argument is needed
        self,
        tenant: TenantCredentials,
        type_: str,
        resource_id: str,
        fields: Mapping[str, str],
        protected: frozenset[str],
        defs: Mapping[str, CustomField],
        current: PinpointCandidate | None,
    ) -> None:
        """One PUT of a candidate or a record: its attributes and side-posted custom
        attributes. Current values are read first when a protected or custom field is in it
        (protected fields are kept where set; custom attributes are updated by their id)."""
        has_custom = any(name.startswith(CUSTOM_PREFIX) for name in fields)
        if current is None and (has_custom or any(name in protected for name in fields)):
            current = await self._get_resource(tenant, type_, resource_id, ())
        if current is not None:
            fields = {
                name: value
                for name, value in fields.items()
                if name not in protected or not (current.value(name) or "").strip()
            }
        custom = {
            n[len(CUSTOM_PREFIX) :]: v for n, v in fields.items() if n.startswith(CUSTOM_PREFIX)
        }
        standard = _for_country(
            {n: v for n, v in fields.items() if not n.startswith(CUSTOM_PREFIX)})
        if not standard and not custom:
            return
        data: Doc = {"type": type_, "id": resource_id, "attributes": standard}
        body: Doc = {"data": data}
        if custom:
            changes = []
            for cf_id, value in custom.items():
                held = current.custom_attributes.get(cf_id) if current is not None else None
                field_type = defs[cf_id].field_type
                converted = jsonapi.custom_value_for(field_type, value)
                changes.append((cf_id, held[0] if held else None, field_type, converted))
            rel_data, included = jsonapi.custom_attributes_payload(changes)
            data["relationships"] = {"custom_attributes": {"data": rel_data}}
            body["included"] = included
        op = Operation.UPDATE_CANDIDATE if type_ == CANDIDATES else Operation.UPDATE_RECORD
        await self._call(tenant, op, "PUT", f"/api/v1/{type_}/{resource_id}", body=body)

    async def _custom_field_defs(
        self, tenant: TenantCredentials, fields: Mapping[str, str]
    ) -> dict[str, CustomField]:
        wanted = [n[len(CUSTOM_PREFIX) :] for n in fields if n.startswith(CUSTOM_PREFIX)]
        defs = await self.custom_fields(tenant)
        if any(cf_id not in defs for cf_id in wanted):
            defs = await self.custom_fields(tenant, refresh=True)
        unknown = sorted(cf_id for cf_id in wanted if cf_id not in defs)
        if unknown:
            raise InvalidRequestError(
                f"update_candidate: unknown custom field(s) {unknown}",
                operation=str(Operation.UPDATE_CANDIDATE),
                detail=f"Custom field {unknown[0]} does not exist",
                pointer=f"custom:{unknown[0]}",
            )
        return defs

    # ---- notes ------------------------------------------------------------------------------
    async def write_comment(
        self, tenant: TenantCredentials, record: RecordRef, body_text: str, marker: str
    ) -> Comment:
        """Add a note to a job seeker or an application. ``marker`` is a short reference the
        text holds: a POST that may have landed is looked for by it before being sent again."""
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
            found = await self._comment_resource(tenant, record, marker)
            return None if found is None else {"data": found}

        doc = await self._call(
            tenant, op, "POST", "/api/v1/comments", body=body, reconcile=reconcile
        )
        with self._decoding(op):
            comment = jsonapi.comment_from(jsonapi.data_one(doc))
        return comment if comment.commentable is not None else replace(comment, commentable=record)

    async def find_comment(
        self, tenant: TenantCredentials, record: RecordRef, marker: str
    ) -> Comment | None:
        """The note on ``record`` whose text holds ``marker``, over every page of its notes."""
        found = await self._comment_resource(tenant, record, marker)
        if found is None:
            return None
        with self._decoding(Operation.LIST_COMMENTS):
            comment = jsonapi.comment_from(found)
        return comment if comment.commentable is not None else replace(comment, commentable=record)

    async def _comment_resource(
        self, tenant: TenantCredentials, record: RecordRef, marker: str
    ) -> jsonapi.Resource | None:
        """Page through the record's comments (by id, 1000 a page, until a short page); the
        total Pinpoint counts is checked against what the pages held, so that a listing that
        changed underneath never passes for "not written"."""
        op = Operation.LIST_COMMENTS
        params = {
            "filter[commentable_id]": record.id,
            "filter[commentable_type]": COMMENTABLE_TYPE[record.kind],
            "sort": "id",
        }
        seen = 0
        total: int | None = None
        async for doc, count in self._pages(
            tenant, op, "/api/v1/comments", params, with_total=True
        ):
            total = count if count is not None else total
            with self._decoding(op):
                resources = jsonapi.data_list(doc)
            seen += len(resources)
            for res in resources:
                attrs = res.get("attributes") or {}
                if marker in str(attrs.get("body_text") or "") and _on_record(res, record):
                    return res
        if total is not None and seen < total:
            raise TransientError(
                f"{op}: the pages held {seen} of {total} comments",
                operation=str(op),
                reason="bad_response",
            )
        return None

    async def probe(self, tenant: TenantCredentials) -> None:
        """A cheap authenticated read; raises AuthError while the key is refused."""
        await self._call(tenant, Operation.PROBE, "GET", "/api/v1/jobs", params={"page[size]": "1"})


# ---- what goes where ---------------------------------------------------------------------------

CANDIDATES: Final = "candidates"
CUSTOM_INCLUDE: Final = "custom_attributes.custom_field"

SOURCE: Final[dict[RecordKind, dict[str, str]]] = {
    RecordKind.JOB_SEEKERS: {
        "channel": "sourced",
        "channel_source": "SourceWhale",
        "pipeline_source": "SourceWhale",
    },
    RecordKind.APPLICATIONS: {"channel": "sourced", "channel_source": "SourceWhale"},
}
"""Source attribution written on every record created, unless the team maps its own values to
these attributes (free text: Pinpoint's reference documents no values)."""

_CUSTOM_TARGET: Final = {
    "candidate": CANDIDATES,
    "job_seeker": RecordKind.JOB_SEEKERS.value,
    "application": RecordKind.APPLICATIONS.value,
}


def writable(type_: str, operation: str) -> frozenset[str]:
    """The attributes ``operation`` (``create`` or ``update``) of ``type_`` writes."""
    return RESOURCES[type_].writes(operation)


def postable(kind: RecordKind, fields: Mapping[str, str]) -> dict[str, str]:
    """The standard fields a record's POST writes (custom fields and others are left out)."""
    allowed = writable(kind.value, "create")
    return _for_country({name: value for name, value in fields.items() if name in allowed})


def _for_country(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes less the address ones Pinpoint refuses for the write's country
    (`state_province` only for US addresses, `address2` only for others)."""
    refused = address_attributes_refused(attributes)
    return {name: value for name, value in attributes.items() if name not in refused}


def _route(
    fields: Mapping[str, str], defs: Mapping[str, CustomField], record: RecordRef | None
) -> dict[tuple[str, str], dict[str, str]]:
    """Fields by the (type, id) whose PUT writes them: the candidate first, then the record."""
    plan: dict[tuple[str, str], dict[str, str]] = {}
    on_candidate = writable(CANDIDATES, "update")
    on_record = writable(record.kind.value, "update") if record is not None else frozenset()
    for name, value in fields.items():
        target: str | None
        if name.startswith(CUSTOM_PREFIX):
            cf = defs[name[len(CUSTOM_PREFIX) :]]
            target = _CUSTOM_TARGET.get(cf.resource_type)
            if target is None or (target != CANDIDATES and (
                    record is None or target != record.kind.value)):
                raise InvalidRequestError(
                    f"update_candidate: custom field {cf.id} belongs to {cf.resource_type}",
                    operation=str(Operation.UPDATE_CANDIDATE),
                    detail=f"Custom field {cf.id} is a {cf.resource_type} field; the record is "
                    f"{record.kind.value if record else 'unknown'}",
                    pointer=name,
                )
        elif name in on_candidate:
            target = CANDIDATES
        elif name in on_record:
            target = record.kind.value if record is not None else None
        else:
            target = None
        if target is None:
            continue
        key = (target, "" if target == CANDIDATES else record.id if record else "")
        plan.setdefault(key, {})[name] = value
    return dict(sorted(plan.items(), key=lambda item: item[0][0] != CANDIDATES))


def _on_record(resource: jsonapi.Resource, record: RecordRef) -> bool:
    """Whether a listed comment is on ``record``: a comment whose answer does not say is taken
    to be (the list was filtered on it)."""
    target = jsonapi.comment_from(resource).commentable
    return target is None or target == record


def _names_a_missing_record(status: int | None, pointer: str | None) -> bool:
    """404, or a 422 pointing at a relationship (a write naming a related record that does not
    exist; Pinpoint's reference leaves open which of the two it answers)."""
    if status == 404:
        return True
    return status == 422 and (pointer or "").lstrip("/").startswith("data/relationships/")


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)
