"""The team status record: the contract of `pinpoint-sync.team-status` (docs/contracts.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from worker.core.schemagen import generate
from worker.core.status import TeamStatus, TeamStatusRecord

pytestmark = pytest.mark.unit

SINCE = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
SCHEMA = generate()["team-status-record.schema.json"]
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def record(**changes: Any) -> TeamStatusRecord:
    fields: dict[str, Any] = {
        "team_id": "acme", "status": TeamStatus.CONNECTED, "since": SINCE,
        "held_events": 0, "policy_version": 3, "updated_at": SINCE,
    }
    fields.update(changes)
    return TeamStatusRecord(**fields)


def test_status_values_are_the_six_of_the_contract() -> None:
    """The status enum holds exactly the six published values."""
    assert {s.value for s in TeamStatus} == {
        "inactive", "connected", "credentials_refused", "failing", "unreachable", "backlogged"}
    assert SCHEMA["$defs"]["TeamStatus"]["enum"] == [s.value for s in TeamStatus]


@pytest.mark.parametrize("status", list(TeamStatus))
def test_record_json_has_the_contract_fields_and_round_trips(status: TeamStatus) -> None:
    """Every status serialises with all contract fields, passes its JSON Schema, and reads
    back equal."""
    rec = record(status=status, last_success_at=SINCE, detail="Pinpoint answered 401",
                 held_events=12)
    data = json.loads(rec.to_json())
    assert set(data) == {"team_id", "status", "since", "last_success_at", "detail",
                         "held_events", "policy_version", "updated_at"}
    assert data["status"] == status.value
    assert data["since"] == "2024-05-01T10:00:00Z"
    assert list(VALIDATOR.iter_errors(data)) == []
    assert TeamStatusRecord.from_json(rec.to_json()) == rec
    assert rec.paused is (status not in {TeamStatus.CONNECTED, TeamStatus.INACTIVE})


def test_a_team_without_settings_has_a_null_policy_version() -> None:
    """policy_version is always present, null when the team has no settings."""
    data = json.loads(record(status=TeamStatus.INACTIVE, policy_version=None).to_json())
    assert data["policy_version"] is None
    assert list(VALIDATOR.iter_errors(data)) == []
    del data["policy_version"]
    assert not VALIDATOR.is_valid(data)


@pytest.mark.parametrize(("field", "value"), [
    ("held_events", -1), ("held_events", "3"), ("held_events", True), ("status", "paused"),
    ("team_id", "a:b"), ("since", 1714557600), ("since", "2024-05-01T10:00:00"),
    ("detail", "x" * 501),
])
def test_wrong_values_are_refused_by_model_and_schema_alike(field: str, value: Any) -> None:
    """A record with a wrong type or value is refused by the model and by its JSON Schema."""
    data = json.loads(record().to_json())
    data[field] = value
    with pytest.raises(ValidationError):
        TeamStatusRecord.from_json(json.dumps(data).encode())
    assert not VALIDATOR.is_valid(data)
