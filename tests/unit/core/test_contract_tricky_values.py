"""Tricky values: the JSON Schemas in `schemas/` and the parsers give the same verdict.

Each row puts one value at one place of a valid campaign event or settings document and says
whether the contract accepts it. The row is judged twice, as an integrator and as the worker
would: by a JSON Schema validator (jsonschema, Draft 2020-12, asserting `format` and reading
`pattern` as ECMA-262 regular expressions, as JSON Schema defines them) on the schema
generated from the models, and by the worker's own parser (`parse_event`, `parse_envelope`,
`parse_settings`). Both must give the row's verdict. Settings rules JSON Schema cannot state
(contradictions between settings, Pinpoint field names) are left to `test_core_settings.py`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import regress
from hypothesis import given, settings
from hypothesis import strategies as st_
from jsonschema import Draft202012Validator, ValidationError, validators

from worker.core.errors import InvalidEvent, InvalidSettings
from worker.core.events import parse_envelope, parse_event
from worker.core.schemagen import generate
from worker.core.settings import parse_settings

from .factories import event_dict

pytestmark = pytest.mark.unit

_DELETE: Any = object()


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """`pattern` as JSON Schema means it (ECMA-262: `$` is the end of the text, never the
    place before a final newline as in Python's `re`)."""
    if validator.is_type(instance, "string") and regress.Regex(pattern).find(instance) is None:
        yield ValidationError(f"does not match {pattern!r}")


Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
SCHEMAS = generate()
EVENT_SCHEMA = Validator(SCHEMAS["campaign-event.schema.json"],
                         format_checker=Draft202012Validator.FORMAT_CHECKER)
SETTINGS_SCHEMA = Validator(SCHEMAS["team-settings.schema.json"],
                            format_checker=Draft202012Validator.FORMAT_CHECKER)


@dataclass(frozen=True)
class Row:
    """One value at one place of a document, and whether the contract accepts it."""

    name: str
    document: Literal["event", "settings"]
    path: str
    value: Any
    verdict: Literal["accept", "refuse"]


def ev(name: str, path: str, value: Any, verdict: Literal["accept", "refuse"]) -> Row:
    return Row(name, "event", path, value, verdict)


def st(name: str, path: str, value: Any, verdict: Literal["accept", "refuse"]) -> Row:
    return Row(name, "settings", path, value, verdict)


ROWS = [
    # Integers: a JSON number without a fraction; never a string or a boolean.
    ev("step number as a string", "data.step.number", "3", "refuse"),
    ev("step number true", "data.step.number", True, "refuse"),
    ev("step number false", "data.step.number", False, "refuse"),
    ev("step number 3.0 (no fraction)", "data.step.number", 3.0, "accept"),
    ev("step number 100.0 (no fraction)", "data.step.number", 100.0, "accept"),
    ev("step number 3.5", "data.step.number", 3.5, "refuse"),
    ev("step number 0", "data.step.number", 0, "refuse"),
    ev("step number huge", "data.step.number", 10**30, "refuse"),
    ev("step number null", "data.step.number", None, "refuse"),
    ev("step number in a list", "data.step.number", [3], "refuse"),
    # Times: an RFC 3339 date-time string with its offset.
    ev("time as a Unix number", "time", 1_714_557_600, "refuse"),
    ev("time as a Unix number in a string", "time", "1714557600", "refuse"),
    ev("time without timezone", "time", "2024-05-01T10:00:00", "refuse"),
    ev("time with a space for T", "time", "2024-05-01 10:00:00Z", "refuse"),
    ev("time without seconds", "time", "2024-05-01T10:00Z", "refuse"),
    ev("time offset without colon", "time", "2024-05-01T10:00:00+0200", "refuse"),
    ev("date only", "time", "2024-05-01", "refuse"),
    ev("time on February 30", "time", "2024-02-30T10:00:00Z", "refuse"),
    ev("time with hour 24", "time", "2024-05-01T24:00:00Z", "refuse"),
    ev("time with a trailing newline", "time", "2024-05-01T10:00:00Z\n", "refuse"),
    ev("time in lower case", "time", "2024-05-01t10:00:00z", "accept"),
    ev("time with nanoseconds and offset", "time", "2024-05-01T10:00:00.123456789+05:30",
       "accept"),
    ev("time with offset -00:00", "time", "2024-05-01T10:00:00-00:00", "accept"),
    ev("time empty", "time", "", "refuse"),
    ev("time null", "time", None, "refuse"),
    # Strings, lengths and unicode.
    ev("specversion as a number", "specversion", 1.0, "refuse"),
    ev("event id empty", "id", "", "refuse"),
    ev("event id a number", "id", 7, "refuse"),
    ev("event id of 256 astral characters", "id", "\U0001d7d8" * 256, "accept"),
    ev("event id of 257 characters", "id", "x" * 257, "refuse"),
    ev("candidate id of 256 accented characters", "data.candidate.id", "\u00e9" * 256,
       "accept"),
    ev("first name empty", "data.candidate.first_name", "", "accept"),
    ev("first name in unicode", "data.candidate.first_name", "Zo\u00eb \u5c71\u7530 \U0001f433",
       "accept"),
    ev("first name null", "data.candidate.first_name", None, "refuse"),
    ev("team id with a colon", "data.team_id", "a:b", "refuse"),
    ev("team id with a trailing newline", "data.team_id", "team\n", "refuse"),
    ev("team id with a no-break space", "data.team_id", "\u00a0team", "refuse"),
    ev("team id with a next-line character", "data.team_id", "te\u0085am", "refuse"),
    ev("team id with a byte-order mark", "data.team_id", "te\ufeffam", "accept"),
    ev("content type with a non-ASCII letter", "datacontenttype", "application/\u00e9+json",
       "refuse"),
    ev("content type with parameters", "datacontenttype",
       "application/cloudevents+json; charset=utf-8", "accept"),
    ev("subject a number", "subject", 5, "refuse"),
    ev("user id null (the system)", "data.user_id", None, "accept"),
    ev("datacontenttype null", "datacontenttype", None, "accept"),
    ev("channel in upper case", "data.step.channel", "EMAIL", "refuse"),
    ev("unknown type", "type", "com.sourcewhale.meeting.booked", "refuse"),
    ev("outreach.sent without its step", "data.step", _DELETE, "refuse"),
    # Nested wrong types.
    ev("emails a string, not a list", "data.candidate.emails", "ada@example.com", "refuse"),
    ev("emails holding null", "data.candidate.emails", [None], "refuse"),
    ev("list variable holding a number", "data.candidate.variables", {"skills": ["a", 1]},
       "refuse"),
    ev("variable an object", "data.candidate.variables", {"k": {"x": "y"}}, "refuse"),
    ev("variable with an empty name", "data.candidate.variables", {"": "v"}, "refuse"),
    ev("social URL a number", "data.candidate.social", {"linkedin": 5}, "refuse"),
    ev("changed field empty", "data.changed_fields", [""], "refuse"),
    # Forward compatibility: unknown attributes anywhere are tolerated.
    ev("unknown envelope attribute", "traceparent", "00-0af7651916cd43dd-01", "accept"),
    ev("unknown nested attribute object", "x_meta", {"a": [1, {"b": None}]}, "accept"),
    ev("unknown candidate attribute", "data.candidate.pronouns", "she/her", "accept"),
    ev("unknown step attribute", "data.step.variant", 3, "accept"),
    ev("unknown attribute with a huge integer", "x_big", 10**40, "accept"),
    # Settings: versions, booleans, strict everywhere.
    st("version as a string", "version", "5", "refuse"),
    st("version 5.0 (no fraction)", "version", 5.0, "accept"),
    st("version true", "version", True, "refuse"),
    st("version negative", "version", -1, "refuse"),
    st("version past 64 bits", "version", 2**64 + 5, "accept"),
    st("version 1e30 (a whole number past 64 bits)", "version", 1e30, "accept"),
    st("version 4.5", "version", 4.5, "refuse"),
    st("version null", "version", None, "refuse"),
    st("active 'yes'", "integration.active", "yes", "refuse"),
    st("active 'true'", "integration.active", "true", "refuse"),
    st("active 1", "integration.active", 1, "refuse"),
    st("active false", "integration.active", False, "accept"),
    st("do_not_merge null", "general.do_not_merge", None, "refuse"),
    st("override's only_notes_on_synced null", "sync.user_overrides",
       {"u2": {"only_notes_on_synced": None}}, "accept"),
    st("override's only_notes_on_synced 'no'", "sync.user_overrides",
       {"u2": {"only_notes_on_synced": "no"}}, "refuse"),
    st("schema_version as a string", "schema_version", "1", "refuse"),
    st("schema_version 1.0", "schema_version", 1.0, "accept"),
    st("schema_version true", "schema_version", True, "refuse"),
    st("schema_version 2", "schema_version", 2, "refuse"),
    st("team id a number", "team_id", 42, "refuse"),
    st("note types a string, not a list", "general.create_notes_upon", "email", "refuse"),
    st("note type unknown", "general.create_notes_upon", ["fax"], "refuse"),
    st("sync trigger capitalised", "sync.sync_upon", "Added", "refuse"),
    st("subdomain in upper case", "integration.subdomain", "Acme", "refuse"),
    st("subdomain with a trailing newline", "integration.subdomain", "acme\n", "refuse"),
    st("admin id a number", "sync.admins", ["u1", 2], "refuse"),
    st("job id a number", "destination", {"campaign_jobs": {"cmp-1": 7}}, "refuse"),
    st("unknown settings group", "theme", {"colour": "teal"}, "accept"),
    st("unknown integration attribute", "integration.region", "eu", "accept"),
]

SETTINGS_BASE: dict[str, Any] = {
    "schema_version": 1,
    "team_id": "acme",
    "version": 4,
    "integration": {"active": True, "subdomain": "acme", "api_key_ref": "acme-key"},
    "general": {"do_not_merge": False},
    "sync": {"sync_upon": "added"},
}


def build(row: Row) -> dict[str, Any]:
    """The row's document: a valid one with the row's value put at its path."""
    doc = event_dict("sent") if row.document == "event" else copy.deepcopy(SETTINGS_BASE)
    target = doc
    *parents, last = row.path.split(".")
    for name in parents:
        target = target[name]
    if row.value is _DELETE:
        del target[last]
    else:
        target[last] = row.value
    return doc


def parser_accepts(row: Row, raw: bytes) -> bool:
    """The worker's verdict; parse_envelope (the skip path) must agree with parse_event."""
    if row.document == "settings":
        try:
            parse_settings(raw)
        except InvalidSettings:
            return False
        return True
    verdicts = []
    for parse in (parse_event, parse_envelope):
        try:
            parse(raw)
        except InvalidEvent:
            verdicts.append(False)
        else:
            verdicts.append(True)
    assert verdicts[0] == verdicts[1], "parse_envelope and parse_event disagree"
    return verdicts[0]


def test_the_table_is_large_and_balanced() -> None:
    """The table covers events and settings, values accepted and values refused."""
    assert len(ROWS) >= 30
    assert len({row.name for row in ROWS}) == len(ROWS)
    for document in ("event", "settings"):
        verdicts = {row.verdict for row in ROWS if row.document == document}
        assert verdicts == {"accept", "refuse"}


def test_base_documents_are_valid() -> None:
    """The documents the rows change are valid for both the schema and the parser."""
    event, settings = event_dict("sent"), SETTINGS_BASE
    assert EVENT_SCHEMA.is_valid(event)
    assert SETTINGS_SCHEMA.is_valid(settings)
    parse_event(json.dumps(event).encode())
    parse_settings(json.dumps(settings).encode())


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_schema_and_parser_give_the_rows_verdict(row: Row) -> None:
    """The JSON Schema and the parser both accept, or both refuse, as the row says."""
    doc = build(row)
    raw = json.dumps(doc, ensure_ascii=False).encode()
    schema = EVENT_SCHEMA if row.document == "event" else SETTINGS_SCHEMA
    expected = row.verdict == "accept"
    schema_errors = [e.message for e in schema.iter_errors(json.loads(raw))]
    assert (not schema_errors) is expected, f"JSON Schema: {schema_errors or 'accepted'}"
    assert parser_accepts(row, raw) is expected, "parser"


_TRICKY_TEXT = st_.text(
    alphabet=st_.sampled_from([
        *"aZ09:-_.+;/ T\t\n\r",
        "\x0b", "\x1c", "\x85", "\xa0", "\u1680", "\u2000", "\u200b", "\u2028", "\u3000",
        "\ufeff", "\u00e9", "\u2460", "\u0663", "\U0001f433"]),
    max_size=8,
)
_EVENT_VALUES = st_.one_of(
    st_.none(), st_.booleans(), st_.integers(-3, 20_000), st_.floats(allow_nan=False),
    _TRICKY_TEXT,
    st_.sampled_from(["", "1.0", "application/json", "application/cloudevents+json; x=1",
                      "application/\u00e9+json", "application/json\u2028", "team-1",
                      "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+05:60", "2024-05-01T10:00:00",
                      "2024-05-01 10:00:00Z", "2024-05-01T10:00:00.1234567891Z", "email"]),
    st_.lists(_TRICKY_TEXT, max_size=2), st_.dictionaries(_TRICKY_TEXT, _TRICKY_TEXT, max_size=2),
)
_EVENT_PATHS = ["id", "source", "time", "specversion", "subject", "datacontenttype",
                "data.team_id", "data.user_id", "data.campaign_id", "data.step.number",
                "data.step.channel", "data.candidate.id", "data.candidate.first_name",
                "data.candidate.emails", "data.candidate.variables", "data.changed_fields"]


@settings(max_examples=400, deadline=None)
@given(path=st_.sampled_from(_EVENT_PATHS), value=_EVENT_VALUES)
def test_schema_and_parser_agree_on_any_value(path: str, value: Any) -> None:
    """Whatever value is put at a field of an event, the JSON Schema and the parser (and the
    skip path's envelope reader) give the same verdict."""
    row = Row("generated", "event", path, value, "accept")
    raw = json.dumps(build(row), ensure_ascii=False).encode()
    assert EVENT_SCHEMA.is_valid(json.loads(raw)) is parser_accepts(row, raw)
