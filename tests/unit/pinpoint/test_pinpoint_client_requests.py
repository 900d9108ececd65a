"""The client's request shapes: only filters, includes, paging and attributes Pinpoint's
reference documents, and answers read the way the reference says they come back.

A small in-process HTTP server plays canned answers and records every request, so each test
states exactly which requests the client sends (the simulator's own tests and the integration
tests check the same requests against the simulator's contract gate)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from worker.core.pinpoint_reference import (
    PAGE_SIZE_MAX,
    RESOURCES,
    include_path_allowed,
    sort_allowed,
)
from worker.pinpoint import PinpointClient, RateLimitConfig, RetryPolicy, TenantCredentials
from worker.pinpoint.errors import AuthError, InvalidRequestError, NotFoundError, TransientError
from worker.pinpoint.models import RecordKind, RecordRef

pytestmark = pytest.mark.unit

TENANT = TenantCredentials("acme", "key-123")
Answer = Callable[[dict[str, str], Any], tuple[int, Any]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Canned:
    """Answers by (method, path); every request kept in order."""

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Answer) -> None:
        self.answers[(method, "/api/v1" + path)] = answer

    def paths(self) -> list[str]:
        return [f"{s.method} {s.path.removeprefix('/tenants/acme/api/v1')}" for s in self.seen]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        path = request.path.removeprefix("/tenants/acme")
        self.seen.append(Seen(request.method, request.path, dict(request.query), body))
        self.violations.extend(violations(request.method, path, dict(request.query), body))
        answer = self.answers.get((request.method, path))
        if answer is None:
            return web.json_response({"errors": [{"status": "404", "detail": "no route"}]},
                                     status=404)
        status, doc = answer(dict(request.query), body)
        return web.json_response(doc, status=status, content_type="application/vnd.api+json")


def violations(method: str, path: str, query: dict[str, str], body: Any) -> list[str]:
    """What in a request the reference does not document for its operation."""
    parts = path.removeprefix("/api/v1/").split("/")
    facts = RESOURCES[parts[0]]
    where = f"{method} {path}"
    out = []
    for name, value in query.items():
        if name.startswith("filter["):
            filter_name = name[len("filter["):-1]
            known = facts.filters.get(filter_name)
            if known is None:
                out.append(f"{where}: undeclared {name}")
            elif known.values is not None and value not in known.values:
                out.append(f"{where}: {name}={value} is outside its enum")
        elif name == "sort" and not sort_allowed(parts[0], value):
            out.append(f"{where}: sort {value}")
        elif name == "include":
            out.extend(f"{where}: include {inc}" for inc in value.split(",")
                       if not include_path_allowed(parts[0], inc))
        elif name == "page[size]" and int(value) > PAGE_SIZE_MAX:
            out.append(f"{where}: page size {value}")
        elif name not in ("page[number]", "page[size]", "stats[total]", "sort", "include"):
            out.append(f"{where}: parameter {name}")
    if method in ("POST", "PUT"):
        operation = "create" if method == "POST" else "update"
        data = body["data"]
        extra = set(data.get("attributes", {})) - facts.writes(operation)
        out.extend(f"{where}: attribute {name}" for name in sorted(extra))
        rels = set(data.get("relationships", {})) - set(facts.relationships_for(operation))
        out.extend(f"{where}: relationship {name}" for name in sorted(rels))
    return out


@pytest.fixture
async def canned() -> AsyncIterator[tuple[Canned, PinpointClient]]:
    """A canned server and a client pointed at it (no retries beyond two quick ones)."""
    state = Canned()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with PinpointClient(
        f"http://127.0.0.1:{port}/tenants/{{subdomain}}",
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, deadline=5.0),
        rate_limit=RateLimitConfig(enabled=False),
    ) as client:
        yield state, client
    await runner.cleanup()
    assert state.violations == []


def listing(*resources: dict[str, Any], total: int | None = None) -> tuple[int, Any]:
    doc: dict[str, Any] = {"data": list(resources), "meta": {}}
    if total is not None:
        doc["meta"] = {"stats": {"total": {"count": total}}}
    return 200, doc


def one(resource: dict[str, Any], *included: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"data": resource, "included": list(included), "meta": {}}


def record(type_: str, id_: str, **attributes: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, "attributes": attributes,
            "relationships": {"candidate": {"meta": {"included": False}}}}


def error(status: int, detail: str) -> tuple[int, Any]:
    return status, {"errors": [{"status": str(status), "code": "x", "title": "x",
                                "detail": detail}]}


async def test_people_are_found_by_e_mail_through_applications_and_job_seekers(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """E-mail lookups use applications' candidate_email filter and job seekers' search (hits
    kept only on an exact e-mail), never an e-mail filter on candidates."""
    state, client = canned
    state.on("GET", "/applications", lambda q, b: listing(
        record("applications", "a1", candidate_id=12, email="Ada@Example.com")))
    state.on("GET", "/job_seekers", lambda q, b: listing(
        record("job_seekers", "j1", candidate_id=7, email="ada@example.com"),
        record("job_seekers", "j2", candidate_id=8, email="ada@example.com.au"),
        record("job_seekers", "j3", candidate_id=12, email="ADA@example.com")))
    assert await client.find_people_by_email(TENANT, " ada@example.com ") == ["7", "12"]
    assert state.paths() == ["GET /applications", "GET /job_seekers"]
    apps, seekers = state.seen
    assert apps.query == {"filter[candidate_email]": "ada@example.com", "sort": "id",
                          "page[number]": "1", "page[size]": str(PAGE_SIZE_MAX)}
    assert seekers.query["filter[search]"] == "ada@example.com"
    assert not any("candidates" in s.path for s in state.seen)


async def test_a_record_is_found_by_external_reference_in_either_kind(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """The preferred kind is looked at first, then the other; the kind found is returned and
    the person read from the candidate_id attribute (no linkage was included)."""
    state, client = canned
    state.on("GET", "/applications", lambda q, b: listing())
    state.on("GET", "/job_seekers", lambda q, b: listing(
        record("job_seekers", "31", candidate_id=5, external_system_reference="sw:t:c,1")))
    found = await client.find_record_by_external_reference(
        TENANT, "sw:t:c,1", prefer=RecordKind.APPLICATIONS)
    assert found is not None
    assert (found.ref, found.candidate_id) == (RecordRef(RecordKind.JOB_SEEKERS, "31"), "5")
    assert state.paths() == ["GET /applications", "GET /job_seekers"]
    assert state.seen[0].query["filter[external_system_reference]"] == "{{sw:t:c,1}}"


async def test_creates_write_only_what_each_resource_takes(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """A job seeker POST carries no linkedin_url nor skip_notifications_on_create; an
    application POST carries both and its job; both carry source attribution."""
    state, client = canned
    state.on("POST", "/job_seekers", lambda q, b: (201, {"data": record(
        "job_seekers", "1", candidate_id=9)}))
    state.on("POST", "/applications", lambda q, b: (201, {"data": record(
        "applications", "2", candidate_id=9)}))
    fields = {"first_name": "Ada", "last_name": "L", "email": "a@x.io", "town": "London",
              "linkedin_url": "https://linkedin.com/in/ada", "city": "London"}
    made = await client.create_job_seeker(TENANT, fields, "ref-1")
    assert (made.ref.id, made.candidate_id) == ("1", "9")
    await client.create_application(TENANT, "44", fields, "ref-1", candidate_id="9")
    seeker, application = (s.body["data"] for s in state.seen)
    assert seeker["attributes"] == {
        "first_name": "Ada", "last_name": "L", "email": "a@x.io", "town": "London",
        "external_system_reference": "ref-1", "channel": "sourced",
        "channel_source": "SourceWhale", "pipeline_source": "SourceWhale"}
    assert "relationships" not in seeker
    assert application["attributes"]["skip_notifications_on_create"] is True
    assert application["attributes"]["linkedin_url"] == "https://linkedin.com/in/ada"
    assert "pipeline_source" not in application["attributes"]
    assert "city" not in application["attributes"]
    assert application["relationships"] == {
        "job": {"data": {"type": "jobs", "id": "44"}},
        "candidate": {"data": {"type": "candidates", "id": "9"}}}


def _comments(first: int, count: int, record_id: str = "31") -> list[dict[str, Any]]:
    return [{"type": "comments", "id": str(n),
             "attributes": {"body_text": f"note {n}\n\nSourceWhale ref: sw-{n:012d}",
                            "commentable_id": int(record_id), "commentable_type": "JobSeeker"}}
            for n in range(first, first + count)]


async def test_a_note_is_found_by_its_marker_past_the_first_page(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """Notes are listed by model-name type, by id, 1000 a page until a short page (no links),
    with the total asked; a marker on the second page is found."""
    state, client = canned
    pages = {"1": _comments(1, PAGE_SIZE_MAX), "2": _comments(PAGE_SIZE_MAX + 1, 5)}
    state.on("GET", "/comments", lambda q, b: listing(
        *pages[q["page[number]"]], total=PAGE_SIZE_MAX + 5))
    ref = RecordRef(RecordKind.JOB_SEEKERS, "31")
    marker = f"sw-{PAGE_SIZE_MAX + 3:012d}"
    found = await client.find_comment(TENANT, ref, marker)
    assert found is not None
    assert (found.id, found.commentable) == (str(PAGE_SIZE_MAX + 3), ref)
    first = state.seen[0].query
    assert first == {"filter[commentable_id]": "31", "filter[commentable_type]": "JobSeeker",
                     "sort": "id", "page[number]": "1", "page[size]": str(PAGE_SIZE_MAX),
                     "stats[total]": "count"}
    assert [s.query["page[number]"] for s in state.seen] == ["1", "2"]
    assert await client.find_comment(TENANT, ref, "sw-nothere") is None


async def test_a_listing_short_of_its_total_never_passes_for_not_written(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """Pages holding fewer notes than Pinpoint's total fail transiently (never a duplicate),
    and comments without linkage or type are tolerated."""
    state, client = canned
    bare = {"type": "comments", "id": "9", "attributes": {"body_text": "x"}}
    state.on("GET", "/comments", lambda q, b: listing(bare, *_comments(1, 2), total=7))
    ref = RecordRef(RecordKind.APPLICATIONS, "31")
    with pytest.raises(TransientError):
        await client.find_comment(TENANT, ref, "sw-missing")
    assert state.seen[0].query["filter[commentable_type]"] == "Application"


async def test_a_written_note_is_read_without_linkage(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """A comment POST names its commentable by resource type; the answer is read from its
    attributes."""
    state, client = canned
    state.on("POST", "/comments", lambda q, b: (201, {"data": {
        "type": "comments", "id": "77", "attributes": {"body_text": b["data"]["attributes"][
            "body_text"], "commentable_id": 5, "commentable_type": "Application"}}}))
    ref = RecordRef(RecordKind.APPLICATIONS, "5")
    comment = await client.write_comment(TENANT, ref, "Hi\n\nSourceWhale ref: sw-1", "sw-1")
    assert (comment.id, comment.commentable) == ("77", ref)
    assert state.seen[0].body["data"]["relationships"] == {
        "commentable": {"data": {"type": "applications", "id": "5"}}}


def _candidate(**attributes: Any) -> tuple[int, Any]:
    cand = {"type": "candidates", "id": "9", "attributes": attributes, "relationships": {
        "custom_attributes": {"data": [{"type": "custom_attributes", "id": "84"}]},
        "job_seekers": {"meta": {"included": False}}}}
    ca = {"type": "custom_attributes", "id": "84",
          "attributes": {"value": "old", "field_name": "Job title"},
          "relationships": {"custom_field": {"data": {"type": "custom_fields", "id": "25"}}}}
    return one(cand, ca)


async def test_an_update_routes_fields_and_keeps_protected_values(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """Person attributes go to the candidate's PUT, record-only ones to the record's PUT,
    custom fields as side-posted custom attributes; a protected field is written only where
    Pinpoint's current value (read first) is empty."""
    state, client = canned
    state.on("GET", "/custom_fields", lambda q, b: listing(
        {"type": "custom_fields", "id": "25", "attributes": {
            "name": "Job title", "field_type": "varchar", "resource_type": "candidate"}},
        {"type": "custom_fields", "id": "26", "attributes": {
            "name": "Years", "field_type": "integer", "resource_type": "candidate"}}))
    state.on("GET", "/candidates/9", lambda q, b: _candidate(first_name="Held", phone=""))
    state.on("PUT", "/candidates/9", lambda q, b: one(b["data"]))
    state.on("PUT", "/job_seekers/3", lambda q, b: one(b["data"]))
    await client.update_person(
        TENANT, "9",
        {"first_name": "New", "phone": "+44 1", "summary": "Engineer", "custom:25": "SRE",
         "custom:26": "4"},
        frozenset({"first_name", "phone"}), record=RecordRef(RecordKind.JOB_SEEKERS, "3"))
    assert state.paths() == ["GET /custom_fields", "GET /candidates/9", "PUT /candidates/9",
                             "PUT /job_seekers/3"]
    assert state.seen[1].query == {"include": "custom_attributes.custom_field"}
    put = state.seen[2].body
    assert put["data"]["attributes"] == {"phone": "+44 1"}
    assert put["data"]["relationships"]["custom_attributes"]["data"] == [
        {"type": "custom_attributes", "id": "84", "method": "update"},
        {"type": "custom_attributes", "temp-id": "t2", "method": "create"}]
    assert put["included"] == [
        {"type": "custom_attributes", "id": "84", "attributes": {"varchar_value": "SRE"}},
        {"type": "custom_attributes", "temp-id": "t2", "attributes": {"integer_value": 4},
         "relationships": {"custom_field": {"data": {"type": "custom_fields", "id": "26"}}}}]
    assert state.seen[3].body["data"] == {"type": "job_seekers", "id": "3",
                                          "attributes": {"summary": "Engineer"}}


async def test_a_protected_custom_field_with_a_value_is_left_alone(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """A protected custom field whose current value is set is not written (nor any PUT)."""
    state, client = canned
    state.on("GET", "/custom_fields", lambda q, b: listing(
        {"type": "custom_fields", "id": "25", "attributes": {
            "name": "Job title", "field_type": "varchar", "resource_type": "candidate"}}))
    state.on("GET", "/candidates/9", lambda q, b: _candidate())
    await client.update_person(TENANT, "9", {"custom:25": "SRE"}, frozenset({"custom:25"}))
    assert state.paths() == ["GET /custom_fields", "GET /candidates/9"]


@pytest.mark.parametrize(
    ("status", "detail", "error_type"),
    [
        (400, "data.attributes.city is an unknown attribute", InvalidRequestError),
        (404, "Record not found", NotFoundError),
        (403, "Integration not enabled", AuthError),
        (422, "First name can't be blank", InvalidRequestError),
    ],
)
async def test_refusals_are_classified_with_pinpoints_detail(
    canned: tuple[Canned, PinpointClient], status: int, detail: str,
    error_type: type[Exception],
) -> None:
    """400 and 422 are invalid (with Pinpoint's detail), 404 is NotFoundError, 403 is auth."""
    state, client = canned
    state.on("PUT", "/candidates/9", lambda q, b: error(status, detail))
    with pytest.raises(error_type) as caught:
        await client.update_person(TENANT, "9", {"town": "Leeds"})
    assert type(caught.value) is error_type
    if isinstance(caught.value, InvalidRequestError):
        assert caught.value.detail == detail
    assert len(state.seen) == 1


async def test_a_note_on_a_missing_record_is_not_found_whether_404_or_422(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """A comment naming a record that is gone is NotFoundError, answered 404 or as a 422
    pointing at the commentable relationship (with or without the leading slash)."""
    state, client = canned
    ref = RecordRef(RecordKind.JOB_SEEKERS, "5")
    answers = iter([
        error(404, "Record not found"),
        (422, {"errors": [{"status": "422", "detail": "Commentable must exist",
                           "source": {"pointer": "data/relationships/commentable"}}]}),
        (422, {"errors": [{"status": "422", "detail": "Body text can't be blank",
                           "source": {"pointer": "/data/attributes/body_text"}}]}),
    ])
    state.on("POST", "/comments", lambda q, b: next(answers))
    for _ in range(2):
        with pytest.raises(NotFoundError):
            await client.write_comment(TENANT, ref, "x sw-1", "sw-1")
    with pytest.raises(InvalidRequestError) as caught:
        await client.write_comment(TENANT, ref, "x sw-1", "sw-1")
    assert type(caught.value) is InvalidRequestError


async def test_address_fields_follow_the_country_rule(
    canned: tuple[Canned, PinpointClient],
) -> None:
    """state_province is sent only with a US country and address2 only with another one."""
    state, client = canned
    state.on("POST", "/job_seekers", lambda q, b: (201, {"data": record(
        "job_seekers", "1", candidate_id=9)}))
    state.on("PUT", "/candidates/9", lambda q, b: one(b["data"]))
    address = {"address2": "Flat 2", "state_province": "Kent", "town": "Leeds"}
    await client.create_job_seeker(TENANT, {**address, "country": "GB"}, "ref-1")
    await client.update_person(TENANT, "9", {**address, "country": "US"})
    posted, put = (s.body["data"]["attributes"] for s in state.seen)
    assert {k: posted.get(k) for k in address} == {"address2": "Flat 2", "state_province": None,
                                                    "town": "Leeds"}
    assert {k: put.get(k) for k in address} == {"address2": None, "state_province": "Kent",
                                                 "town": "Leeds"}
