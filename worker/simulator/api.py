"""Handlers of the simulated Pinpoint API (`/tenants/{subdomain}/api/v1/...`).

Each handler gets the request and the authenticated tenant, mutates state synchronously and
returns a JSON:API response, or raises SimError for a 4xx answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from worker.simulator.documents import (
    SimError,
    candidate_resource,
    comment_resource,
    custom_attribute_resources,
    includes,
    json_response,
    paginate,
    record_resource,
    ref,
)
from worker.simulator.specs import CustomFieldSpec
from worker.simulator.state import (
    CANDIDATE_ATTRIBUTES,
    Candidate,
    CommentRecord,
    Record,
    TenantState,
)

Handler = Callable[[web.Request, TenantState], Awaitable[web.Response]]

RECORD_ATTRIBUTES = frozenset(CANDIDATE_ATTRIBUTES) | {"external_system_reference"}
CREATE_ONLY = frozenset({"skip_notifications_on_create"})
REQUIRED_PERSON = ("first_name", "last_name", "email")
COMMENTABLE = {
    "applications": "applications",
    "application": "applications",
    "job_seekers": "job_seekers",
    "job_seeker": "job_seekers",
    "jobseeker": "job_seekers",
}
VARCHAR_MAX = 255


# ---- request parsing ---------------------------------------------------------------------
async def read_data(request: web.Request, expected_type: str) -> tuple[dict[str, Any], list[Any]]:
    """The `data` object of a JSON:API request body, and its `included` list."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise SimError(400, "Request body is not valid JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise SimError(400, "Request body must be a JSON:API document with a data object", "/data")
    data: dict[str, Any] = body["data"]
    if data.get("type") != expected_type:
        raise SimError(400, f"data.type must be {expected_type!r}", "/data/type")
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        raise SimError(400, "data.attributes must be an object", "/data/attributes")
    included = body.get("included", [])
    if not isinstance(included, list):
        raise SimError(400, "included must be an array", "/included")
    return data, included


def relationship_id(data: dict[str, Any], name: str, expected_type: str | None) -> str | None:
    """The id in `relationships.<name>.data`, checking its type; None when absent."""
    rel = (data.get("relationships") or {}).get(name)
    if rel is None:
        return None
    target = rel.get("data") if isinstance(rel, dict) else None
    pointer = f"/data/relationships/{name}"
    if target is None:
        return None
    if not isinstance(target, dict) or not isinstance(target.get("id"), str | int):
        raise SimError(400, f"relationship {name} must hold a resource identifier", pointer)
    if expected_type is not None and target.get("type") != expected_type:
        raise SimError(422, f"{name} must be of type {expected_type}", pointer)
    return str(target["id"])


def person_attributes(
    attributes: dict[str, Any], *, allowed: frozenset[str], required: tuple[str, ...]
) -> dict[str, Any]:
    """Validate person attributes: known names, strings, required ones non-blank."""
    for name, value in attributes.items():
        pointer = f"/data/attributes/{name}"
        if name not in allowed:
            raise SimError(422, f"Unknown attribute {name}", pointer)
        if name in CREATE_ONLY:
            continue
        if value is not None and not isinstance(value, str):
            raise SimError(422, f"{_human(name)} must be a string", pointer)
    for name in required:
        value = attributes.get(name)
        if not isinstance(value, str) or not value.strip():
            raise SimError(422, f"{_human(name)} can't be blank", f"/data/attributes/{name}")
    email = attributes.get("email")
    if email and "@" not in email:
        raise SimError(422, "Email is invalid", "/data/attributes/email")
    return attributes


def _human(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _get_or_404(table: dict[str, Any], ident: str, what: str) -> Any:
    try:
        return table[ident]
    except KeyError:
        raise SimError(404, f"{what} {ident} not found") from None


# ---- jobs and custom fields --------------------------------------------------------------
def _job_resource(job_id: str, tenant: TenantState) -> dict[str, Any]:
    job = tenant.jobs[job_id]
    return {"type": "jobs", "id": job_id, "attributes": {"title": job.title, "status": job.status}}


async def list_jobs(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /jobs."""
    page, meta = paginate(request, list(tenant.jobs))
    data = [_job_resource(i, tenant) for i in page]
    return json_response({"data": data, "meta": meta})


async def show_job(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /jobs/{id}."""
    job_id = request.match_info["id"]
    _get_or_404(tenant.jobs, job_id, "Job")
    return json_response({"data": _job_resource(job_id, tenant)})


def _custom_field_resource(cf: CustomFieldSpec) -> dict[str, Any]:
    assert cf.id is not None
    return {
        "type": "custom_fields",
        "id": cf.id,
        "attributes": {
            "name": cf.name,
            "field_type": cf.field_type,
            "resource_type": cf.resource_type,
        },
    }


async def list_custom_fields(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /custom_fields (filter[resource_type])."""
    wanted = request.query.get("filter[resource_type]")
    fields = [cf for cf in tenant.custom_fields.values() if wanted in (None, cf.resource_type)]
    page, meta = paginate(request, fields)
    data = [_custom_field_resource(cf) for cf in page]
    return json_response({"data": data, "meta": meta})


# ---- candidates ---------------------------------------------------------------------------
def _candidate_doc(request: web.Request, tenant: TenantState, cands: list[Any]) -> dict[str, Any]:
    included: list[dict[str, Any]] = []
    if "custom_attributes" in includes(request):
        for cand in cands:
            included.extend(custom_attribute_resources(tenant, cand))
    return {"included": included} if included else {}


async def list_candidates(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /candidates (filter[email] is the assumed server-side e-mail filter)."""
    email = request.query.get("filter[email]")
    cands = (
        tenant.candidates_by_email(email) if email is not None else list(tenant.candidates.values())
    )
    page, meta = paginate(request, cands)
    doc: dict[str, Any] = {"data": [candidate_resource(c) for c in page], "meta": meta}
    doc.update(_candidate_doc(request, tenant, list(page)))
    return json_response(doc)


async def show_candidate(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /candidates/{id}."""
    cand = _get_or_404(tenant.candidates, request.match_info["id"], "Candidate")
    doc: dict[str, Any] = {"data": candidate_resource(cand)}
    doc.update(_candidate_doc(request, tenant, [cand]))
    return json_response(doc)


def _check_value(cf: CustomFieldSpec, value: Any, pointer: str) -> Any:
    """Validate a custom attribute value against its field type."""
    if value is None:
        return None
    ft = cf.field_type
    ok: bool
    if ft in ("varchar", "text", "single_select"):
        ok = isinstance(value, str) and (ft != "varchar" or len(value) <= VARCHAR_MAX)
        if isinstance(value, str) and not ok:
            raise SimError(422, f"{cf.name} is too long (maximum is 255 characters)", pointer)
    elif ft == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()) is not None
        )
    elif ft == "decimal":
        try:
            Decimal(str(value))
            ok = not isinstance(value, bool)
        except InvalidOperation:
            ok = False
    elif ft == "date":
        try:
            date.fromisoformat(str(value))
            ok = isinstance(value, str)
        except ValueError:
            ok = False
    elif ft == "boolean":
        ok = isinstance(value, bool)
    else:  # multi_select
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not ok:
        raise SimError(422, f"{cf.name} is not a valid {ft} value", pointer)
    return value


def _included_index(included: list[Any]) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    """Included custom attributes by ("temp", temp-id) and ("id", id), with their position."""
    by_key: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for pos, inc in enumerate(included):
        if isinstance(inc, dict) and inc.get("type") == "custom_attributes":
            if "temp-id" in inc:
                by_key[("temp", str(inc["temp-id"]))] = (pos, inc)
            if "id" in inc:
                by_key[("id", str(inc["id"]))] = (pos, inc)
    return by_key


def _lookup_key(item: Any, pointer: str) -> tuple[str, str]:
    if not isinstance(item, dict) or item.get("type") != "custom_attributes":
        raise SimError(400, "custom_attributes items must have type custom_attributes", pointer)
    method = item.get("method")
    if method == "create":
        return ("temp", str(item.get("temp-id")))
    if method == "update":
        return ("id", str(item.get("id")))
    raise SimError(400, "method must be create or update", pointer)


def _one_change(
    tenant: TenantState,
    cand: Candidate,
    *,
    key: tuple[str, str],
    inc: dict[str, Any],
    pointers: tuple[str, str],
    fields_taken: set[str],
) -> tuple[str | None, str, Any]:
    pointer, inc_pointer = pointers
    existing_id: str | None = None
    cf_rel = ((inc.get("relationships") or {}).get("custom_field") or {}).get("data")
    cf_id = str(cf_rel["id"]) if isinstance(cf_rel, dict) and "id" in cf_rel else None
    if key[0] == "id":
        existing_id = key[1]
        if existing_id not in cand.custom_attributes:
            raise SimError(422, f"Custom attribute {existing_id} not found", pointer)
        held_cf = cand.custom_attributes[existing_id][0]
        if cf_id not in (None, held_cf):
            raise SimError(422, "custom_field cannot be changed", inc_pointer)
        cf_id = held_cf
    cf = tenant.custom_fields.get(cf_id) if cf_id is not None else None
    if cf_id is None or cf is None or cf.resource_type != "candidate":
        raise SimError(422, f"Custom field {cf_id} must exist", f"{inc_pointer}/relationships")
    if existing_id is None and cf_id in fields_taken:
        raise SimError(422, f"Custom field {cf_id} has already been taken", inc_pointer)
    fields_taken.add(cf_id)
    attrs = inc.get("attributes") or {}
    value_key = f"{cf.field_type}_value"
    value_pointer = f"{inc_pointer}/attributes/{value_key}"
    if value_key not in attrs or any(k.endswith("_value") and k != value_key for k in attrs):
        raise SimError(422, f"{cf.name} takes {value_key}", value_pointer)
    return existing_id, cf_id, _check_value(cf, attrs[value_key], value_pointer)


def _custom_attribute_changes(
    tenant: TenantState, cand: Candidate, data: dict[str, Any], included: list[Any]
) -> list[tuple[str | None, str, Any]]:
    """Validated side-posted custom attributes: (existing id or None, custom field id, value)."""
    rel = (data.get("relationships") or {}).get("custom_attributes")
    if rel is None:
        return []
    items = rel.get("data") if isinstance(rel, dict) else None
    if not isinstance(items, list):
        raise SimError(400, "custom_attributes.data must be an array", "/data/relationships")
    by_key = _included_index(included)
    fields_taken = {cf_id for cf_id, _ in cand.custom_attributes.values()}
    changes: list[tuple[str | None, str, Any]] = []
    for n, item in enumerate(items):
        pointer = f"/data/relationships/custom_attributes/data/{n}"
        key = _lookup_key(item, pointer)
        if key not in by_key:
            raise SimError(400, f"no included custom attribute for {key[1]}", pointer)
        pos, inc = by_key[key]
        pointers = (pointer, f"/included/{pos}")
        changes.append(
            _one_change(
                tenant, cand, key=key, inc=inc, pointers=pointers, fields_taken=fields_taken
            )
        )
    return changes


async def update_candidate(request: web.Request, tenant: TenantState) -> web.Response:
    """PUT /candidates/{id}: standard attributes plus side-posted custom attributes."""
    cand = _get_or_404(tenant.candidates, request.match_info["id"], "Candidate")
    data, included = await read_data(request, "candidates")
    if "id" in data and str(data["id"]) != cand.id:
        raise SimError(400, "data.id does not match the URL", "/data/id")
    attrs = person_attributes(
        data.get("attributes", {}), allowed=frozenset(CANDIDATE_ATTRIBUTES), required=()
    )
    for name in REQUIRED_PERSON:
        if name in attrs and not (attrs[name] or "").strip():
            raise SimError(422, f"{_human(name)} can't be blank", f"/data/attributes/{name}")
    changes = _custom_attribute_changes(tenant, cand, data, included)
    # validated: apply atomically
    tenant.update_candidate_attributes(cand, attrs)
    for existing_id, cf_id, value in changes:
        ca_id = existing_id or tenant.next_id("custom_attributes")
        cand.custom_attributes[ca_id] = (cf_id, value)
    doc: dict[str, Any] = {"data": candidate_resource(cand)}
    included_out = custom_attribute_resources(tenant, cand)
    if included_out:
        doc["included"] = included_out
    return json_response(doc)


# ---- job seekers and applications ----------------------------------------------------------
def _notify(tenant: TenantState, attrs: dict[str, Any], kind: str, record_id: str) -> None:
    if attrs.get("skip_notifications_on_create") is not True:
        tenant.notifications.append({"record_type": kind, "record_id": record_id})


async def _create_record(
    tenant: TenantState, kind: str, job_id: str | None, data: dict[str, Any]
) -> web.Response:
    raw_attrs: dict[str, Any] = data.get("attributes", {})
    cand_id = relationship_id(data, "candidate", "candidates")
    if cand_id is not None and cand_id not in tenant.candidates:
        raise SimError(422, f"Candidate {cand_id} must exist", "/data/relationships/candidate")
    attrs = person_attributes(
        raw_attrs,
        allowed=RECORD_ATTRIBUTES | CREATE_ONLY,
        required=() if cand_id is not None else REQUIRED_PERSON,
    )
    ext = attrs.get("external_system_reference")
    person = {k: v for k, v in attrs.items() if k in CANDIDATE_ATTRIBUTES}
    if cand_id is None:
        cand = tenant.create_candidate({k: person.get(k) for k in CANDIDATE_ATTRIBUTES})
        cand_id = cand.id
    record = Record(
        id=tenant.next_id(kind),
        kind=kind,
        candidate_id=cand_id,
        attributes=person,
        external_system_reference=ext,
        job_id=job_id,
    )
    tenant.add_record(record)
    _notify(tenant, attrs, kind, record.id)
    return json_response({"data": record_resource(record)}, status=201)


async def create_job_seeker(request: web.Request, tenant: TenantState) -> web.Response:
    """POST /job_seekers (a candidate comes into being unless `candidate` is related)."""
    data, _ = await read_data(request, "job_seekers")
    return await _create_record(tenant, "job_seekers", None, data)


async def create_application(request: web.Request, tenant: TenantState) -> web.Response:
    """POST /applications (relationship `job` required)."""
    data, _ = await read_data(request, "applications")
    job_id = relationship_id(data, "job", "jobs")
    if job_id is None:
        raise SimError(422, "Job must exist", "/data/relationships/job")
    if job_id not in tenant.jobs:
        raise SimError(422, f"Job {job_id} must exist", "/data/relationships/job")
    return await _create_record(tenant, "applications", job_id, data)


def _list_records(kind: str) -> Handler:
    async def handler(request: web.Request, tenant: TenantState) -> web.Response:
        ext = request.query.get("filter[external_system_reference]")
        if ext is not None:
            records = tenant.records_by_ref(kind, ext)
        else:
            records = list(tenant.records[kind].values())
        job = request.query.get("filter[job_id]")
        if job is not None:
            records = [r for r in records if r.job_id == job]
        page, meta = paginate(request, records)
        data = [record_resource(r) for r in page]
        return json_response({"data": data, "meta": meta})

    handler.__doc__ = f"GET /{kind} (filter[external_system_reference])."
    return handler


def _show_record(kind: str) -> Handler:
    async def handler(request: web.Request, tenant: TenantState) -> web.Response:
        record = _get_or_404(tenant.records[kind], request.match_info["id"], kind)
        return json_response({"data": record_resource(record)})

    handler.__doc__ = f"GET /{kind}/{{id}}."
    return handler


list_job_seekers = _list_records("job_seekers")
list_applications = _list_records("applications")
show_job_seeker = _show_record("job_seekers")
show_application = _show_record("applications")


async def update_application(request: web.Request, tenant: TenantState) -> web.Response:
    """PUT /applications/{id}."""
    record: Record = _get_or_404(tenant.records["applications"], request.match_info["id"], "App")
    data, _ = await read_data(request, "applications")
    attrs = person_attributes(data.get("attributes", {}), allowed=RECORD_ATTRIBUTES, required=())
    if "external_system_reference" in attrs:
        record.external_system_reference = attrs.pop("external_system_reference")
    record.attributes.update(attrs)
    return json_response({"data": record_resource(record)})


# ---- comments -------------------------------------------------------------------------------
async def create_comment(request: web.Request, tenant: TenantState) -> web.Response:
    """POST /comments on an application or a job seeker (never a candidate)."""
    data, _ = await read_data(request, "comments")
    attrs = data.get("attributes", {})
    body = attrs.get("body_text")
    if not isinstance(body, str) or not body.strip():
        raise SimError(422, "Body text can't be blank", "/data/attributes/body_text")
    pointer = "/data/relationships/commentable"
    rel = ((data.get("relationships") or {}).get("commentable") or {}).get("data")
    if not isinstance(rel, dict) or "id" not in rel:
        raise SimError(422, "Commentable must exist", pointer)
    kind = rel.get("type")
    if kind not in ("applications", "job_seekers"):
        raise SimError(422, f"Commentable type {kind} is not supported", pointer)
    target = str(rel["id"])
    if target not in tenant.records[kind]:
        raise SimError(422, f"Commentable {kind} {target} must exist", pointer)
    comment = CommentRecord(tenant.next_id("comments"), body, kind, target)
    tenant.add_comment(comment)
    return json_response({"data": comment_resource(comment)}, status=201)


async def list_comments(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /comments (filter[commentable_id], filter[commentable_type])."""
    cid = request.query.get("filter[commentable_id]")
    ctype_raw = request.query.get("filter[commentable_type]")
    ctype = None
    if ctype_raw is not None:
        ctype = COMMENTABLE.get(re.sub(r"(?<!^)(?=[A-Z])", "_", ctype_raw).lower())
        if ctype is None:
            raise SimError(400, f"Unknown commentable type {ctype_raw}")
    if cid is not None and ctype is not None:
        comments = tenant.comments_on(ctype, cid)
    else:
        comments = [
            c
            for c in tenant.comments.values()
            if cid in (None, c.commentable_id) and ctype in (None, c.commentable_type)
        ]
    page, meta = paginate(request, comments)
    data = [comment_resource(c) for c in page]
    return json_response({"data": data, "meta": meta})


async def show_comment(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /comments/{id}."""
    comment = _get_or_404(tenant.comments, request.match_info["id"], "Comment")
    return json_response({"data": comment_resource(comment)})


#: (method, path under /api/v1, handler)
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/jobs", list_jobs),
    ("GET", "/jobs/{id}", show_job),
    ("GET", "/custom_fields", list_custom_fields),
    ("GET", "/candidates", list_candidates),
    ("GET", "/candidates/{id}", show_candidate),
    ("PUT", "/candidates/{id}", update_candidate),
    ("GET", "/job_seekers", list_job_seekers),
    ("POST", "/job_seekers", create_job_seeker),
    ("GET", "/job_seekers/{id}", show_job_seeker),
    ("GET", "/applications", list_applications),
    ("POST", "/applications", create_application),
    ("GET", "/applications/{id}", show_application),
    ("PUT", "/applications/{id}", update_application),
    ("GET", "/comments", list_comments),
    ("POST", "/comments", create_comment),
    ("GET", "/comments/{id}", show_comment),
)

__all__ = ["ROUTES", "Handler", "ref"]
