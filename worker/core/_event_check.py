"""The campaign event contract once more, as msgspec structs: a fast check that an event is valid.

`worker/core/events.py` holds the contract (pydantic models, the JSON Schemas and every reason
given for a rejected event). This module restates the same rules for msgspec's decoder, which
validates a whole event in a third of the time, so that the worker can tell a valid event from an
invalid one on its hottest path (events of teams whose integration is off: `parse_envelope`).

It never has the last word on a rejection: whatever it refuses is parsed again by the models,
which either give the reason or accept it (where the models are more lenient, such as a step
number written `3.0`, or a time with a lower-case `t`). What it must never do is accept what
the models refuse; the tests in ``tests/unit/core/test_core_event_envelope.py`` hold it to
that, field by field and by property (mutations anywhere in an event). A change to a model
needs the same change here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Final, Literal, Union, cast

import msgspec
from msgspec import Meta, Struct

from worker.core.enums import Channel, EventType
from worker.core.limits import MAX_ENTRIES, MAX_ID, MAX_ITEMS, MAX_LONG_TEXT, MAX_SHORT_TEXT
from worker.core.strict import (
    JSON_MEDIA_TYPE_PYTHON_PATTERN,
    RFC3339_PYTHON_PATTERN,
    TEAM_ID_PYTHON_PATTERN,
)

# \A and \Z, not ^ and $: in Python's re, $ also matches before a final newline.
_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]
_TeamId = Annotated[str, Meta(min_length=1, max_length=MAX_ID, pattern=TEAM_ID_PYTHON_PATTERN)]
_Short = Annotated[str, Meta(max_length=MAX_SHORT_TEXT)]
_Long = Annotated[str, Meta(max_length=MAX_LONG_TEXT)]
_Key = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]
# The patterns are the models' own, spelled for Python's re (worker/core/strict.py).
_ContentType = Annotated[
    str, Meta(max_length=200, pattern=JSON_MEDIA_TYPE_PYTHON_PATTERN)
]


class _Step(Struct, frozen=True, gc=False):
    number: Annotated[int, Meta(ge=1, le=10_000)]
    channel: Channel
    subject: _Short | None = None
    body: _Long | None = None


class _Reply(Struct, frozen=True, gc=False):
    channel: Channel
    snippet: _Long | None = None


class _Candidate(Struct, frozen=True, gc=False):
    id: _Id
    first_name: _Short
    last_name: _Short
    emails: Annotated[list[_Short], Meta(max_length=MAX_ITEMS)] = []
    phones: Annotated[list[_Short], Meta(max_length=MAX_ITEMS)] = []
    job_title: _Short | None = None
    company: _Short | None = None
    location: _Short | None = None
    social: Annotated[dict[_Key, _Short], Meta(max_length=MAX_ENTRIES)] = {}
    variables: Annotated[
        dict[_Key, _Short | Annotated[list[_Short], Meta(max_length=MAX_ITEMS)]],
        Meta(max_length=MAX_ENTRIES),
    ] = {}
    tagged_fields: Annotated[dict[_Key, _Short], Meta(max_length=MAX_ENTRIES)] = {}


class _Data(Struct, frozen=True, gc=False, kw_only=True):
    team_id: _TeamId
    campaign_id: _Id
    candidate: _Candidate
    user_id: _Id | None = None
    campaign_name: _Short | None = None
    step: _Step | None = None
    reply: _Reply | None = None
    changed_fields: Annotated[list[_Key], Meta(max_length=MAX_ITEMS)] = []


class _SentData(_Data, frozen=True, gc=False, kw_only=True):
    step: _Step


class _RepliedData(_Data, frozen=True, gc=False, kw_only=True):
    reply: _Reply


class CheckedEvent(Struct, frozen=True, gc=False, kw_only=True, tag_field="type"):
    """A valid event as the fast check decodes it (only what identifies it is used)."""

    specversion: Literal["1.0"]
    id: _Id
    source: Annotated[str, Meta(min_length=1, max_length=MAX_SHORT_TEXT)]
    time: str
    subject: _Short | None = None
    datacontenttype: _ContentType | None = "application/json"
    data: _Data


def _event_struct(event_type: EventType) -> type[CheckedEvent]:
    special: dict[EventType, type[_Data]] = {EventType.OUTREACH_SENT: _SentData,
                                             EventType.CANDIDATE_REPLIED: _RepliedData}
    data = special.get(event_type, _Data)
    struct = msgspec.defstruct(
        f"Checked_{event_type.name}", [("data", data)], bases=(CheckedEvent,),
        tag=event_type.value, frozen=True, gc=False, kw_only=True)
    return cast(type[CheckedEvent], struct)


_BY_TYPE: Final = {t: _event_struct(t) for t in EventType}
_TYPE_OF: Final = {struct: t for t, struct in _BY_TYPE.items()}
# One decoder for the tagged union of the seven types (the union is built at run time).
_DECODER: Final = msgspec.json.Decoder(Union[tuple(_BY_TYPE.values())])  # noqa: UP007


_RFC3339: Final = re.compile(RFC3339_PYTHON_PATTERN)


def event_time(text: str) -> datetime | None:
    """The time of a checked event, or None (ask the models).

    The time is decoded as text and judged here: msgspec's own datetime reader takes forms
    RFC 3339 refuses (a space for the `T`, an offset without its colon), and a compiled
    pattern called from Python costs less than msgspec calling the same one. The pattern fixes
    the syntax; `fromisoformat` then judges the calendar and refuses a lower-case `t` or `z`,
    which the models accept (stricter, never looser).
    """
    if _RFC3339.match(text) is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def check_event(raw: bytes) -> tuple[CheckedEvent, EventType] | None:
    """The decoded event and its type when msgspec finds it valid, else None (ask the models).

    Strings it does not keep are not checked for UTF-8, and nesting is bounded only by its own
    recursion limit: the caller checks both (see `events.parse_envelope`).
    """
    try:
        event = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return event, _TYPE_OF[type(event)]
