"""Encoding requests to and decoding responses from Pinpoint's JSON:API documents."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from worker.pinpoint.models import (
    RECORD_KIND_OF_COMMENTABLE,
    Comment,
    CreatedRecord,
    CustomField,
    PinpointCandidate,
    RecordKind,
    RecordRef,
)

Resource = dict[str, Any]
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")


class MalformedDocumentError(ValueError):
    """A response body that is not the JSON:API document expected."""


def mask_personal(text: str) -> str:
    """Mask e-mail addresses and phone numbers in free text (error details, log fields)."""
    return _PHONE.sub("***", _EMAIL.sub(r"\1***@\2", text))


def mask_email(email: str) -> str:
    """``jane.doe@example.com`` → ``j***@example.com``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def error_detail(doc: Any) -> tuple[str | None, str | None]:
    """(detail, pointer) of the first JSON:API error, masked; (None, None) when absent."""
    if not isinstance(doc, Mapping):
        return None, None
    errors = doc.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], Mapping):
        return None, None
    first = errors[0]
    detail = first.get("detail") or first.get("title")
    source = first.get("source")
    pointer = source.get("pointer") if isinstance(source, Mapping) else None
    return (
        mask_personal(str(detail)) if detail is not None else None,
        str(pointer) if pointer is not None else None,
    )


def data_list(doc: Mapping[str, Any]) -> list[Resource]:
    """The resources of a list document."""
    data = doc.get("data")
    if not isinstance(data, list):
        raise MalformedDocumentError("expected a list document")
    return [r for r in data if isinstance(r, dict)]


def data_one(doc: Mapping[str, Any]) -> Resource:
    """The resource of a single-resource document."""
    data = doc.get("data")
    if not isinstance(data, dict):
        raise MalformedDocumentError("expected a single-resource document")
    return data


def many_filter_value(value: str) -> str:
    """One value of a comma-joined (many) filter: a value holding a comma is wrapped as
    ``{{value}}`` so that it stays one value."""
    return f"{{{{{value}}}}}" if "," in value else value


def total_count(doc: Mapping[str, Any]) -> int | None:
    """``meta.stats.total.count`` of a list asked with ``stats[total]=count``, if given."""
    try:
        count = doc["meta"]["stats"]["total"]["count"]
    except (KeyError, TypeError):
        return None
    return int(count) if isinstance(count, int | str) and str(count).isdigit() else None


def index_included(doc: Mapping[str, Any]) -> dict[tuple[str, str], Resource]:
    """Included resources by (type, id)."""
    out: dict[tuple[str, str], Resource] = {}
    for res in doc.get("included") or []:
        if isinstance(res, dict) and "type" in res and "id" in res:
            out[(str(res["type"]), str(res["id"]))] = res
    return out


def _rel_ids(resource: Resource, name: str) -> list[str]:
    rel = (resource.get("relationships") or {}).get(name) or {}
    data = rel.get("data")
    if isinstance(data, list):
        return [str(d["id"]) for d in data if isinstance(d, dict) and "id" in d]
    if isinstance(data, dict) and "id" in data:
        return [str(data["id"])]
    return []


def _rel_ref(resource: Resource, name: str) -> tuple[str, str] | None:
    rel = (resource.get("relationships") or {}).get(name) or {}
    data = rel.get("data")
    if isinstance(data, dict) and "type" in data and "id" in data:
        return str(data["type"]), str(data["id"])
    return None


def value_text(value: Any) -> str | None:
    """A custom attribute value as text (booleans as true/false, lists comma-joined)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _custom_value(resource: Resource) -> str | None:
    """A custom attribute's current value: Pinpoint reads it back as ``option_value`` (selects)
    or ``value``, never as the writeOnly ``<type>_value`` it was written with."""
    attrs = resource.get("attributes") or {}
    for key in ("option_value", "option_label", "value"):
        text = value_text(attrs.get(key))
        if text is not None and text.strip():
            return text
    return None


def _attribute_id(resource: Resource, name: str) -> str | None:
    value = (resource.get("attributes") or {}).get(name)
    return None if value is None or value == "" else str(value)


def _attribute_text(attrs: Mapping[str, Any]) -> dict[str, str | None]:
    return {
        str(k): value_text(v)
        for k, v in attrs.items()
        if k not in ("created_at", "updated_at") and not isinstance(v, Mapping)
    }


def custom_values(
    resource: Resource,
    included: Mapping[tuple[str, str], Resource],
    field_ids_by_name: Mapping[str, str] | None = None,
) -> dict[str, tuple[str, str | None]]:
    """Custom field id -> (custom attribute id, value) of a resource read with
    ``include=custom_attributes.custom_field``.

    The field comes from the included ``custom_field`` linkage; an attribute without it is
    matched on its ``field_name`` when the definitions' names are given."""
    custom: dict[str, tuple[str, str | None]] = {}
    for ca_id in _rel_ids(resource, "custom_attributes"):
        ca = included.get(("custom_attributes", ca_id))
        if ca is None:
            continue
        cf = _rel_ref(ca, "custom_field")
        cf_id = cf[1] if cf is not None else None
        if cf_id is None and field_ids_by_name:
            cf_id = field_ids_by_name.get(str((ca.get("attributes") or {}).get("field_name")))
        if cf_id is not None:
            custom[cf_id] = (ca_id, _custom_value(ca))
    return custom


def candidate_from(
    resource: Resource,
    included: Mapping[tuple[str, str], Resource],
    field_ids_by_name: Mapping[str, str] | None = None,
) -> PinpointCandidate:
    """A candidate (or a record) resource, with its included custom attributes and job
    seekers, as a PinpointCandidate."""
    return PinpointCandidate(
        id=str(resource["id"]),
        attributes=_attribute_text(resource.get("attributes") or {}),
        custom_attributes=custom_values(resource, included, field_ids_by_name),
        job_seeker_ids=[
            js for js in _rel_ids(resource, "job_seekers") if ("job_seekers", js) in included
        ],
    )


def created_record_from(resource: Resource, kind: RecordKind) -> CreatedRecord:
    """A job seeker or application resource as a CreatedRecord: the person is its
    ``candidate_id`` attribute (the relationship's linkage is only there when included)."""
    candidate_id = _attribute_id(resource, "candidate_id")
    if candidate_id is None:
        raise MalformedDocumentError(f"{kind} resource without a candidate_id attribute")
    return CreatedRecord(ref=RecordRef(kind, str(resource["id"])), candidate_id=candidate_id)


def comment_from(resource: Resource) -> Comment:
    """A comment resource as a Comment; what it is on comes from its ``commentable_id`` and
    ``commentable_type`` attributes (model names), None when absent or not a record kind."""
    attrs = resource.get("attributes") or {}
    target_id = _attribute_id(resource, "commentable_id")
    kind = RECORD_KIND_OF_COMMENTABLE.get(str(attrs.get("commentable_type")))
    return Comment(
        id=str(resource["id"]),
        body_text=str(attrs.get("body_text") or ""),
        commentable=RecordRef(kind, target_id) if kind is not None and target_id else None,
    )


def custom_field_from(resource: Resource) -> CustomField:
    """A custom field resource as a CustomField."""
    attrs = resource.get("attributes") or {}
    return CustomField(
        id=str(resource["id"]),
        name=str(attrs.get("name") or ""),
        field_type=str(attrs.get("field_type") or "varchar"),
        resource_type=str(attrs.get("resource_type") or "candidate"),
    )


def custom_value_for(field_type: str, value: str) -> Any:
    """A text value converted for a custom field's ``<type>_value`` attribute."""
    text = value.strip()
    if field_type in ("varchar", "text", "single_select"):
        return value
    if not text:
        return None
    if field_type == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    if field_type == "boolean":
        return text.lower() in ("true", "1", "yes", "y", "on")
    if field_type == "multi_select":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def custom_attributes_payload(
    changes: Iterable[tuple[str, str | None, str, Any]],
) -> tuple[list[Resource], list[Resource]]:
    """Side-posted custom attributes for a parent's PUT: (relationship data, included) for
    ``(custom field id, existing custom attribute id or None, field type, value)`` items.

    A new value is ``method: create`` with a ``temp-id`` and names its custom field; an
    existing one is ``method: update`` by its id (Pinpoint's put-candidate page)."""
    rel_data: list[Resource] = []
    included: list[Resource] = []
    for n, (cf_id, ca_id, field_type, value) in enumerate(changes, start=1):
        item: Resource = {"type": "custom_attributes"}
        if ca_id is None:
            temp = f"t{n}"
            rel_data.append({"type": "custom_attributes", "temp-id": temp, "method": "create"})
            item["temp-id"] = temp
            item["attributes"] = {f"{field_type}_value": value}
            item["relationships"] = {
                "custom_field": {"data": {"type": "custom_fields", "id": cf_id}}
            }
        else:
            rel_data.append({"type": "custom_attributes", "id": ca_id, "method": "update"})
            item["id"] = ca_id
            item["attributes"] = {f"{field_type}_value": value}
        included.append(item)
    return rel_data, included
