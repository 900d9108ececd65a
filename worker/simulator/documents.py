"""JSON:API documents the simulator answers with: resources, errors, pagination."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web

from worker.core.pinpoint_reference import PAGE_SIZE_DEFAULT
from worker.simulator.state import Candidate, CommentRecord, Record, TenantState

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


def includes(request: web.Request) -> set[str]:
    """The relationship names in `include=`."""
    raw = request.query.get("include", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def ref(kind: str, ident: str) -> dict[str, str]:
    """A resource identifier object."""
    return {"type": kind, "id": ident}


def candidate_resource(cand: Candidate) -> dict[str, Any]:
    """A candidate as a JSON:API resource object."""
    attrs: dict[str, Any] = dict(cand.attributes)
    attrs["created_at"] = cand.created_at
    attrs["updated_at"] = cand.updated_at
    return {
        "type": "candidates",
        "id": cand.id,
        "attributes": attrs,
        "relationships": {
            "job_seekers": {"data": [ref("job_seekers", i) for i in cand.job_seeker_ids]},
            "applications": {"data": [ref("applications", i) for i in cand.application_ids]},
            "custom_attributes": {
                "data": [ref("custom_attributes", i) for i in cand.custom_attributes]
            },
        },
    }


def custom_attribute_resources(tenant: TenantState, cand: Candidate) -> list[dict[str, Any]]:
    """The candidate's custom attributes as included resources."""
    out = []
    for ca_id, (cf_id, value) in cand.custom_attributes.items():
        cf = tenant.custom_fields.get(cf_id)
        field_type = cf.field_type if cf is not None else "varchar"
        out.append(
            {
                "type": "custom_attributes",
                "id": ca_id,
                "attributes": {f"{field_type}_value": value, "field_type": field_type},
                "relationships": {"custom_field": {"data": ref("custom_fields", cf_id)}},
            }
        )
    return out


def record_resource(record: Record) -> dict[str, Any]:
    """A job seeker or application as a JSON:API resource object."""
    attrs: dict[str, Any] = dict(record.attributes)
    attrs["external_system_reference"] = record.external_system_reference
    attrs["created_at"] = record.created_at
    rels: dict[str, Any] = {"candidate": {"data": ref("candidates", record.candidate_id)}}
    if record.job_id is not None:
        rels["job"] = {"data": ref("jobs", record.job_id)}
    return {"type": record.kind, "id": record.id, "attributes": attrs, "relationships": rels}


def comment_resource(comment: CommentRecord) -> dict[str, Any]:
    """A comment as a JSON:API resource object."""
    return {
        "type": "comments",
        "id": comment.id,
        "attributes": {"body_text": comment.body_text, "created_at": comment.created_at},
        "relationships": {
            "commentable": {"data": ref(comment.commentable_type, comment.commentable_id)}
        },
    }
