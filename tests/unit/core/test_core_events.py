"""The campaign event contract: parsing, type-specific data and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.enums import EventType, NoteType, SyncStage
from worker.core.errors import EventErrorReason, InvalidEvent
from worker.core.events import MAX_EVENT_BYTES, MAX_LONG_TEXT, event_from_dict, parse_event

from .factories import SHORT_TYPES, event_dict, raw_event

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kind", sorted(SHORT_TYPES))
def test_each_event_type_parses(kind: str) -> None:
    """Every event type of DESIGN 5.1 parses from bytes into its model with the right type."""
    event = parse_event(raw_event(kind))
    assert event.type is EventType(SHORT_TYPES[kind])
    assert event.key == "team-1:cand-1"
    assert event.data.candidate.emails[0] == "ada@example.com"


@pytest.mark.parametrize(
    ("kind", "note_type", "stage"),
    [
        ("added", None, SyncStage.ADDED),
        ("sent", NoteType.EMAIL, SyncStage.ADDED),
        ("replied", NoteType.REPLIED, SyncStage.REPLIED),
        ("interested", NoteType.INTERESTED, SyncStage.INTERESTED),
        ("not_interested", NoteType.NOT_INTERESTED, SyncStage.REPLIED),
        ("unsubscribed", NoteType.UNSUBSCRIBED, SyncStage.ADDED),
        ("updated", None, None),
    ],
)
def test_note_type_and_stage_per_type(
    kind: str, note_type: NoteType | None, stage: SyncStage | None
) -> None:
    """Each event type has its documented note type and campaign stage."""
    event = parse_event(raw_event(kind))
    assert event.note_type == note_type
    assert event.stage == stage


@pytest.mark.parametrize("channel", ["sms", "linkedin_inmail", "phone_call", "task"])
def test_outreach_note_type_is_its_channel(channel: str) -> None:
    """An outreach.sent event's note type is its step's channel."""
    event = parse_event(raw_event("sent", step={"number": 1, "channel": channel}))
    assert event.note_type == NoteType(channel)


def test_unknown_attributes_are_tolerated() -> None:
    """Unknown extra attributes anywhere in the event are ignored (forward compatibility)."""
    doc = event_dict("sent")
    doc["traceparent"] = "00-abc-def-01"
    doc["data"]["new_thing"] = {"nested": [1, 2]}
    doc["data"]["candidate"]["pronouns"] = "she/her"
    doc["data"]["step"]["template_id"] = "tpl-9"
    event = parse_event(json.dumps(doc).encode())
    assert event.data.step is not None
    assert event.data.step.number == 2


def test_minimal_event_uses_defaults() -> None:
    """Optional attributes and candidate fields may be absent."""
    doc = event_dict("added")
    for name in ("subject", "datacontenttype"):
        del doc[name]
    doc["data"]["candidate"] = {"id": "c9", "first_name": "", "last_name": "X"}
    del doc["data"]["user_id"]
    event = parse_event(json.dumps(doc).encode())
    assert event.data.user_id is None
    assert event.data.candidate.emails == []
    assert event.data.candidate.social == {}


def _mutate(path: str, value: Any) -> bytes:
    doc = event_dict("sent")
    target = doc
    *parents, last = path.split(".")
    for name in parents:
        target = target[name]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(doc).encode()


_DELETE = object()


@pytest.mark.parametrize(
    ("raw", "reason", "names"),
    [
        (b"{not json", EventErrorReason.MALFORMED_JSON, "Invalid JSON"),
        (b"", EventErrorReason.MALFORMED_JSON, "Invalid JSON"),
        (b"[1, 2]", EventErrorReason.MALFORMED_JSON, "not a JSON object"),
        (b'"just a string"', EventErrorReason.MALFORMED_JSON, "not a JSON object"),
        (b"\xff\xfe{}", EventErrorReason.INVALID_UTF8, "not UTF-8"),
        (_mutate("type", "com.sourcewhale.meeting.booked"), EventErrorReason.UNKNOWN_TYPE, "type"),
        (_mutate("type", _DELETE), EventErrorReason.INVALID_EVENT, "type"),
        (_mutate("type", 7), EventErrorReason.UNKNOWN_TYPE, "type"),
        (_mutate("specversion", "0.3"), EventErrorReason.INVALID_EVENT, "specversion"),
        (_mutate("id", _DELETE), EventErrorReason.INVALID_EVENT, "id"),
        (_mutate("id", ""), EventErrorReason.INVALID_EVENT, "id"),
        (_mutate("time", "yesterday"), EventErrorReason.INVALID_EVENT, "time"),
        (_mutate("time", "2024-05-01T10:00:00"), EventErrorReason.INVALID_EVENT, "time"),
        (_mutate("datacontenttype", "text/xml"), EventErrorReason.INVALID_EVENT, "datacontenttype"),
        (_mutate("data", _DELETE), EventErrorReason.INVALID_EVENT, "data"),
        (_mutate("data.team_id", "a:b"), EventErrorReason.INVALID_EVENT, "data.team_id"),
        (_mutate("data.team_id", 12), EventErrorReason.INVALID_EVENT, "data.team_id"),
        (_mutate("data.campaign_id", _DELETE), EventErrorReason.INVALID_EVENT, "data.campaign_id"),
        (
            _mutate("data.candidate.id", _DELETE),
            EventErrorReason.INVALID_EVENT,
            "data.candidate.id",
        ),
        (
            _mutate("data.candidate.emails", "ada@example.com"),
            EventErrorReason.INVALID_EVENT,
            "data.candidate.emails",
        ),
        (
            _mutate("data.candidate.variables", {"x": {"y": 1}}),
            EventErrorReason.INVALID_EVENT,
            "data.candidate.variables.x",
        ),
        (_mutate("data.step", _DELETE), EventErrorReason.INVALID_EVENT, "data.step"),
        (_mutate("data.step.channel", "fax"), EventErrorReason.INVALID_EVENT, "data.step.channel"),
        (_mutate("data.step.number", 0), EventErrorReason.INVALID_EVENT, "data.step.number"),
        (
            _mutate("data.step.body", "x" * (MAX_LONG_TEXT + 1)),
            EventErrorReason.FIELD_TOO_LONG,
            "data.step.body",
        ),
        (
            _mutate("data.candidate.emails", ["a@b.c"] * 201),
            EventErrorReason.FIELD_TOO_LONG,
            "data.candidate.emails",
        ),
    ],
)
def test_bad_events_give_typed_errors(raw: bytes, reason: EventErrorReason, names: str) -> None:
    """Each kind of bad event raises InvalidEvent with its reason and a detail naming the field."""
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert caught.value.reason is reason
    assert names in caught.value.detail


def test_replied_without_reply_is_invalid() -> None:
    """A candidate.replied event without data.reply is invalid and the detail names data.reply."""
    doc = event_dict("replied")
    del doc["data"]["reply"]
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(doc).encode())
    assert caught.value.reason is EventErrorReason.INVALID_EVENT
    assert caught.value.detail.startswith("data.reply")


def test_oversized_event_is_rejected_before_parsing() -> None:
    """A record over the size limit is rejected as too_large whatever its content."""
    raw = b"{" + b" " * MAX_EVENT_BYTES + b"}"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert caught.value.reason is EventErrorReason.TOO_LARGE
    assert str(MAX_EVENT_BYTES) in caught.value.detail


@pytest.mark.parametrize("depth", [40, 500, 100_000])
def test_deeply_nested_json_is_too_deep(depth: int) -> None:
    """Deeply nested JSON is rejected as too_deep without exhausting the stack."""
    raw = b'{"data":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw[:MAX_EVENT_BYTES])
    assert caught.value.reason is EventErrorReason.TOO_DEEP


def test_invalid_utf8_inside_a_string_is_named() -> None:
    """Invalid UTF-8 inside a JSON string is reported as invalid_utf8 with its byte offset."""
    raw = raw_event("sent").replace(b"Lovelace", b"Love\xc3\x28ace")
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert caught.value.reason is EventErrorReason.INVALID_UTF8
    assert "at byte" in caught.value.detail


def test_detail_never_quotes_values() -> None:
    """The error detail names fields but does not echo their (possibly personal) values."""
    raw = _mutate("data.candidate.emails", "secret-address@example.com")
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert "secret-address" not in caught.value.detail


def test_event_from_dict_matches_parse_event() -> None:
    """Validating a decoded document gives the same event as parsing its bytes."""
    doc = event_dict("replied")
    assert event_from_dict(doc) == parse_event(json.dumps(doc).encode())


def test_dead_letter_reason_of_errors() -> None:
    """Undecodable records and contract violations map to their dead-letter reasons."""
    assert EventErrorReason.INVALID_UTF8.dead_letter_reason.value == "undecodable"
    assert EventErrorReason.TOO_DEEP.dead_letter_reason.value == "undecodable"
    assert EventErrorReason.UNKNOWN_TYPE.dead_letter_reason.value == "invalid_event"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_other_errors(raw: bytes) -> None:
    """Any bytes either parse or raise InvalidEvent: nothing else escapes."""
    error: InvalidEvent | None = None
    try:
        parse_event(raw)
    except InvalidEvent as exc:
        error = exc
    assert error is None or error.detail


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(
        [
            "data",
            "data.candidate",
            "data.step",
            "data.candidate.social",
            "id",
            "time",
            "data.candidate.variables",
            "data.changed_fields",
        ]
    ),
    value=_json,
)
def test_any_json_value_anywhere_gives_event_or_typed_error(path: str, value: Any) -> None:
    """Replacing any field with arbitrary JSON yields an event or an InvalidEvent."""
    error: InvalidEvent | None = None
    try:
        parse_event(_mutate(path, value))
    except InvalidEvent as exc:
        error = exc
    assert error is None or error.reason in set(EventErrorReason)
