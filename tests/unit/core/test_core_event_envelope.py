"""The event envelope: what identifies an event, read without its data (`parse_envelope`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.enums import EventType
from worker.core.errors import EventErrorReason, InvalidEvent
from worker.core.events import (
    MAX_EVENT_BYTES,
    EventEnvelope,
    parse_envelope,
    parse_event,
)
from worker.tools.sample import CampaignGenerator, malformed_events

from .factories import CANDIDATE, SHORT_TYPES, TEAM, event_dict

pytestmark = pytest.mark.unit

_DELETE = object()


def mutated(path: str, value: Any, kind: str = "sent") -> bytes:
    """A valid event of ``kind`` with the field at dotted ``path`` set to ``value`` (or
    removed)."""
    doc = event_dict(kind)
    target = doc
    *parents, last = path.split(".")
    for name in parents:
        target = target[name]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(doc).encode()


def identity(envelope: EventEnvelope) -> tuple[str, EventType, datetime, str, str]:
    return (envelope.id, envelope.type, envelope.time, envelope.team_id,
            envelope.candidate_id)


def reason_of(parse: Any, raw: bytes) -> EventErrorReason:
    with pytest.raises(InvalidEvent) as caught:
        parse(raw)
    return caught.value.reason


@pytest.mark.parametrize("kind", sorted(SHORT_TYPES))
def test_envelope_of_a_valid_event_matches_the_event(kind: str) -> None:
    """A valid event's envelope has the id, type, time, team and candidate parse_event gives."""
    raw = json.dumps(event_dict(kind, event_id=f"evt-{kind}")).encode()
    event = parse_event(raw)
    envelope = parse_envelope(raw)
    assert identity(envelope) == (event.id, event.type, event.time, event.team_id,
                                  event.candidate_id)
    assert envelope.id == f"evt-{kind}"
    assert envelope.type is EventType(SHORT_TYPES[kind])
    assert (envelope.team_id, envelope.candidate_id) == (TEAM, CANDIDATE)


def test_envelopes_of_generated_traffic_match_their_events() -> None:
    """Every event of a generated campaign has an envelope identical to its parsed event's."""
    events = CampaignGenerator(seed=5).campaign(["acme", "globex"], 4)
    assert len(events) > 8
    for sample in events:
        event = parse_event(sample.value)
        envelope = parse_envelope(sample.value)
        assert identity(envelope) == (event.id, event.type, event.time, event.team_id,
                                      event.candidate_id)
        assert sample.key == f"{envelope.team_id}:{envelope.candidate_id}".encode()


def test_envelope_time_keeps_its_offset() -> None:
    """The envelope's time is timezone-aware and is the same instant as the event's."""
    raw = mutated("time", "2024-05-01T12:30:00.250+02:00")
    envelope = parse_envelope(raw)
    assert envelope.time.utcoffset() == timedelta(hours=2)
    assert envelope.time == datetime(2024, 5, 1, 10, 30, 0, 250000, tzinfo=UTC)
    assert envelope.time == parse_event(raw).time


@pytest.mark.parametrize(("raw", "field"), [
    (mutated("data.step", _DELETE), "data.step"),
    (mutated("data.step.channel", "fax"), "data.step.channel"),
    (mutated("data.reply", _DELETE, kind="replied"), "data.reply"),
    (mutated("data.candidate.emails", "ada@example.com"), "data.candidate.emails"),
    (mutated("data.candidate.variables", {"x": {"y": 1}}), "data.candidate.variables"),
    (mutated("data.campaign_id", _DELETE), "data.campaign_id"),
    (mutated("data.candidate.first_name", _DELETE), "data.candidate.first_name"),
    (mutated("source", _DELETE), "source"),
    (mutated("datacontenttype", "text/xml"), "datacontenttype"),
])
def test_invalid_data_is_rejected_like_parse_event(raw: bytes, field: str) -> None:
    """An event whose fault is outside the identifying fields is rejected all the same, with
    parse_event's reason and detail (it is dead-lettered, whatever the team)."""
    with pytest.raises(InvalidEvent) as expected:
        parse_event(raw)
    assert field in expected.value.detail
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope(raw)
    assert (caught.value.reason, caught.value.detail) == (expected.value.reason,
                                                          expected.value.detail)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{not json", EventErrorReason.MALFORMED_JSON),
    (b"", EventErrorReason.MALFORMED_JSON),
    (b"[1, 2]", EventErrorReason.MALFORMED_JSON),
    (b'"just a string"', EventErrorReason.MALFORMED_JSON),
    (b"null", EventErrorReason.MALFORMED_JSON),
    (mutated("id", _DELETE), EventErrorReason.INVALID_EVENT),
    (mutated("id", ""), EventErrorReason.INVALID_EVENT),
    (mutated("id", "x" * 257), EventErrorReason.FIELD_TOO_LONG),
    (mutated("type", _DELETE), EventErrorReason.INVALID_EVENT),
    (mutated("specversion", "0.3"), EventErrorReason.INVALID_EVENT),
    (mutated("time", "2024-05-01T10:00:00"), EventErrorReason.INVALID_EVENT),
    (mutated("time", "yesterday"), EventErrorReason.INVALID_EVENT),
    (mutated("data", _DELETE), EventErrorReason.INVALID_EVENT),
    (mutated("data", [1]), EventErrorReason.INVALID_EVENT),
    (mutated("data.candidate", _DELETE), EventErrorReason.INVALID_EVENT),
    (mutated("data.candidate.id", _DELETE), EventErrorReason.INVALID_EVENT),
    (mutated("data.candidate.id", 5), EventErrorReason.INVALID_EVENT),
    (mutated("data.team_id", "a:b"), EventErrorReason.INVALID_EVENT),
    (mutated("data.team_id", "a b"), EventErrorReason.INVALID_EVENT),
    (mutated("data.team_id", 12), EventErrorReason.INVALID_EVENT),
    (mutated("data.team_id", "t" * 257), EventErrorReason.FIELD_TOO_LONG),
], ids=[
    "not-json", "empty", "array", "string", "null", "no-id", "empty-id", "long-id", "no-type",
    "old-specversion", "naive-time", "bad-time", "no-data", "data-not-object", "no-candidate",
    "no-candidate-id", "candidate-id-not-string", "team-id-with-colon", "team-id-with-space",
    "team-id-not-string", "long-team-id",
])
def test_bad_envelope_gives_the_reason_parse_event_gives(
    raw: bytes, reason: EventErrorReason,
) -> None:
    """A record whose envelope is bad raises InvalidEvent with the reason parse_event gives."""
    assert reason_of(parse_event, raw) is reason
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope(raw)
    assert caught.value.reason is reason
    assert caught.value.detail


@pytest.mark.parametrize("index", [0, 3])
def test_malformed_samples_are_rejected_like_parse_event(index: int) -> None:
    """The sample tool's non-JSON event and event without a candidate are rejected by the
    envelope with parse_event's reason."""
    _, raw = malformed_events(TEAM)[index]
    assert reason_of(parse_envelope, raw) is reason_of(parse_event, raw)


@pytest.mark.parametrize("raw", [
    mutated("type", "com.sourcewhale.meeting.booked"),
    mutated("type", 7),
    malformed_events(TEAM)[2][1],
], ids=["unknown-name", "number", "sample-teleported"])
def test_unknown_type_gives_unknown_type(raw: bytes) -> None:
    """An event of an unknown type is rejected by the envelope as unknown_type, like
    parse_event."""
    assert reason_of(parse_event, raw) is EventErrorReason.UNKNOWN_TYPE
    assert reason_of(parse_envelope, raw) is EventErrorReason.UNKNOWN_TYPE


def test_unknown_type_is_rejected() -> None:
    """An event of an unknown type never has an envelope, and the detail names the type."""
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope(mutated("type", "com.sourcewhale.meeting.booked"))
    assert caught.value.detail.startswith("type")
    assert caught.value.reason.dead_letter_reason.value == "invalid_event"


def test_oversized_value_is_too_large() -> None:
    """A value over the size limit is rejected as too_large whatever its content."""
    raw = b"{" + b" " * MAX_EVENT_BYTES + b"}"
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope(raw)
    assert caught.value.reason is EventErrorReason.TOO_LARGE
    assert str(MAX_EVENT_BYTES) in caught.value.detail


def test_valid_event_padded_over_the_limit_is_too_large() -> None:
    """A valid event made larger than the limit by an unknown attribute is too_large, although
    its envelope alone would be valid."""
    doc = event_dict("added")
    doc["padding"] = "x" * MAX_EVENT_BYTES
    raw = json.dumps(doc).encode()
    assert reason_of(parse_envelope, raw) is EventErrorReason.TOO_LARGE
    doc["padding"] = "x" * (MAX_EVENT_BYTES - 2_000)
    assert parse_envelope(json.dumps(doc).encode()).id == "evt-1"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from([
        "data", "data.candidate", "data.candidate.id", "data.team_id", "data.step", "id",
        "time", "type", "specversion", "source", "data.candidate.emails",
    ]),
    value=_json,
)
def test_envelope_never_rejects_what_parse_event_accepts(path: str, value: Any) -> None:
    """Whatever replaces a field, an event parse_event accepts has an envelope with its
    identity; anything else raises only InvalidEvent."""
    raw = mutated(path, value)
    try:
        event = parse_event(raw)
    except InvalidEvent:
        event = None
    try:
        envelope = parse_envelope(raw)
    except InvalidEvent:
        assert event is None, "the envelope rejected a valid event"
        return
    if event is not None:
        assert identity(envelope) == (event.id, event.type, event.time, event.team_id,
                                      event.candidate_id)


@pytest.mark.parametrize("raw", [
    b"\xff\xfe{}",
    b'{"data":' + b"[" * 40 + b"]" * 40 + b"}",
], ids=["not-utf8", "too-deep"])
def test_undecodable_values_get_parse_events_reason(raw: bytes) -> None:
    """Bytes that are not UTF-8, or JSON nested too deep, are rejected by the envelope with the
    reason parse_event gives (invalid_utf8, too_deep)."""
    assert reason_of(parse_envelope, raw) is reason_of(parse_event, raw)
    assert reason_of(parse_envelope, raw) in {EventErrorReason.INVALID_UTF8,
                                              EventErrorReason.TOO_DEEP}


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from([
        "1.0", "", "2026-11-02T09:00:00Z", "2026-11-02T09:00:00", "2026-11-02 09:00:00+02:00",
        "2026-11-02T09:00:00.123456-05:30", "2026-13-02T09:00:00Z", "team:x", "team x",
        "team\n", "email", "sms", "application/json", "text/plain", "application/json\n",
        "com.sourcewhale.candidate.added", "com.sourcewhale.outreach.sent", "x" * 300]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6,
)
_PATHS = ["specversion", "id", "type", "time", "source", "subject", "datacontenttype", "data",
          "data.team_id", "data.user_id", "data.campaign_id", "data.campaign_name",
          "data.changed_fields", "data.step", "data.step.number", "data.step.channel",
          "data.step.subject", "data.reply", "data.candidate", "data.candidate.id",
          "data.candidate.first_name", "data.candidate.last_name", "data.candidate.emails",
          "data.candidate.phones", "data.candidate.social", "data.candidate.variables",
          "data.candidate.tagged_fields", "data.candidate.job_title", "extra"]


def judged_alike(raw: bytes) -> None:
    """parse_envelope accepts exactly what parse_event accepts, with its values, and refuses
    the rest with parse_event's reason and detail."""
    def verdict(parse: Any) -> tuple[Any, InvalidEvent | None]:
        try:
            return parse(raw), None
        except InvalidEvent as exc:
            return None, exc

    event, expected = verdict(parse_event)
    envelope, refused = verdict(parse_envelope)
    if expected is not None:
        assert refused is not None, "parse_envelope accepted what parse_event refuses"
        assert (refused.reason, refused.detail) == (expected.reason, expected.detail)
        return
    assert refused is None, f"parse_envelope refused what parse_event accepts: {refused}"
    assert (envelope.id, envelope.type, envelope.team_id, envelope.candidate_id) == (
        event.id, event.type, event.team_id, event.candidate_id)
    # Digits past the microsecond are rounded by one reader and cut by the other.
    assert abs(envelope.time - event.time) <= timedelta(microseconds=1)
    assert envelope.time.utcoffset() == event.time.utcoffset()


@settings(max_examples=600, deadline=None)
@given(kind=st.sampled_from(sorted(SHORT_TYPES)),
       changes=st.lists(st.tuples(st.sampled_from(_PATHS), _JSON_VALUES | st.just(_DELETE)),
                        max_size=3))
def test_envelope_is_judged_as_parse_event_judges_the_event(
    kind: str, changes: list[tuple[str, Any]],
) -> None:
    """Whatever any field of an event holds, parse_envelope (whose fast check restates the
    models' rules) accepts exactly when parse_event does, and refuses with its reason."""
    doc = event_dict(kind)
    for path, value in changes:
        target: Any = doc
        *parents, last = path.split(".")
        for name in parents:
            target = target.get(name) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if value is _DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    judged_alike(json.dumps(doc).encode())


def test_invalid_utf8_in_a_skipped_field_is_refused() -> None:
    """Bytes that are not UTF-8 anywhere in the value (even where the envelope reader skips)
    make it undecodable, as for parse_event."""
    raw = json.dumps(event_dict("sent")).encode().replace(b"Ada", b"A\xc3\x28a", 1)
    assert b"A\xc3\x28a" in raw
    assert reason_of(parse_envelope, raw) is EventErrorReason.INVALID_UTF8
    assert reason_of(parse_event, raw) is EventErrorReason.INVALID_UTF8


@pytest.mark.parametrize(("path", "value"), [
    ("data.team_id", "team:x"), ("data.team_id", "team x"), ("data.team_id", "tea\tm"),
    ("data.team_id", "\u00a0team"), ("data.team_id", "team\n"), ("data.team_id", ""),
    ("data.team_id", "t" * 257), ("data.team_id", 5), ("id", ""), ("id", "x" * 257), ("id", 7),
    ("data.candidate.id", ""), ("data.candidate.id", "c" * 257),
    ("time", "2026-11-02T09:00:00"), ("time", 1_793_000_000), ("time", "2026-13-02T09:00:00Z"),
    ("time", "2026-11-02 09:00:00+02:00"), ("time", "2026-11-02T09:00:00z"),
    ("time", "2026-11-02T09:00:00.1234567Z"), ("specversion", "1"), ("specversion", 1.0),
    ("type", "com.sourcewhale.CANDIDATE.ADDED"), ("data.candidate", "cand-1"),
    ("datacontenttype", "application/json\n"), ("datacontenttype", "application/cloudevents+json"),
    ("datacontenttype", None), ("source", ""), ("subject", None), ("data.step.number", 0),
    ("data.step.number", 10_001), ("data.step.number", True), ("data.step.number", 1.0),
    ("data.step.channel", "pigeon"), ("data.candidate.emails", ["a"] * 201),
    ("data.candidate.variables", {"k": ["a", 1]}), ("data.candidate.variables", {"": "v"}),
    ("data.candidate.social", {"linkedin": None}), ("data.candidate.first_name", None),
    ("data.changed_fields", [""]), ("data.user_id", None), ("data.user_id", ""),
    ("datacontenttype", "application/\u00bd+json"),
    ("datacontenttype", "application/json\u001c; x"),
    ("datacontenttype", "application/x\u2460+json"), ("time", "2024-05-01T23:59:59.9999999Z"),
    ("extra", {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
])
def test_edge_values_are_judged_as_parse_event_judges_them(path: str, value: Any) -> None:
    """Edge values of the event's fields: parse_envelope accepts exactly when parse_event
    does, and refuses with its reason."""
    judged_alike(mutated(path, value))


def test_deep_nesting_anywhere_is_judged_as_parse_event_judges_it() -> None:
    """Nesting far past any parser's limits in an unknown attribute: too_deep, as parse_event
    says, never an error of the fast check's own."""
    for depth in (40, 300, 2_000):
        raw = mutated("extra", "@").replace(b'"@"', b"[" * depth + b"]" * depth)
        judged_alike(raw)


def test_a_number_too_long_for_the_json_parser_is_judged_as_parse_event_judges_it() -> None:
    """An integer of more than 4,300 digits in an unknown attribute: refused as parse_event
    refuses it (the fast check does not read what it skips)."""
    for digits in (4_300, 4_301, 6_000):
        raw = mutated("extra", "@").replace(b'"@"', b"1" * digits)
        judged_alike(raw)
