"""In-memory state of the simulated Pinpoint accounts (one TenantState per subdomain).

Handlers mutate state synchronously (no await in between), so every request's effect is atomic.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker.core.pinpoint_reference import CANDIDATES, MODEL_OF_TYPE
from worker.simulator.ratelimit import TokenBucket
from worker.simulator.specs import CustomFieldSpec, JobSpec, RateLimitSpec, TenantSpec

#: What a candidate holds: the attributes `candidates_attributes_put` writes that a read
#: returns (the reference's candidate schemas).
CANDIDATE_ATTRIBUTES: tuple[str, ...] = tuple(
    sorted(CANDIDATES.writes("update") & CANDIDATES.readable)
)
REQUEST_LOG_SIZE = 50_000


def now_iso() -> str:
    """The current time as RFC 3339 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Candidate:
    """A person in the ATS; comes into being with a job seeker or an application."""

    id: str
    attributes: dict[str, str | None]
    #: custom attribute id -> (custom field id, value)
    custom_attributes: dict[str, tuple[str, Any]] = field(default_factory=dict)
    tags: list[dict[str, str | None]] = field(default_factory=list)
    job_seeker_ids: list[str] = field(default_factory=list)
    application_ids: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Record:
    """A job seeker or an application (the two commentable records)."""

    id: str
    kind: str  # "job_seekers" | "applications"
    candidate_id: str
    attributes: dict[str, Any]
    external_system_reference: str | None
    job_id: str | None = None
    #: custom attribute id -> (custom field id, value), fields of the record's own type
    custom_attributes: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: `{"name", "context"}` pairs written with the tag commands
    tags: list[dict[str, str | None]] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class CommentRecord:
    """A note on an application, a job seeker or a candidate."""

    id: str
    body_text: str
    #: the model name (`JobSeeker`, `Application`, `Candidate`), as Pinpoint reads it back
    commentable_type: str
    commentable_id: str
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class LoggedRequest:
    """One tenant API request as the simulator saw it (never with the API key)."""

    seq: int
    at: float
    method: str
    path: str
    query: dict[str, str]
    status: int | str = 0
    duration_ms: float = 0.0
    fault: str | None = None
    body: Any = None

    def as_json(self) -> dict[str, Any]:
        """The log entry as a JSON object."""
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "fault": self.fault,
            "body": self.body,
        }


class TenantState:
    """One simulated Pinpoint account: configuration, records, rate limit and request log."""

    def __init__(self, spec: TenantSpec) -> None:
        self.spec = spec
        self.subdomain = spec.subdomain
        self.api_key = spec.api_key
        self.integration_enabled = spec.integration_enabled
        self.read_only = spec.read_only
        self.rate_limit: RateLimitSpec | None = spec.rate_limit
        self.bucket: TokenBucket | None = None
        self.jobs: dict[str, JobSpec] = {}
        self.custom_fields: dict[str, CustomFieldSpec] = {}
        self.candidates: dict[str, Candidate] = {}
        self.records: dict[str, dict[str, Record]] = {"job_seekers": {}, "applications": {}}
        self.comments: dict[str, CommentRecord] = {}
        self.notifications: list[dict[str, str]] = []
        self.requests: deque[LoggedRequest] = deque(maxlen=REQUEST_LOG_SIZE)
        self._seq = 0
        self._ids: dict[str, int] = {}
        self._by_email: dict[str, list[str]] = {}
        self._by_ref: dict[tuple[str, str], list[str]] = {}
        self._comments_by: dict[tuple[str, str], list[str]] = {}
        self.set_rate_limit(spec.rate_limit)
        for job in spec.jobs:
            job_id = job.id or self.next_id("jobs")
            self.jobs[job_id] = job.model_copy(update={"id": job_id})
        for cf in spec.custom_fields:
            cf_id = cf.id or self.next_id("custom_fields")
            self.custom_fields[cf_id] = cf.model_copy(update={"id": cf_id})

    # ---- configuration --------------------------------------------------------------------
    def set_rate_limit(self, spec: RateLimitSpec | None) -> None:
        """Replace the tenant's rate limit (None: unlimited); the bucket starts full."""
        self.rate_limit = spec
        if spec is None:
            self.bucket = None
        else:
            self.bucket = TokenBucket(rate=spec.rate, burst=spec.burst)
            self.bucket.start(time.monotonic())

    def next_id(self, kind: str) -> str:
        """A fresh numeric id (as a string) for a kind of resource."""
        value = self._ids.get(kind, 0) + 1
        self._ids[kind] = value
        return str(value)

    def log_request(self, method: str, path: str, query: dict[str, str]) -> LoggedRequest:
        """Append a request to the log and return the entry to be completed."""
        self._seq += 1
        entry = LoggedRequest(self._seq, time.time(), method, path, query)
        self.requests.append(entry)
        return entry

    # ---- records --------------------------------------------------------------------------
    def create_candidate(self, attributes: dict[str, str | None]) -> Candidate:
        """A new candidate from the person attributes of a job seeker or application."""
        cand = Candidate(id=self.next_id("candidates"), attributes=attributes)
        self.candidates[cand.id] = cand
        self._index_email(cand.id, None, attributes.get("email"))
        return cand

    def update_candidate_attributes(
        self, cand: Candidate, attributes: dict[str, str | None]
    ) -> None:
        """Write standard attributes, keeping the e-mail index right."""
        if "email" in attributes:
            self._index_email(cand.id, cand.attributes.get("email"), attributes["email"])
        cand.attributes.update(attributes)
        cand.updated_at = now_iso()

    def _index_email(self, cand_id: str, old: str | None, new: str | None) -> None:
        if old:
            ids = self._by_email.get(old.strip().lower(), [])
            if cand_id in ids:
                ids.remove(cand_id)
        if new:
            self._by_email.setdefault(new.strip().lower(), []).append(cand_id)

    def candidates_by_email(self, email: str) -> list[Candidate]:
        """Candidates whose e-mail matches, ignoring case and surrounding blanks."""
        return [self.candidates[i] for i in self._by_email.get(email.strip().lower(), [])]

    def add_record(self, record: Record) -> None:
        """Store a job seeker or an application and link it to its candidate."""
        self.records[record.kind][record.id] = record
        cand = self.candidates[record.candidate_id]
        if record.kind == "job_seekers":
            cand.job_seeker_ids.append(record.id)
        else:
            cand.application_ids.append(record.id)
        if record.external_system_reference:
            key = (record.kind, record.external_system_reference)
            self._by_ref.setdefault(key, []).append(record.id)

    def set_record_reference(self, record: Record, ref: str | None) -> None:
        """Change a record's external_system_reference, keeping the index right."""
        old = record.external_system_reference
        if old:
            ids = self._by_ref.get((record.kind, old), [])
            if record.id in ids:
                ids.remove(record.id)
        record.external_system_reference = ref
        if ref:
            self._by_ref.setdefault((record.kind, ref), []).append(record.id)

    def remove_record(self, record: Record) -> None:
        """Delete a job seeker or an application (its candidate stays)."""
        self.set_record_reference(record, None)
        del self.records[record.kind][record.id]
        cand = self.candidates.get(record.candidate_id)
        if cand is not None:
            ids = cand.job_seeker_ids if record.kind == "job_seekers" else cand.application_ids
            if record.id in ids:
                ids.remove(record.id)

    def remove_comment(self, comment: CommentRecord) -> None:
        """Delete a comment."""
        del self.comments[comment.id]
        ids = self._comments_by.get((comment.commentable_type, comment.commentable_id), [])
        if comment.id in ids:
            ids.remove(comment.id)

    def records_by_ref(self, kind: str, ref: str) -> list[Record]:
        """Records of a kind with this external_system_reference."""
        return [self.records[kind][i] for i in self._by_ref.get((kind, ref), [])]

    def add_comment(self, comment: CommentRecord) -> None:
        """Store a comment."""
        self.comments[comment.id] = comment
        key = (comment.commentable_type, comment.commentable_id)
        self._comments_by.setdefault(key, []).append(comment.id)

    def comments_on(self, model: str, record_id: str) -> list[CommentRecord]:
        """Comments on one record (by model name), oldest first."""
        return [self.comments[i] for i in self._comments_by.get((model, record_id), [])]

    def commentable_exists(self, kind: str, ident: str) -> bool:
        """Whether a comment may hang from `kind` (a JSON:API type) `ident`."""
        if kind == "candidates":
            return ident in self.candidates
        return ident in self.records.get(kind, {})

    def clear_records(self) -> None:
        """Forget every record, comment, notification and logged request (keeps configuration)."""
        self.candidates.clear()
        for table in self.records.values():
            table.clear()
        self.comments.clear()
        self.notifications.clear()
        self.requests.clear()
        self._by_email.clear()
        self._by_ref.clear()
        self._comments_by.clear()
        for kind in ("candidates", "job_seekers", "applications", "comments", "custom_attributes"):
            self._ids.pop(kind, None)
        self.set_rate_limit(self.rate_limit)

    # ---- views ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the tenant holds, as plain JSON (for `GET /_sim/tenants/{s}/state`)."""
        return {
            "subdomain": self.subdomain,
            "integration_enabled": self.integration_enabled,
            "rate_limit": None if self.rate_limit is None else self.rate_limit.model_dump(),
            "jobs": [j.model_dump() for j in self.jobs.values()],
            "custom_fields": [c.model_dump() for c in self.custom_fields.values()],
            "candidates": [
                {
                    "id": c.id,
                    "attributes": dict(c.attributes),
                    "custom_attributes": [
                        {"id": ca_id, "custom_field_id": cf_id, "value": value}
                        for ca_id, (cf_id, value) in c.custom_attributes.items()
                    ],
                    "tags": list(c.tags),
                    "job_seeker_ids": list(c.job_seeker_ids),
                    "application_ids": list(c.application_ids),
                }
                for c in self.candidates.values()
            ],
            "job_seekers": [_record_json(r) for r in self.records["job_seekers"].values()],
            "applications": [_record_json(r) for r in self.records["applications"].values()],
            "comments": [
                {
                    "id": c.id,
                    "body_text": c.body_text,
                    "commentable_type": c.commentable_type,
                    "commentable_id": c.commentable_id,
                }
                for c in self.comments.values()
            ],
            "notifications": list(self.notifications),
            "request_count": self._seq,
        }


def _record_json(record: Record) -> dict[str, Any]:
    return {
        "id": record.id,
        "candidate_id": record.candidate_id,
        "job_id": record.job_id,
        "external_system_reference": record.external_system_reference,
        "attributes": dict(record.attributes),
        "custom_attributes": [
            {"id": ca_id, "custom_field_id": cf_id, "value": value}
            for ca_id, (cf_id, value) in record.custom_attributes.items()
        ],
        "tags": list(record.tags),
    }


#: JSON:API type -> model name, for the types a comment can hang from.
COMMENTABLE_MODELS = {
    kind: MODEL_OF_TYPE[kind] for kind in ("job_seekers", "applications", "candidates")
}


class SimulatorState:
    """All tenants and the fault configuration of one simulator."""

    def __init__(self, tenants: list[TenantSpec] | None = None) -> None:
        self.tenants: dict[str, TenantState] = {}
        for spec in tenants or []:
            self.add_tenant(spec)

    def add_tenant(self, spec: TenantSpec) -> TenantState:
        """Create a tenant; raises KeyError if the subdomain exists."""
        if spec.subdomain in self.tenants:
            raise KeyError(spec.subdomain)
        tenant = TenantState(spec)
        self.tenants[spec.subdomain] = tenant
        return tenant

    def tenant(self, subdomain: str) -> TenantState:
        """A tenant by subdomain (KeyError when unknown)."""
        return self.tenants[subdomain]
