"""The outcome record without actions, built from a plain dict: the same bytes as the model's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.enums import EventType, Outcome, Reason
from worker.core.outcome import OutcomeRecord, outcome_without_actions_json

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 2, 9, 15, 30, 123456, tzinfo=UTC)

VERDICTS = [
    (Outcome.SKIPPED, Reason.INTEGRATION_INACTIVE),
    (Outcome.SKIPPED, Reason.NOTE_TYPE_NOT_SELECTED),
    (Outcome.SKIPPED, Reason.ALREADY_APPLIED),
    (Outcome.DEFERRED, Reason.KEPT_FOR_BACKFILL),
    (Outcome.DEAD_LETTERED, Reason.INVALID_EVENT),
]


def both(**values: Any) -> tuple[bytes, bytes]:
    """The model's JSON and the fast JSON of the same values."""
    return OutcomeRecord(**values).to_json(), outcome_without_actions_json(**values)


def values(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "evt-1",
        "event_type": EventType.CANDIDATE_ADDED,
        "team_id": "acme",
        "candidate_id": "cand-1",
        "outcome": Outcome.SKIPPED,
        "reason": Reason.INTEGRATION_INACTIVE,
        "processed_at": AT,
    }
    base.update(overrides)
    return base


OPTIONAL = [
    (None, None),
    (7, None),
    (None, "the team's Pinpoint integration is not active"),
    (2**40, ""),
]


@pytest.mark.parametrize("event_type", list(EventType))
@pytest.mark.parametrize(("policy_version", "detail"), OPTIONAL)
def test_same_bytes_for_every_event_type(
    event_type: EventType, policy_version: int | None, detail: str | None,
) -> None:
    """For every event type, with and without a policy version and a detail, the fast JSON is
    byte for byte the model's JSON."""
    model, fast = both(**values(event_type=event_type, policy_version=policy_version,
                                detail=detail))
    assert fast == model


@pytest.mark.parametrize(("outcome", "reason"), VERDICTS)
@pytest.mark.parametrize(("policy_version", "detail"), OPTIONAL)
def test_same_bytes_for_each_verdict(
    outcome: Outcome, reason: Reason, policy_version: int | None, detail: str | None,
) -> None:
    """For several outcomes and reasons, with and without a policy version and a detail, the
    fast JSON is byte for byte the model's JSON."""
    model, fast = both(**values(outcome=outcome, reason=reason, policy_version=policy_version,
                                detail=detail))
    assert fast == model


@pytest.mark.parametrize("text", [
    'say "hello"',
    "back\\slash and 'single'",
    "Zoë Müller-Łukasiewicz",
    "日本語の候補者",
    "emoji 🚀 and \u2028 line separator",
    "control \x00\x01\x1f\x7f characters",
    "tab\tnewline\nreturn\r",
    "</script><b>",
])
def test_same_bytes_with_quotes_and_non_ascii_text(text: str) -> None:
    """Quotes, backslashes, non-ASCII and control characters in ids and detail are escaped
    exactly as the model escapes them."""
    model, fast = both(**values(event_id=f"evt-{text}", team_id=f"team{text}",
                                candidate_id=f"cand-{text}", detail=text, policy_version=3))
    assert fast == model
    assert json.loads(fast)["detail"] == text


@pytest.mark.parametrize("processed_at", [
    AT,
    AT.replace(microsecond=0),
    AT.replace(microsecond=1),
    AT.replace(microsecond=500000),
    datetime(2026, 1, 1, tzinfo=timezone(timedelta(0))),
    datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
])
def test_same_processed_at_text(processed_at: datetime) -> None:
    """processed_at (UTC with or without microseconds, or a whole-minute offset) is written
    as the model writes it."""
    model, fast = both(**values(processed_at=processed_at))
    assert fast == model


def test_utc_time_is_written_with_z_and_microseconds() -> None:
    """A UTC processed_at with microseconds reads back as the same instant, written with Z."""
    fast = outcome_without_actions_json(**values())
    doc = json.loads(fast)
    assert doc["processed_at"] == "2026-11-02T09:15:30.123456Z"
    assert datetime.fromisoformat(doc["processed_at"]) == AT


def test_fields_are_those_of_an_outcome_without_actions() -> None:
    """The fast JSON has the model's fields in the model's order, with no actions, filterable
    values or missing fields, and validates back into the same record."""
    fast = outcome_without_actions_json(**values(policy_version=4, detail="d"))
    doc = json.loads(fast)
    assert list(doc) == list(OutcomeRecord.model_fields)
    assert (doc["actions"], doc["filterable"], doc["missing_fields"]) == ([], {}, [])
    assert doc["pinpoint_candidate_id"] is None
    expected = OutcomeRecord(**values(policy_version=4, detail="d"))
    assert OutcomeRecord.model_validate_json(fast) == expected


_ids = st.text(min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    event_id=_ids,
    team_id=_ids,
    candidate_id=_ids,
    detail=st.none() | st.text(max_size=200),
    policy_version=st.none() | st.integers(min_value=0, max_value=2**53),
    event_type=st.sampled_from(list(EventType)),
    verdict=st.sampled_from(VERDICTS),
    processed_at=st.datetimes(timezones=st.just(UTC)),
)
def test_any_text_gives_the_same_bytes(
    event_id: str, team_id: str, candidate_id: str, detail: str | None,
    policy_version: int | None, event_type: EventType, verdict: tuple[Outcome, Reason],
    processed_at: datetime,
) -> None:
    """Whatever the ids, detail, version, type, verdict and UTC time, the fast JSON is the
    model's JSON."""
    outcome, reason = verdict
    model, fast = both(event_id=event_id, event_type=event_type, team_id=team_id,
                       candidate_id=candidate_id, outcome=outcome, reason=reason,
                       processed_at=processed_at, policy_version=policy_version, detail=detail)
    assert fast == model
