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
    """Envelope, each event type, settings, outcome and status records and AsyncAPI exist."""
    names = set(generate())
    assert {
        "campaign-event.schema.json",
        "team-settings.schema.json",
        "outcome-record.schema.json",
        "team-status-record.schema.json",
        "asyncapi.json",
    } <= names
    assert len([n for n in names if n.startswith("events/")]) == 7


def test_asyncapi_describes_the_six_topics() -> None:
    """The AsyncAPI 3 document names the six topics, their keys, the DLQ and replay headers."""
    doc = generate()["asyncapi.json"]
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {
        "sourcewhale.campaign-events",
        "sourcewhale.team-settings",
        "pinpoint-sync.outcomes",
        "pinpoint-sync.dlq",
        "pinpoint-sync.replay",
        "pinpoint-sync.team-status",
    }
    replay = doc["components"]["messages"]["replayed"]["headers"]["required"]
    assert replay == ["replay.id", "replay.source.topic", "replay.source.partition",
                      "replay.source.offset"]
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
    replay = doc["components"]["messages"]["replayed"]["headers"]
    assert replay["required"] == ["replay.id", "replay.source.topic", "replay.source.partition",
                                  "replay.source.offset"]
    assert set(headers) < set(replay["properties"])
    for message in doc["components"]["messages"].values():
        assert "key" in message["bindings"]["kafka"]
    compacted = {c["address"] for c in doc["channels"].values()
                 if c.get("bindings", {}).get("kafka", {}).get("topicConfiguration")}
    assert compacted == {"sourcewhale.team-settings", "pinpoint-sync.team-status"}


def test_no_schema_carries_an_openapi_discriminator() -> None:
    """No generated schema holds `discriminator`, a keyword JSON Schema and AsyncAPI lack."""
    for name, document in generate().items():
        assert '"discriminator"' not in json.dumps(document), name


def test_outcome_record_schema_has_replay_id() -> None:
    """The outcome record's schema lists replay_id, optional and nullable."""
    schema = generate()["outcome-record.schema.json"]
    assert "replay_id" in schema["properties"]
    assert "replay_id" not in schema.get("required", [])


def test_outcome_record_serialises_as_the_contract_says() -> None:
    """An outcome record built from a decision has the contract's fields and round-trips."""
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
