"""schemas/ is generated from the models; the checked-in files must not drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from worker.core.decision import CandidateState, decide
from worker.core.enums import ActionKind, ActionStatus
from worker.core.outcome import ActionRecord, OutcomeRecord
from worker.core.schemagen import check_schemas, generate, write_schemas

from .factories import make_event, make_policy

pytestmark = pytest.mark.unit

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def test_checked_in_schemas_match_the_models() -> None:
    """The files in schemas/ are exactly what the models generate (run `pinpoint-sync schemas`)."""
    assert check_schemas(SCHEMAS) == []


def test_write_then_check_round_trips(tmp_path: Path) -> None:
    """Written schemas check clean; a changed or extra file is reported."""
    written = write_schemas(tmp_path)
    assert len(written) == len(generate())
    assert check_schemas(tmp_path) == []
    (tmp_path / "team-settings.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "stale.schema.json").write_text("{}\n", encoding="utf-8")
    assert check_schemas(tmp_path) == ["stale.schema.json", "team-settings.schema.json"]


def test_expected_files_are_generated() -> None:
    """Envelope, each event type, settings, outcome record and the AsyncAPI document exist."""
    names = set(generate())
    assert {
        "campaign-event.schema.json",
        "team-settings.schema.json",
        "outcome-record.schema.json",
        "asyncapi.json",
    } <= names
    assert len([n for n in names if n.startswith("events/")]) == 7


def test_asyncapi_describes_the_four_topics() -> None:
    """The AsyncAPI 3 document names the four topics, their keys and the DLQ headers."""
    doc = generate()["asyncapi.json"]
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {
        "sourcewhale.campaign-events",
        "sourcewhale.team-settings",
        "pinpoint-sync.outcomes",
        "pinpoint-sync.dlq",
    }
    headers = doc["components"]["messages"]["deadLetter"]["headers"]["properties"]
    assert set(headers) == {
        "dlq.reason",
        "dlq.error",
        "dlq.source.topic",
        "dlq.source.partition",
        "dlq.source.offset",
        "dlq.attempts",
        "dlq.first_failed_at",
        "dlq.truncated",
        "dlq.original.size",
    }
    required = doc["components"]["messages"]["deadLetter"]["headers"]["required"]
    assert "dlq.truncated" not in required
    for message in doc["components"]["messages"].values():
        assert "key" in message["bindings"]["kafka"]


def test_outcome_record_serialises_as_design_5_3() -> None:
    """An outcome record built from a decision has DESIGN 5.3's fields and round-trips."""
    event = make_event("sent")
    decision = decide(event, make_policy(), CandidateState())
    record = OutcomeRecord.for_decision(
        event,
        decision,
        datetime(2024, 5, 1, 10, 1, tzinfo=UTC),
        actions=[
            ActionRecord(
                kind=ActionKind.CREATE_JOB_SEEKER, pinpoint_id="js-1", status=ActionStatus.APPLIED
            )
        ],
        pinpoint_candidate_id="p-1",
    )
    data = json.loads(record.to_json())
    assert {
        "event_id",
        "event_type",
        "team_id",
        "candidate_id",
        "outcome",
        "reason",
        "actions",
        "pinpoint_candidate_id",
        "filterable",
        "policy_version",
        "processed_at",
    } <= set(data)
    assert data["outcome"] == "synced"
    assert data["actions"] == [
        {"kind": "create_job_seeker", "pinpoint_id": "js-1", "status": "applied"}
    ]
    assert OutcomeRecord.model_validate_json(record.to_json()) == record
