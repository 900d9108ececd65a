"""The contract checks shared by the simulator and the end-to-end contract gate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract_gate import ContractGate
from worker.simulator.contract import check_request

pytestmark = pytest.mark.unit


def _job_seeker(**attributes: Any) -> dict[str, Any]:
    attrs = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    attrs.update(attributes)
    return {"data": {"type": "job_seekers", "attributes": attrs}}


def _details(method: str, path: str, query: list[tuple[str, str]], body: Any) -> list[str]:
    return [v.detail for v in check_request(method, path, query, body)]


def test_a_documented_request_passes() -> None:
    """A job seeker create with documented attributes and sideposts has no violation."""
    body = _job_seeker(town="Leeds", channel="sourcing")
    body["data"]["relationships"] = {
        "custom_attributes": {
            "data": [{"type": "custom_attributes", "temp-id": "t1", "method": "create"}]
        }
    }
    body["included"] = [
        {
            "type": "custom_attributes",
            "temp-id": "t1",
            "attributes": {"varchar_value": "x"},
            "relationships": {"custom_field": {"data": {"type": "custom_fields", "id": "7"}}},
        }
    ]
    assert check_request("POST", "/api/v1/job_seekers", [], body) == []
    query = [("filter[candidate_email]", "a@b.c"), ("page[size]", "1000"), ("sort", "-id")]
    assert check_request("GET", "/api/v1/applications", query, None) == []


def test_unknown_and_read_only_attributes_are_reported() -> None:
    """linkedin_url on a job seeker is unknown; candidate_id is readable but not writable."""
    found = check_request("POST", "/api/v1/job_seekers", [], _job_seeker(linkedin_url="u"))
    assert [(v.status, v.pointer) for v in found] == [(400, "data/attributes/linkedin_url")]
    assert "unknown attribute" in found[0].detail
    found = check_request("POST", "/api/v1/job_seekers", [], _job_seeker(candidate_id="1"))
    assert "cannot be written" in found[0].detail


def test_undocumented_filter_and_enum_value_are_reported() -> None:
    """filter[email] on candidates and commentable_type=job_seekers are malformed queries."""
    assert _details("GET", "/api/v1/candidates", [("filter[email]", "a@b.c")], None) == [
        "Malformed query params: filter email is not allowed on candidates"
    ]
    found = check_request(
        "GET", "/api/v1/comments", [("filter[commentable_type]", "job_seekers")], None
    )
    assert [v.status for v in found] == [400]
    found = check_request("GET", "/api/v1/jobs", [("page[size]", "1001")], None)
    assert [v.parameter for v in found] == ["page[size]"]


def test_missing_required_attribute_and_relationship_are_reported() -> None:
    """An application without an e-mail or a job is refused as 422."""
    body = {"data": {"type": "applications", "attributes": {"first_name": "A", "last_name": "B"}}}
    found = check_request("POST", "/api/v1/applications", [], body)
    assert {(v.status, v.pointer) for v in found} == {
        (422, "/data/attributes/email"),
        (422, "/data/relationships/job"),
    }


def test_forbidden_relationship_type_and_name_are_reported() -> None:
    """A comment on a custom field, or a job relationship on a job seeker, is refused."""
    body = {
        "data": {
            "type": "comments",
            "attributes": {"body_text": "hi"},
            "relationships": {"commentable": {"data": {"type": "custom_fields", "id": "1"}}},
        }
    }
    found = check_request("POST", "/api/v1/comments", [], body)
    assert [v.pointer for v in found] == ["data/relationships/commentable/data/type"]
    body = _job_seeker()
    body["data"]["relationships"] = {"job": {"data": {"type": "jobs", "id": "1"}}}
    assert "not a valid relationship" in _details("POST", "/api/v1/job_seekers", [], body)[0]


def test_operations_outside_the_reference_are_reported() -> None:
    """No candidate POST, no comment PUT, no PATCH, no unknown include."""
    assert check_request("POST", "/api/v1/candidates", [], {})[0].status == 404
    assert check_request("PUT", "/api/v1/comments/1", [], {})[0].status == 404
    assert check_request("PATCH", "/api/v1/candidates/1", [], {})[0].status == 404
    found = check_request("GET", "/api/v1/candidates/1", [("include", "custom_fields")], None)
    assert [v.parameter for v in found] == ["include"]


def test_malformed_sidepost_and_country_rule_are_reported() -> None:
    """A sidepost without its included object, and state_province outside the US."""
    body = {
        "data": {
            "type": "candidates",
            "id": "5",
            "attributes": {"country": "GB", "state_province": "Kent"},
            "relationships": {
                "custom_attributes": {
                    "data": [{"type": "custom_attributes", "id": "9", "method": "update"}]
                }
            },
        }
    }
    details = _details("PUT", "/api/v1/candidates/5", [], body)
    assert len(details) == 2
    assert "for this country" in details[0]
    assert "no included custom_attributes" in details[1]


def test_the_gate_records_each_offending_request() -> None:
    """The gate keeps one record per offending request, and none for a good one."""
    gate = ContractGate("http://127.0.0.1:1")
    gate.inspect("GET", "/api/v1/jobs", [("page[size]", "1")], b"")
    gate.inspect("GET", "/api/v1/candidates", [("filter[email]", "x")], b"")
    gate.inspect("POST", "/api/v1/job_seekers", [], b'{"data": {"type": "job_seekers"}}')
    assert gate.checked == 3
    assert [v.path for v in gate.violations] == ["/api/v1/candidates"]
    assert "filter email" in gate.report()
