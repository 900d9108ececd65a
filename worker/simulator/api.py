"""Handlers of the simulated Pinpoint API (`/tenants/{subdomain}/api/v1/...`).

Each handler gets the request and the authenticated tenant, mutates state synchronously and
returns a JSON:API response, or raises SimError for a 4xx answer. What a request may carry was
already judged against the reference by `worker.simulator.contract` (the app refuses anything
else before a handler runs), so handlers only do what the reference says the operation does:
the attributes each resource writes and reads, its filters and sorts (`worker.core.
pinpoint_reference`), and the choices of docs/pinpoint.md's assumptions table where it is silent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from worker.core.pinpoint_reference import (
    PERSON_FIELDS_REQUIRED_ON_CREATE,
    RESOURCES,
    ResourceFacts,
)
from worker.simulator.documents import (
    Renderer,
    SimError,
    json_response,
    paginate,
    ref,
)
from worker.simulator.specs import CustomFieldSpec
from worker.simulator.state import (
    CANDIDATE_ATTRIBUTES,
    COMMENTABLE_MODELS,
    Candidate,
    CommentRecord,
    Record,
    TenantState,
    now_iso,
)

Handler = Callable[[web.Request, TenantState], Awaitable[web.Response]]

#: Person attributes that must be strings when given (the others are booleans, objects, lists).
STRING_ATTRIBUTES = (frozenset(CANDIDATE_ATTRIBUTES) - {"blocked"}) | {
    "summary",
    "linkedin_url",
    "channel",
    "channel_source",
    "pipeline_source",
    "preferred_pronouns",
}
REQUIRED_PERSON = tuple(sorted(PERSON_FIELDS_REQUIRED_ON_CREATE))
#: The custom field `resource_type` each parent's custom attributes must have.
CUSTOM_FIELD_RESOURCE = {
    "candidates": "candidate",
    "job_seekers": "job_seeker",
    "applications": "application",
}
#: What `filter[search]` matches, per resource (assumption: case-insensitive substring).
SEARCHED = {"job_seekers": ("email", "first_name", "last_name"), "jobs": ("title",)}
VARCHAR_MAX = 255
_MANY_VALUE = re.compile(r"\{\{(.*?)\}\}|([^,]+)")


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


def _human(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _get_or_404(table: dict[str, Any], ident: str) -> Any:
    try:
        return table[ident]
    except KeyError:
        raise SimError(404, "Record not found") from None


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


def person_attributes(attributes: dict[str, Any], *, required: tuple[str, ...]) -> dict[str, Any]:
    """What the reference's schemas type but the contract checks do not: strings where a
    person attribute is a string, required ones non-blank, an e-mail with an @."""
    for name, value in attributes.items():
        if name in STRING_ATTRIBUTES and value is not None and not isinstance(value, str):
            raise SimError(422, f"{_human(name)} must be a string", f"/data/attributes/{name}")
    for name in required:
        value = attributes.get(name)
        if not isinstance(value, str) or not value.strip():
            raise SimError(422, f"{_human(name)} can't be blank", f"/data/attributes/{name}")
    for name in REQUIRED_PERSON:
        if name in attributes and not (attributes[name] or "").strip():
            raise SimError(422, f"{_human(name)} can't be blank", f"/data/attributes/{name}")
    email = attributes.get("email")
    if email and "@" not in email:
        raise SimError(422, "Email is invalid", "/data/attributes/email")
    return attributes


# ---- filters and sorts -----------------------------------------------------------------------
def many_values(raw: str) -> list[str]:
    """The values of a many-valued filter: comma-separated, `{{...}}` keeping a comma inside."""
    return [
        m.group(1) if m.group(1) is not None else m.group(2).strip()
        for m in _MANY_VALUE.finditer(raw)
    ]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _matches(facts: ResourceFacts, name: str, op: str | None, raw: str, value: Any) -> bool:
    """Whether one item's `value` (attribute `name`, or a list of values) passes a filter."""
    if op in ("gt", "lt"):
        held, wanted = _time(str(value or "")), _time(raw)
        if held is None or wanted is None:
            return False
        return held > wanted if op == "gt" else held < wanted
    wanted_values = many_values(raw) if facts.filters[name].many else [raw]
    held_values = value if isinstance(value, list) else [value]
    if name == "search":
        needles = [w.strip().lower() for w in wanted_values if w.strip()]
        return any(n in (h or "").lower() for n in needles for h in held_values)
    if name.endswith("email"):
        wanted_set = {w.strip().lower() for w in wanted_values}
        return any((h or "").strip().lower() in wanted_set for h in held_values if h)
    return any(_text(h) in wanted_values for h in held_values if h is not None)


_FILTER = re.compile(r"^filter\[(?P<name>[a-z_]+)\](?:\[(?P<op>[a-z_]+)\])?$")


def filtered(
    request: web.Request, kind: str, items: Iterable[Any], value_of: Callable[[Any, str], Any]
) -> list[Any]:
    """`items` passing every documented `filter[...]` of the request, ordered by `sort=`
    (ascending id when none: an assumption)."""
    facts = RESOURCES[kind]
    out = list(items)
    for param, raw in request.query.items():
        m = _FILTER.match(param)
        if m is None or m["name"] not in facts.filters:
            continue
        name, op = m["name"], m["op"]
        out = [item for item in out if _matches(facts, name, op, raw, value_of(item, name))]
    keys = [k.strip() for k in request.query.get("sort", "id").split(",") if k.strip()]
    for key in reversed(keys):
        field = key.removeprefix("-")
        out.sort(
            key=lambda item, f=field: _sort_key(value_of(item, f)),  # type: ignore[misc]
            reverse=key.startswith("-"),
        )
    return out


def _sort_key(value: Any) -> tuple[int, Any]:
    text = _text(value) or ""
    return (0, int(text)) if text.isdigit() else (1, text)


# ---- jobs and custom fields --------------------------------------------------------------
def _job_value(tenant: TenantState) -> Callable[[Any, str], Any]:
    def value_of(job_id: Any, name: str) -> Any:
        job = tenant.jobs[job_id]
        if name == "id":
            return job_id
        if name == "search":
            return [job.title]
        return getattr(job, name, None)

    return value_of


async def list_jobs(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /jobs."""
    jobs = filtered(request, "jobs", list(tenant.jobs), _job_value(tenant))
    page, meta = paginate(request, jobs)
    render = Renderer(tenant, request)
    doc = render.document([render.job((i, tenant.jobs[i])) for i in page])
    return json_response({**doc, "meta": meta})


async def show_job(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /jobs/{id}."""
    job_id = request.match_info["id"]
    job = _get_or_404(tenant.jobs, job_id)
    render = Renderer(tenant, request)
    return json_response(render.document(render.job((job_id, job))))


def _custom_field_value(cf: CustomFieldSpec, name: str) -> Any:
    return getattr(cf, name, None)


async def list_custom_fields(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /custom_fields (filter[resource_type])."""
    fields = filtered(request, "custom_fields", tenant.custom_fields.values(), _custom_field_value)
    page, meta = paginate(request, fields)
    render = Renderer(tenant, request)
    return json_response(
        {**render.document([render.custom_field(cf) for cf in page]), "meta": meta}
    )


# ---- custom attributes, sideposted on their parent -------------------------------------------
def _included_by_key(
    included: list[Any], kind: str
) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    """Included resources of `kind` by ("temp-id", t) and ("id", i), with their position."""
    by_key: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for pos, inc in enumerate(included):
        if isinstance(inc, dict) and inc.get("type") == kind:
            for name in ("temp-id", "id"):
                if name in inc:
                    by_key[(name, str(inc[name]))] = (pos, inc)
    return by_key


def _custom_attribute_changes(
    tenant: TenantState,
    parent: str,
    held: Mapping[str, tuple[str, Any]],
    data: dict[str, Any],
    included: list[Any],
) -> list[tuple[str, str | None, str | None, Any]]:
    """Validated sideposted custom attributes: (method, existing id, custom field id, value)."""
    rel = (data.get("relationships") or {}).get("custom_attributes")
    if rel is None:
        return []
    items = rel.get("data") or []
    by_key = _included_by_key(included, "custom_attributes")
    fields_taken = {cf_id for cf_id, _ in held.values()}
    changes: list[tuple[str, str | None, str | None, Any]] = []
    for n, item in enumerate(items):
        pointer = f"/data/relationships/custom_attributes/data/{n}"
        method = item.get("method")
        if method == "destroy":
            if str(item.get("id")) not in held:
                raise SimError(404, "Record not found", pointer)
            changes.append(("destroy", str(item["id"]), None, None))
            continue
        key = (
            ("temp-id", str(item.get("temp-id")))
            if method == "create"
            else ("id", str(item.get("id")))
        )
        pos, inc = by_key[key]  # present: the contract checks asked for it
        inc_pointer = f"/included/{pos}"
        existing_id: str | None = None
        cf_rel = ((inc.get("relationships") or {}).get("custom_field") or {}).get("data")
        cf_id = str(cf_rel["id"]) if isinstance(cf_rel, dict) and "id" in cf_rel else None
        if method == "update":
            existing_id = key[1]
            if existing_id not in held:
                raise SimError(404, "Record not found", pointer)
            cf_id = held[existing_id][0]
        cf = tenant.custom_fields.get(cf_id) if cf_id is not None else None
        if cf is None or cf.resource_type != CUSTOM_FIELD_RESOURCE[parent]:
            raise SimError(
                422, "Custom field must exist", f"{inc_pointer}/relationships/custom_field"
            )
        if existing_id is None and cf.id in fields_taken:
            raise SimError(422, "Custom field has already been taken", inc_pointer)
        fields_taken.add(cf.id or "")
        attrs = inc.get("attributes") or {}
        value_key = f"{cf.field_type}_value"
        value_pointer = f"{inc_pointer}/attributes/{value_key}"
        if value_key not in attrs or any(k != value_key for k in attrs):
            raise SimError(422, f"{cf.name} takes {value_key}", value_pointer)
        changes.append(
            (method, existing_id, cf.id, _check_value(cf, attrs[value_key], value_pointer))
        )
    return changes


def _apply_custom(
    tenant: TenantState,
    held: dict[str, tuple[str, Any]],
    changes: list[tuple[str, str | None, str | None, Any]],
) -> None:
    for method, existing_id, cf_id, value in changes:
        if method == "destroy":
            held.pop(existing_id or "", None)
        elif existing_id is not None:
            held[existing_id] = (held[existing_id][0], value)
        else:
            held[tenant.next_id("custom_attributes")] = (cf_id or "", value)


def _apply_tags(tags: list[dict[str, str | None]], attrs: Mapping[str, Any]) -> None:
    """The tag commands: `{tag, context}` pairs added or removed, read back as
    `{name, context}`."""

    def pair(obj: Any) -> dict[str, str | None]:
        obj = obj if isinstance(obj, Mapping) else {"tag": obj}
        return {
            "name": _text(obj.get("tag") or obj.get("name")),
            "context": _text(obj.get("context")),
        }

    adds = []
    if "add_tag_with_context" in attrs:
        adds.append(pair(attrs["add_tag_with_context"]))
    adds.extend(pair(t) for t in attrs.get("add_tags_with_context") or [])
    for tag in adds:
        if tag not in tags:
            tags.append(tag)
    if "remove_tag_with_context" in attrs:
        gone = pair(attrs["remove_tag_with_context"])
        tags[:] = [t for t in tags if t != gone]


# ---- candidates ---------------------------------------------------------------------------
def _candidate_value() -> Callable[[Any, str], Any]:
    def value_of(cand: Candidate, name: str) -> Any:
        if name == "id":
            return cand.id
        if name in ("created_at", "updated_at"):
            return getattr(cand, name)
        return cand.attributes.get(name)

    return value_of


async def list_candidates(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /candidates (no e-mail filter: the reference has none)."""
    cands = filtered(request, "candidates", tenant.candidates.values(), _candidate_value())
    page, meta = paginate(request, cands)
    render = Renderer(tenant, request)
    return json_response({**render.document([render.candidate(c) for c in page]), "meta": meta})


async def show_candidate(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /candidates/{id}."""
    cand = _get_or_404(tenant.candidates, request.match_info["id"])
    render = Renderer(tenant, request)
    return json_response(render.document(render.candidate(cand)))


async def update_candidate(request: web.Request, tenant: TenantState) -> web.Response:
    """PUT /candidates/{id}: standard attributes plus sideposted custom attributes."""
    cand = _get_or_404(tenant.candidates, request.match_info["id"])
    data, included = await read_data(request, "candidates")
    attrs = person_attributes(dict(data.get("attributes", {})), required=())
    changes = _custom_attribute_changes(
        tenant, "candidates", cand.custom_attributes, data, included
    )
    # validated: apply atomically
    tenant.update_candidate_attributes(
        cand, {k: v for k, v in attrs.items() if k in CANDIDATE_ATTRIBUTES}
    )
    _apply_custom(tenant, cand.custom_attributes, changes)
    render = Renderer(tenant, request)
    return json_response(render.document(render.candidate(cand)))


# ---- job seekers and applications ----------------------------------------------------------
def _notify(tenant: TenantState, attrs: dict[str, Any], kind: str, record_id: str) -> None:
    """post-applications: the applicant and users are notified unless skipped; job seekers
    have no such switch and notify nobody (an assumption)."""
    if kind == "applications" and attrs.get("skip_notifications_on_create") is not True:
        tenant.notifications.append({"record_type": kind, "record_id": record_id})


def _record_attributes(kind: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What a record keeps of a write: the attributes its reads return."""
    readable = RESOURCES[kind].readable
    return {
        k: v
        for k, v in attrs.items()
        if k in readable and k not in ("external_system_reference", "tags")
    }


def _sideposted_comments(data: dict[str, Any], included: list[Any]) -> list[str]:
    rel = (data.get("relationships") or {}).get("comments")
    if rel is None:
        return []
    bodies = []
    for n, item in enumerate(rel.get("data") or []):
        for inc in included:
            if (
                isinstance(inc, dict)
                and inc.get("type") == "comments"
                and inc.get("temp-id") == item.get("temp-id")
            ):
                body = (inc.get("attributes") or {}).get("body_text")
                if not isinstance(body, str) or not body.strip():
                    raise SimError(
                        422, "Body text can't be blank", f"/data/relationships/comments/data/{n}"
                    )
                bodies.append(body)
    return bodies


async def _create_record(
    request: web.Request, tenant: TenantState, kind: str, job_id: str | None
) -> web.Response:
    data, included = await read_data(request, kind)
    raw_attrs: dict[str, Any] = dict(data.get("attributes", {}))
    cand_id = relationship_id(data, "candidate", "candidates")
    if cand_id is not None and cand_id not in tenant.candidates:
        raise SimError(422, f"Candidate {cand_id} must exist", "/data/relationships/candidate")
    attrs = person_attributes(raw_attrs, required=() if cand_id is not None else REQUIRED_PERSON)
    changes = _custom_attribute_changes(tenant, kind, {}, data, included)
    comments = _sideposted_comments(data, included)
    person = {
        k: v
        for k, v in attrs.items()
        if k in CANDIDATE_ATTRIBUTES and k != "external_system_reference"
    }
    if cand_id is None:
        cand_id = tenant.create_candidate(
            {k: person.get(k) for k in CANDIDATE_ATTRIBUTES if k != "external_system_reference"}
        ).id
    record = Record(
        id=tenant.next_id(kind),
        kind=kind,
        candidate_id=cand_id,
        attributes=_record_attributes(kind, attrs),
        external_system_reference=attrs.get("external_system_reference"),
        job_id=job_id,
    )
    _apply_tags(record.tags, attrs)
    _apply_custom(tenant, record.custom_attributes, changes)
    tenant.add_record(record)
    for body in comments:
        tenant.add_comment(
            CommentRecord(tenant.next_id("comments"), body, COMMENTABLE_MODELS[kind], record.id)
        )
    _notify(tenant, attrs, kind, record.id)
    render = Renderer(tenant, request)
    return json_response(render.document(render.record(record)), status=201)


async def create_job_seeker(request: web.Request, tenant: TenantState) -> web.Response:
    """POST /job_seekers (a candidate comes into being unless `candidate` is related)."""
    return await _create_record(request, tenant, "job_seekers", None)


async def create_application(request: web.Request, tenant: TenantState) -> web.Response:
    """POST /applications (relationship `job` required, and the job must exist)."""
    raw = await request.read()
    try:
        body = json.loads(raw)
        job_id = relationship_id(body["data"], "job", "jobs")
    except (ValueError, KeyError, TypeError):
        job_id = None
    if job_id is None or job_id not in tenant.jobs:
        named = "" if job_id is None else f" {job_id}"
        raise SimError(422, f"Job{named} must exist", "/data/relationships/job")
    return await _create_record(request, tenant, "applications", job_id)


def _record_value(tenant: TenantState) -> Callable[[Any, str], Any]:
    def value_of(record: Record, name: str) -> Any:
        cand = tenant.candidates.get(record.candidate_id)
        person = cand.attributes if cand is not None else {}
        if name == "search":
            return [person.get(k) or record.attributes.get(k) for k in SEARCHED[record.kind]]
        if name in ("candidate_email", "candidate_phone"):
            return person.get(name.removeprefix("candidate_"))
        if name in (
            "id",
            "candidate_id",
            "job_id",
            "external_system_reference",
            "created_at",
            "updated_at",
        ):
            return getattr(record, name)
        return record.attributes.get(name)

    return value_of


def _record_pool(request: web.Request, tenant: TenantState, kind: str) -> Iterable[Record]:
    """The records a list can hold, narrowed through the state's indexes when the request
    filters by external reference or e-mail (the filters still decide)."""
    query = request.query
    if (refs := query.get("filter[external_system_reference]")) is not None:
        return {r.id: r for v in many_values(refs) for r in tenant.records_by_ref(kind, v)}.values()
    if (emails := query.get("filter[candidate_email]")) is not None:
        ids = tenant.records[kind]
        return {
            i: ids[i]
            for v in many_values(emails)
            for cand in tenant.candidates_by_email(v)
            for i in (cand.job_seeker_ids if kind == "job_seekers" else cand.application_ids)
            if i in ids
        }.values()
    return tenant.records[kind].values()


def _list_records(kind: str) -> Handler:
    async def handler(request: web.Request, tenant: TenantState) -> web.Response:
        records = filtered(
            request, kind, _record_pool(request, tenant, kind), _record_value(tenant)
        )
        page, meta = paginate(request, records)
        render = Renderer(tenant, request)
        return json_response({**render.document([render.record(r) for r in page]), "meta": meta})

    handler.__doc__ = f"GET /{kind} with the filters the reference documents for it."
    return handler


def _show_record(kind: str) -> Handler:
    async def handler(request: web.Request, tenant: TenantState) -> web.Response:
        record = _get_or_404(tenant.records[kind], request.match_info["id"])
        render = Renderer(tenant, request)
        return json_response(render.document(render.record(record)))

    handler.__doc__ = f"GET /{kind}/{{id}}."
    return handler


def _update_record(kind: str) -> Handler:
    async def handler(request: web.Request, tenant: TenantState) -> web.Response:
        record: Record = _get_or_404(tenant.records[kind], request.match_info["id"])
        data, included = await read_data(request, kind)
        attrs = person_attributes(dict(data.get("attributes", {})), required=())
        changes = _custom_attribute_changes(tenant, kind, record.custom_attributes, data, included)
        if "external_system_reference" in attrs:
            tenant.set_record_reference(record, attrs["external_system_reference"])
        record.attributes.update(_record_attributes(kind, attrs))
        _apply_tags(record.tags, attrs)
        _apply_custom(tenant, record.custom_attributes, changes)
        record.updated_at = now_iso()
        render = Renderer(tenant, request)
        return json_response(render.document(render.record(record)))

    handler.__doc__ = f"PUT /{kind}/{{id}}: its attributes, tags and custom attributes."
    return handler


def _destroy_record(kind: str) -> Handler:
    async def handler(request: web.Request, tenant: TenantState) -> web.Response:
        record: Record = _get_or_404(tenant.records[kind], request.match_info["id"])
        tenant.remove_record(record)
        return json_response({"meta": {}})

    handler.__doc__ = f"DELETE /{kind}/{{id}}."
    return handler


list_job_seekers = _list_records("job_seekers")
list_applications = _list_records("applications")
show_job_seeker = _show_record("job_seekers")
show_application = _show_record("applications")
update_job_seeker = _update_record("job_seekers")
update_application = _update_record("applications")
destroy_job_seeker = _destroy_record("job_seekers")
destroy_application = _destroy_record("applications")


# ---- comments -------------------------------------------------------------------------------
async def create_comment(request: web.Request, tenant: TenantState) -> web.Response:
    """POST /comments on an application, a job seeker or a candidate."""
    data, _ = await read_data(request, "comments")
    attrs = data.get("attributes", {})
    body = attrs.get("body_text")
    if not isinstance(body, str) or not body.strip():
        raise SimError(422, "Body text can't be blank", "/data/attributes/body_text")
    pointer = "/data/relationships/commentable"
    rel = ((data.get("relationships") or {}).get("commentable") or {}).get("data") or {}
    kind, target = str(rel.get("type")), str(rel.get("id"))
    if kind not in COMMENTABLE_MODELS or not tenant.commentable_exists(kind, target):
        raise SimError(422, "Commentable must exist", pointer)
    comment = CommentRecord(tenant.next_id("comments"), body, COMMENTABLE_MODELS[kind], target)
    tenant.add_comment(comment)
    render = Renderer(tenant, request)
    return json_response(render.document(render.comment(comment)), status=201)


def _comment_value(comment: CommentRecord, name: str) -> Any:
    return getattr(comment, name, None)


async def list_comments(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /comments (filter[commentable_id], filter[commentable_type] by model name)."""
    cid = request.query.get("filter[commentable_id]")
    model = request.query.get("filter[commentable_type]")
    pool: Iterable[CommentRecord] = (
        tenant.comments_on(model, cid)
        if cid is not None and model is not None
        else tenant.comments.values()
    )
    comments = filtered(request, "comments", pool, _comment_value)
    page, meta = paginate(request, comments)
    render = Renderer(tenant, request)
    return json_response({**render.document([render.comment(c) for c in page]), "meta": meta})


async def show_comment(request: web.Request, tenant: TenantState) -> web.Response:
    """GET /comments/{id}."""
    comment = _get_or_404(tenant.comments, request.match_info["id"])
    render = Renderer(tenant, request)
    return json_response(render.document(render.comment(comment)))


async def destroy_comment(request: web.Request, tenant: TenantState) -> web.Response:
    """DELETE /comments/{id}."""
    comment = _get_or_404(tenant.comments, request.match_info["id"])
    tenant.remove_comment(comment)
    return json_response({"meta": {}})


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
    ("PUT", "/job_seekers/{id}", update_job_seeker),
    ("DELETE", "/job_seekers/{id}", destroy_job_seeker),
    ("GET", "/applications", list_applications),
    ("POST", "/applications", create_application),
    ("GET", "/applications/{id}", show_application),
    ("PUT", "/applications/{id}", update_application),
    ("DELETE", "/applications/{id}", destroy_application),
    ("GET", "/comments", list_comments),
    ("POST", "/comments", create_comment),
    ("GET", "/comments/{id}", show_comment),
    ("DELETE", "/comments/{id}", destroy_comment),
)

__all__ = ["ROUTES", "Handler", "ref"]
