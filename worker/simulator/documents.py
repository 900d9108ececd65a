"""JSON:API documents the simulator answers with: resources, errors, pagination."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web

from worker.core.pinpoint_reference import APPLICATIONS, JOB_SEEKERS, PAGE_SIZE_DEFAULT
from worker.simulator.specs import CustomFieldSpec
from worker.simulator.state import COMMENTABLE_MODELS, Candidate, CommentRecord, Record, TenantState

JSONAPI = "application/vnd.api+json"

T = TypeVar("T")

_TITLES = {
    400: ("bad_request", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not Found"),
    405: ("method_not_allowed", "Method Not Allowed"),
    422: ("unprocessable_entity", "Validation Error"),
    429: ("too_many_requests", "Too Many Requests"),
    500: ("internal_server_error", "Internal Server Error"),
    502: ("bad_gateway", "Bad Gateway"),
    503: ("service_unavailable", "Service Unavailable"),
    504: ("gateway_timeout", "Gateway Timeout"),
}


class SimError(Exception):
    """Raised by a handler to answer a JSON:API error document."""

    def __init__(self, status: int, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.pointer = pointer


def json_response(
    body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON:API response."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type=JSONAPI,
        headers=headers,
    )


def error_response(
    status: int,
    detail: str,
    pointer: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An error document in the assumed shape (docs/pinpoint-api.md, assumption 1)."""
    code, title = _TITLES.get(status, ("error", "Error"))
    err: dict[str, Any] = {"status": str(status), "code": code, "title": title, "detail": detail}
    if pointer is not None:
        err["source"] = {"pointer": pointer}
    return json_response({"errors": [err]}, status=status, headers=headers)


def paginate(request: web.Request, items: Sequence[T]) -> tuple[Sequence[T], dict[str, Any]]:
    """One page of `items` per `page[number]`/`page[size]`, and the list's meta.

    No top-level `links` (the `*_collection` schemas allow only data, included and meta);
    `stats[total]=count` answers `meta.stats.total.count`. Sizes over the maximum were already
    refused by the contract checks.
    """
    query = request.query
    try:
        number = int(query.get("page[number]", "1"))
        size = int(query.get("page[size]", str(PAGE_SIZE_DEFAULT)))
    except ValueError as exc:
        raise SimError(400, "Malformed query params") from exc
    total = len(items)
    page = items[(number - 1) * size : number * size]
    meta: dict[str, Any] = {}
    if query.get("stats[total]") == "count":
        meta["stats"] = {"total": {"count": total}}
    return page, meta


IncludeTree = dict[str, "IncludeTree"]

_SELECT_TYPES = frozenset({"single_select", "multi_select"})
_TYPE_OF_MODEL = {model: kind for kind, model in COMMENTABLE_MODELS.items()}
_RECORD_READABLE = {"job_seekers": JOB_SEEKERS.readable, "applications": APPLICATIONS.readable}


def include_tree(request: web.Request) -> IncludeTree:
    """`include=a.b,c` as a tree ({"a": {"b": {}}, "c": {}}); the paths were already checked
    against the reference's include lists."""
    tree: IncludeTree = {}
    for path in request.query.get("include", "").split(","):
        node = tree
        for part in (p.strip() for p in path.split(".")):
            if part:
                node = node.setdefault(part, {})
    return tree


def extra_fields(request: web.Request, kind: str) -> set[str]:
    """The attributes `extra_fields[kind]=...` asks for (tags are read only that way)."""
    raw = request.query.get(f"extra_fields[{kind}]", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def ref(kind: str, ident: str) -> dict[str, str]:
    """A resource identifier object."""
    return {"type": kind, "id": ident}


class Renderer:
    """Builds resource objects for one answer: a relationship carries linkage only when the
    request included it (`include=`, dot paths for nested ones), and every included resource
    lands once in `included`; any other relationship reads `{"meta": {"included": false}}`."""

    def __init__(self, tenant: TenantState, request: web.Request) -> None:
        self.tenant = tenant
        self.tree = include_tree(request)
        self.request = request
        self.included: dict[tuple[str, str], dict[str, Any]] = {}

    def document(self, data: Any) -> dict[str, Any]:
        """`{"data": ..., "included": [...]}` (no `included` when nothing was included)."""
        doc: dict[str, Any] = {"data": data}
        if self.included:
            doc["included"] = list(self.included.values())
        return doc

    # ---- one resource per kind -------------------------------------------------------------
    def candidate(self, cand: Candidate, tree: IncludeTree | None = None) -> dict[str, Any]:
        """A candidate as a JSON:API resource object."""
        tree = self.tree if tree is None else tree
        attrs: dict[str, Any] = dict(cand.attributes)
        attrs["full_name"] = _full_name(cand.attributes)
        attrs["created_at"] = cand.created_at
        attrs["updated_at"] = cand.updated_at
        if "tags" in extra_fields(self.request, "candidates"):
            attrs["tags"] = list(cand.tags)
        rels = {
            "job_seekers": self._many(
                tree,
                "job_seekers",
                [self.tenant.records["job_seekers"][i] for i in cand.job_seeker_ids],
                self.record,
            ),
            "applications": self._many(
                tree,
                "applications",
                [self.tenant.records["applications"][i] for i in cand.application_ids],
                self.record,
            ),
            "custom_attributes": self._custom_attributes(tree, cand.custom_attributes),
        }
        return {"type": "candidates", "id": cand.id, "attributes": attrs, "relationships": rels}

    def record(self, record: Record, tree: IncludeTree | None = None) -> dict[str, Any]:
        """A job seeker or application: `candidate_id` (and `job_id`) are attributes."""
        tree = self.tree if tree is None else tree
        readable = _RECORD_READABLE[record.kind]
        attrs: dict[str, Any] = {k: v for k, v in record.attributes.items() if k in readable}
        attrs["candidate_id"] = _int_id(record.candidate_id)
        attrs["external_system_reference"] = record.external_system_reference
        attrs["full_name"] = _full_name(record.attributes)
        attrs["created_at"] = record.created_at
        attrs["updated_at"] = record.updated_at
        if record.kind == "applications":
            attrs["job_id"] = _int_id(record.job_id)
        if "tags" in extra_fields(self.request, record.kind):
            attrs["tags"] = list(record.tags)
        cand = self.tenant.candidates.get(record.candidate_id)
        rels: dict[str, Any] = {
            "candidate": self._one(tree, "candidate", cand, self.candidate),
            "comments": self._many(
                tree,
                "comments",
                self.tenant.comments_on(COMMENTABLE_MODELS[record.kind], record.id),
                self.comment,
            ),
            "custom_attributes": self._custom_attributes(tree, record.custom_attributes),
        }
        if record.kind == "applications":
            job = (
                None
                if record.job_id is None
                else (record.job_id, self.tenant.jobs.get(record.job_id))
            )
            rels["job"] = self._one(tree, "job", job, self.job)
        return {"type": record.kind, "id": record.id, "attributes": attrs, "relationships": rels}

    def comment(self, comment: CommentRecord, tree: IncludeTree | None = None) -> dict[str, Any]:
        """A comment: what it is on reads as `commentable_id` and the model name in
        `commentable_type`."""
        tree = self.tree if tree is None else tree
        attrs = {
            "body_text": comment.body_text,
            "commentable_id": _int_id(comment.commentable_id),
            "commentable_type": comment.commentable_type,
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
        }
        kind = _TYPE_OF_MODEL.get(comment.commentable_type)
        target: Any = None
        if kind == "candidates":
            target = self.tenant.candidates.get(comment.commentable_id)
        elif kind is not None:
            target = self.tenant.records[kind].get(comment.commentable_id)
        render = self.candidate if kind == "candidates" else self.record
        rels = {"commentable": self._one(tree, "commentable", target, render)}
        return {"type": "comments", "id": comment.id, "attributes": attrs, "relationships": rels}

    def job(self, job: tuple[str, Any], _tree: IncludeTree | None = None) -> dict[str, Any]:
        """A job (id, JobSpec)."""
        job_id, spec = job
        return {
            "type": "jobs",
            "id": job_id,
            "attributes": {"title": spec.title, "status": spec.status},
        }

    def custom_field(self, cf: CustomFieldSpec, _tree: IncludeTree | None = None) -> dict[str, Any]:
        """A custom field definition."""
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

    def custom_attribute(
        self, item: tuple[str, str, Any], tree: IncludeTree | None = None
    ) -> dict[str, Any]:
        """A custom attribute as read: `value`, `field_name`, `option_value`, `option_label`
        (never the writeOnly `<type>_value`, never `field_type`)."""
        tree = self.tree if tree is None else tree
        ca_id, cf_id, value = item
        cf = self.tenant.custom_fields.get(cf_id)
        select = cf is not None and cf.field_type in _SELECT_TYPES
        attrs = {
            "value": value,
            "field_name": cf.name if cf is not None else None,
            "option_value": value if select else None,
            "option_label": value if select else None,
        }
        rels = {"custom_field": self._one(tree, "custom_field", cf, self.custom_field)}
        return {
            "type": "custom_attributes",
            "id": ca_id,
            "attributes": attrs,
            "relationships": rels,
        }

    # ---- linkage ---------------------------------------------------------------------------
    def _custom_attributes(
        self, tree: IncludeTree, held: Mapping[str, tuple[str, Any]]
    ) -> dict[str, Any]:
        items = [(ca_id, cf_id, value) for ca_id, (cf_id, value) in held.items()]
        return self._many(tree, "custom_attributes", items, self.custom_attribute)

    def _one(self, tree: IncludeTree, name: str, obj: Any, render: Any) -> dict[str, Any]:
        if name not in tree:
            return {"meta": {"included": False}}
        if obj is None or (isinstance(obj, tuple) and obj[-1] is None):
            return {"data": None}
        resource = render(obj, tree[name])
        self._add(resource)
        return {"data": ref(resource["type"], resource["id"])}

    def _many(
        self, tree: IncludeTree, name: str, objs: Iterable[Any], render: Any
    ) -> dict[str, Any]:
        if name not in tree:
            return {"meta": {"included": False}}
        data = []
        for obj in objs:
            resource = render(obj, tree[name])
            self._add(resource)
            data.append(ref(resource["type"], resource["id"]))
        return {"data": data}

    def _add(self, resource: dict[str, Any]) -> None:
        self.included.setdefault((resource["type"], resource["id"]), resource)


def _full_name(attributes: Mapping[str, Any]) -> str | None:
    parts = [str(attributes[k]) for k in ("first_name", "last_name") if attributes.get(k)]
    return " ".join(parts) or None


def _int_id(ident: str | None) -> int | str | None:
    """Ids of other records read as integers in Pinpoint's examples."""
    if ident is None:
        return None
    return int(ident) if ident.isdigit() else ident
