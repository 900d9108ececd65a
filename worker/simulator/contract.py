"""Judging one API request against Pinpoint's reference facts (`worker.core.pinpoint_reference`).

The simulator refuses what this finds (with the status Pinpoint would answer), and the contract
gate of the end-to-end tests records it as a violation of the client. Both therefore read their
rules from the same facts; the simulator's fidelity tests check its answers against the facts
directly, so a mistake here shows up there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worker.core import pinpoint_reference as ref

_PATH = re.compile(r"^/api/v1/(?P<type>[a-z_]+)(?:/(?P<id>[^/]+))?/?$")
_FILTER = re.compile(r"^filter\[(?P<name>[a-z_]+)\](?:\[(?P<op>[a-z_]+)\])?$")
_METHOD_OPERATION = {"POST": "create", "PUT": "update", "DELETE": "destroy"}
MALFORMED_QUERY = "Malformed query params"


@dataclass(frozen=True)
class Violation:
    """One way a request departs from the reference, and how Pinpoint would answer it."""

    status: int
    detail: str
    pointer: str | None = None
    parameter: str | None = None

    def as_json(self) -> dict[str, Any]:
        """A plain form for logs and test failure messages."""
        out: dict[str, Any] = {"status": self.status, "detail": self.detail}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        if self.parameter is not None:
            out["parameter"] = self.parameter
        return out


@dataclass(frozen=True)
class Target:
    """What a request addresses: the resource facts, the operation, and the record id if any."""

    facts: ref.ResourceFacts
    operation: str
    record_id: str | None


def target_of(method: str, path: str) -> Target | Violation:
    """The resource and operation of `METHOD /api/v1/...`, or why none exists (404)."""
    match = _PATH.match(path)
    facts = ref.RESOURCES.get(match["type"]) if match else None
    if match is None or facts is None:
        return Violation(404, f"no documented resource at {path}")
    record_id = match["id"]
    method = method.upper()
    if method == "GET":
        operation = "show" if record_id else "list"
    elif method in _METHOD_OPERATION and (method == "POST") == (record_id is None):
        operation = _METHOD_OPERATION[method]
    else:
        return Violation(404, f"{method} {path} is not an operation of the reference")
    if operation not in facts.operations:
        return Violation(404, f"{facts.type} have no {operation} operation")
    return Target(facts, operation, record_id)


def check_query(target: Target, query: Sequence[tuple[str, str]]) -> list[Violation]:
    """Filters, sorts, includes and paging parameters of a request (all 400 when wrong)."""
    facts = target.facts
    out: list[Violation] = []

    def bad(parameter: str, why: str) -> None:
        out.append(Violation(400, f"{MALFORMED_QUERY}: {why}", parameter=parameter))

    for name, value in query:
        filt = _FILTER.match(name)
        if name == "include":
            for path in (p.strip() for p in value.split(",")):
                if not ref.include_path_allowed(facts.type, path):
                    bad(name, f"{path!r} is not an include of {facts.type}")
        elif target.operation != "list" and (filt or name.startswith(("page[", "sort", "stats["))):
            bad(name, f"{name} is only for lists")
        elif filt:
            _check_filter(facts, filt["name"], filt["op"], value, name, bad)
        elif name == "sort":
            if not ref.sort_allowed(facts.type, value):
                bad(name, f"{value!r} is not sortable on {facts.type}")
        elif name in ("page[size]", "page[number]"):
            _check_page(name, value, bad)
        elif name.startswith("page["):
            bad(name, f"{name} is not a paging parameter")
        elif name.startswith("stats[") and (name != "stats[total]" or value != "count"):
            bad(name, "only stats[total]=count is documented")
        # fields[...], extra_fields[...] and other top-level parameters: see the assumptions.
    return out


def _check_filter(  # noqa: PLR0917 (the parts of one parsed filter parameter)
    facts: ref.ResourceFacts,
    name: str,
    op: str | None,
    value: str,
    parameter: str,
    bad: Any,
) -> None:
    filt = facts.filters.get(name)
    if filt is None:
        bad(parameter, f"filter {name} is not allowed on {facts.type}")
        return
    if (op or "eq") not in filt.operators:
        bad(parameter, f"operator {op} is not allowed on filter {name}")
        return
    if filt.values is not None:
        values = value.split(",") if filt.many else [value]
        for item in values:
            if item not in filt.values:
                bad(parameter, f"{item!r} is not a value of filter {name}")


def _check_page(name: str, value: str, bad: Any) -> None:
    try:
        number = int(value)
    except ValueError:
        bad(name, f"{name} must be an integer")
        return
    if name == "page[size]" and not 0 <= number <= ref.PAGE_SIZE_MAX:
        bad(name, f"page[size] must be between 0 and {ref.PAGE_SIZE_MAX}")
    if name == "page[number]" and number < 1:
        bad(name, "page[number] must be at least 1")


def check_body(target: Target, body: Any) -> list[Violation]:
    """The JSON:API document of a create or update: attributes, relationships, sideposts."""
    if target.operation not in ("create", "update"):
        return []
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
        return [Violation(400, "body must be a JSON:API document with a data object", "data")]
    data = body["data"]
    out: list[Violation] = []
    if data.get("type") != target.facts.type:
        out.append(Violation(400, f"data.type must be {target.facts.type}", "data/type"))
    if target.operation == "update" and str(data.get("id")) != target.record_id:
        out.append(Violation(400, "data.id must match the URL", "data/id"))
    included = body.get("included", [])
    if not isinstance(included, list):
        out.append(Violation(400, "included must be an array", "included"))
        included = []
    out += _check_resource(target.facts, target.operation, data, "data", included, None)
    return out


def _check_resource(  # noqa: PLR0917 (one pass over a resource object, in body order)
    facts: ref.ResourceFacts,
    operation: str,
    obj: Mapping[str, Any],
    pointer: str,
    included: list[Any],
    parent_type: str | None,
) -> list[Violation]:
    """`parent_type`: for a sideposted resource, the type it hangs from (its link to the parent
    is implied, so a required relationship to that type is not asked for)."""
    out: list[Violation] = []
    attributes = obj.get("attributes", {})
    if not isinstance(attributes, Mapping):
        return [Violation(400, "attributes must be an object", f"{pointer}/attributes")]
    writable = facts.writes(operation)
    for name in attributes:
        if name not in writable:
            why = "cannot be written" if name in facts.readable else "is an unknown attribute"
            out.append(
                Violation(400, f"{pointer}.attributes.{name} {why}", f"{pointer}/attributes/{name}")
            )
    out.extend(
        Violation(
            400,
            f"{pointer}.attributes.{name} cannot be written for this country",
            f"{pointer}/attributes/{name}",
        )
        for name in sorted(ref.address_attributes_refused(attributes))
    )
    if operation == "create":
        for name in sorted(facts.required_on_create):
            value = attributes.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                out.append(
                    Violation(
                        422, f"{_human(name)} can't be blank", f"/{pointer}/attributes/{name}"
                    )
                )
    relationships = obj.get("relationships", {})
    if not isinstance(relationships, Mapping):
        return [*out, Violation(400, "relationships must be an object", f"{pointer}/relationships")]
    allowed = facts.relationships_for(operation)
    for name, rel in relationships.items():
        rel_pointer = f"{pointer}/relationships/{name}"
        rel_facts = allowed.get(name)
        if rel_facts is None:
            out.append(
                Violation(
                    400, f"{pointer}.relationships.{name} is not a valid relationship", rel_pointer
                )
            )
            continue
        out += _check_relationship(rel_facts, rel, rel_pointer, included, facts.type)
    if operation == "create":
        for name, rel_facts in sorted(allowed.items()):
            implied = parent_type is not None and parent_type in rel_facts.types
            if rel_facts.required and name not in relationships and not implied:
                out.append(
                    Violation(422, f"{_human(name)} must exist", f"/{pointer}/relationships/{name}")
                )
    return out


def _check_relationship(  # noqa: PLR0911 (one answer per way linkage can be wrong)
    facts: ref.RelationshipFacts, rel: Any, pointer: str, included: list[Any], parent: str
) -> list[Violation]:
    if not isinstance(rel, Mapping) or "data" not in rel:
        return [Violation(400, "a relationship must hold data", pointer)]
    data = rel["data"]
    if not facts.sidepost_methods:
        if data is None:
            return []
        if not isinstance(data, Mapping) or "id" not in data:
            return [Violation(400, "linkage must be a resource identifier", f"{pointer}/data")]
        if data.get("type") not in facts.types:
            return [
                Violation(
                    400, f"type {data.get('type')!r} is not allowed here", f"{pointer}/data/type"
                )
            ]
        return []
    if not isinstance(data, list):
        return [Violation(400, "sideposted linkage must be an array", f"{pointer}/data")]
    out: list[Violation] = []
    for n, item in enumerate(data):
        out += _check_sidepost(facts, item, f"{pointer}/data/{n}", included, parent)
    return out


def _check_sidepost(  # noqa: PLR0911 (one answer per way a sidepost can be wrong)
    facts: ref.RelationshipFacts, item: Any, pointer: str, included: list[Any], parent: str
) -> list[Violation]:
    if not isinstance(item, Mapping):
        return [Violation(400, "sidepost entry must be an object", pointer)]
    kind, method = item.get("type"), item.get("method")
    if kind not in facts.types:
        return [Violation(400, f"type {kind!r} is not allowed here", f"{pointer}/type")]
    if method not in facts.sidepost_methods:
        return [Violation(400, f"method {method!r} is not allowed here", f"{pointer}/method")]
    key = "temp-id" if method == "create" else "id"
    if item.get(key) in (None, ""):
        return [Violation(400, f"a {method} sidepost needs {key}", pointer)]
    if method == "destroy":
        return []
    for pos, inc in enumerate(included):
        if isinstance(inc, Mapping) and inc.get("type") == kind and inc.get(key) == item.get(key):
            related = ref.RESOURCES.get(str(kind))
            if related is None:  # a resource the facts do not model (answers, skills ...)
                return []
            return _check_resource(related, str(method), inc, f"included/{pos}", included, parent)
    return [Violation(400, f"no included {kind} with {key} {item.get(key)!r}", pointer)]


def check_request(
    method: str, path: str, query: Sequence[tuple[str, str]], body: Any
) -> list[Violation]:
    """Everything wrong with one request, in the order Pinpoint would notice it."""
    target = target_of(method, path)
    if isinstance(target, Violation):
        return [target]
    return check_query(target, query) + check_body(target, body)


def _human(name: str) -> str:
    return name.replace("_", " ").capitalize()
