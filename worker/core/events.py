"""The campaign event contract (`docs/contracts.md`) and `parse_event`.

CloudEvents 1.0 in structured JSON mode, one event per Kafka record, record key
`"{team_id}:{candidate_id}"`. Seven event types share the envelope and the common `data` fields;
`outreach.sent` requires `data.step` and `candidate.replied` requires `data.reply`.

Forward compatibility: unknown extra attributes (in the envelope, `data`, the candidate, the step
or the reply) are tolerated and ignored. An unknown `type`, a missing required field or a wrong
type is invalid, and types are strict (`worker/core/strict.py`): `"3"` or `true` is not a step
number, a Unix number or a time without its offset is not a time. Limits (size, nesting, field
lengths) keep one hostile record from costing much.

`parse_event` goes straight from the record's bytes to a `CampaignEvent`, raising `InvalidEvent`
with a typed reason and a detail naming the field and the problem. `parse_envelope` validates
the same way but gives only what identifies an event (its id, type, time, team and candidate),
for events whose data is never used (a team whose integration is not active), at about a third
of the cost.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from worker.core._event_check import check_event, event_time
from worker.core._jsonguard import describe_errors, nesting_depth_exceeds
from worker.core.enums import Channel, EventType, NoteType, SyncStage
from worker.core.errors import EventErrorReason, InvalidEvent
from worker.core.limits import (
    MAX_ENTRIES,
    MAX_EVENT_BYTES,
    MAX_ID,
    MAX_ITEMS,
    MAX_LONG_TEXT,
    MAX_NESTING,
    MAX_SHORT_TEXT,
)
from worker.core.strict import JSON_MEDIA_TYPE_PATTERN, TEAM_ID_PATTERN, Integer, Rfc3339Time

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
TeamId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=TEAM_ID_PATTERN)
]
ShortText = Annotated[str, StringConstraints(max_length=MAX_SHORT_TEXT)]
LongText = Annotated[str, StringConstraints(max_length=MAX_LONG_TEXT)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]

_TOLERANT = ConfigDict(frozen=True, extra="ignore")


class Step(BaseModel):
    """The campaign step an `outreach.sent` event is about."""

    model_config = _TOLERANT

    number: Annotated[int, Integer(ge=1, le=10_000, description="1-based position in the campaign")]
    channel: Channel
    subject: ShortText | None = None
    body: LongText | None = None


class Reply(BaseModel):
    """The reply a `candidate.replied` event is about."""

    model_config = _TOLERANT

    channel: Channel
    snippet: LongText | None = Field(default=None, description="the start of the reply's text")


class CandidateSnapshot(BaseModel):
    """The candidate as SourceWhale holds it when the event was emitted."""

    model_config = _TOLERANT

    id: Id
    first_name: ShortText
    last_name: ShortText
    emails: Annotated[list[ShortText], Field(default_factory=list, max_length=MAX_ITEMS)]
    phones: Annotated[list[ShortText], Field(default_factory=list, max_length=MAX_ITEMS)]
    job_title: ShortText | None = None
    company: ShortText | None = None
    location: ShortText | None = None
    social: Annotated[
        dict[Key, ShortText],
        Field(
            default_factory=dict,
            max_length=MAX_ENTRIES,
            description="network (linkedin, twitter, ...) → URL",
        ),
    ]
    variables: Annotated[
        dict[Key, ShortText | Annotated[list[ShortText], Field(max_length=MAX_ITEMS)]],
        Field(
            default_factory=dict,
            max_length=MAX_ENTRIES,
            description="SourceWhale variable → string or list",
        ),
    ]
    tagged_fields: Annotated[
        dict[Key, ShortText],
        Field(
            default_factory=dict,
            max_length=MAX_ENTRIES,
            description="Pinpoint field → value tagged by a user",
        ),
    ]


class EventData(BaseModel):
    """The `data` of a campaign event: the common fields, and the type-specific ones.

    `step` is required for `outreach.sent`, `reply` for `candidate.replied`; `changed_fields`
    is meaningful for `candidate.updated` (empty means "unknown: take every field").
    `campaign_name` is optional: when present, notes name the campaign.
    """

    model_config = _TOLERANT

    team_id: TeamId
    user_id: Id | None = Field(default=None, description="who caused it (absent: the system)")
    campaign_id: Id
    campaign_name: ShortText | None = None
    candidate: CandidateSnapshot
    step: Step | None = None
    reply: Reply | None = None
    changed_fields: Annotated[list[Key], Field(default_factory=list, max_length=MAX_ITEMS)]


class OutreachSentData(EventData):
    """`data` of `outreach.sent`: the step is required."""

    step: Step


class RepliedData(EventData):
    """`data` of `candidate.replied`: the reply is required."""

    reply: Reply


_RESPONSE_NOTES: Final[dict[EventType, NoteType]] = {
    EventType.CANDIDATE_REPLIED: NoteType.REPLIED,
    EventType.CANDIDATE_INTERESTED: NoteType.INTERESTED,
    EventType.CANDIDATE_NOT_INTERESTED: NoteType.NOT_INTERESTED,
    EventType.CANDIDATE_UNSUBSCRIBED: NoteType.UNSUBSCRIBED,
}

_CHANNEL_NOTES: Final[dict[Channel, NoteType]] = {c: NoteType(c.value) for c in Channel}

EVENT_STAGES: Final[dict[EventType, SyncStage | None]] = {
    EventType.CANDIDATE_ADDED: SyncStage.ADDED,
    EventType.OUTREACH_SENT: SyncStage.ADDED,
    EventType.CANDIDATE_REPLIED: SyncStage.REPLIED,
    EventType.CANDIDATE_INTERESTED: SyncStage.INTERESTED,
    EventType.CANDIDATE_NOT_INTERESTED: SyncStage.REPLIED,
    EventType.CANDIDATE_UNSUBSCRIBED: SyncStage.ADDED,
    EventType.CANDIDATE_UPDATED: None,
}
"""The campaign stage each event type proves the candidate reached (for `sync_upon`).

A reply and a not-interested mark are responses (`replied`); being marked interested reaches
`interested`; any other campaign activity shows the candidate is in a campaign (`added`).
A `candidate.updated` event is an edit, not campaign progress, and never triggers a push.
"""


class CampaignEvent(BaseModel):
    """A campaign event: the CloudEvents envelope around `EventData`."""

    model_config = ConfigDict(frozen=True, extra="ignore", title="CampaignEvent")

    specversion: Literal["1.0"]
    id: Id
    source: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT)]
    type: EventType
    time: Rfc3339Time
    subject: ShortText | None = Field(default=None, description="candidate/{candidate_id}")
    datacontenttype: (
        Annotated[
            str,
            StringConstraints(
                max_length=200, pattern=JSON_MEDIA_TYPE_PATTERN
            ),
        ]
        | None
    ) = "application/json"
    data: EventData

    @property
    def key(self) -> str:
        """The Kafka record key of this event: `"{team_id}:{candidate_id}"`."""
        return f"{self.data.team_id}:{self.data.candidate.id}"

    @property
    def team_id(self) -> str:
        """The team the event belongs to."""
        return self.data.team_id

    @property
    def candidate_id(self) -> str:
        """SourceWhale's id of the candidate."""
        return self.data.candidate.id

    @property
    def note_type(self) -> NoteType | None:
        """The note type of this activity (`create_notes_upon`), None if it is never noted.

        An `outreach.sent` event's note type is its step's channel.
        """
        if self.type is EventType.OUTREACH_SENT:
            step = self.data.step
            return _CHANNEL_NOTES[step.channel] if step is not None else None
        return _RESPONSE_NOTES.get(self.type)

    @property
    def stage(self) -> SyncStage | None:
        """The campaign stage this activity proves the candidate reached (None: no stage)."""
        return EVENT_STAGES[self.type]

    @property
    def event_time(self) -> datetime:
        """The event's `time` attribute (timezone-aware)."""
        return self.time


class CandidateAddedEvent(CampaignEvent):
    """`com.sourcewhale.candidate.added`: the candidate was added to a campaign."""

    model_config = ConfigDict(title="CandidateAddedEvent")
    type: Literal[EventType.CANDIDATE_ADDED]


class OutreachSentEvent(CampaignEvent):
    """`com.sourcewhale.outreach.sent`: a campaign step went out (`data.step` is required)."""

    model_config = ConfigDict(title="OutreachSentEvent")
    type: Literal[EventType.OUTREACH_SENT]
    data: OutreachSentData


class CandidateRepliedEvent(CampaignEvent):
    """`com.sourcewhale.candidate.replied`: the candidate replied (`data.reply` is required)."""

    model_config = ConfigDict(title="CandidateRepliedEvent")
    type: Literal[EventType.CANDIDATE_REPLIED]
    data: RepliedData


class CandidateInterestedEvent(CampaignEvent):
    """`com.sourcewhale.candidate.interested`: the candidate was marked interested."""

    model_config = ConfigDict(title="CandidateInterestedEvent")
    type: Literal[EventType.CANDIDATE_INTERESTED]


class CandidateNotInterestedEvent(CampaignEvent):
    """`com.sourcewhale.candidate.not_interested`: the candidate was marked not interested."""

    model_config = ConfigDict(title="CandidateNotInterestedEvent")
    type: Literal[EventType.CANDIDATE_NOT_INTERESTED]


class CandidateUpdatedEvent(CampaignEvent):
    """`com.sourcewhale.candidate.updated`: the candidate's details changed in SourceWhale."""

    model_config = ConfigDict(title="CandidateUpdatedEvent")
    type: Literal[EventType.CANDIDATE_UPDATED]


class CandidateUnsubscribedEvent(CampaignEvent):
    """`com.sourcewhale.candidate.unsubscribed`: the candidate unsubscribed from outreach."""

    model_config = ConfigDict(title="CandidateUnsubscribedEvent")
    type: Literal[EventType.CANDIDATE_UNSUBSCRIBED]


EVENT_MODELS: Final[dict[EventType, type[CampaignEvent]]] = {
    EventType.CANDIDATE_ADDED: CandidateAddedEvent,
    EventType.OUTREACH_SENT: OutreachSentEvent,
    EventType.CANDIDATE_REPLIED: CandidateRepliedEvent,
    EventType.CANDIDATE_INTERESTED: CandidateInterestedEvent,
    EventType.CANDIDATE_NOT_INTERESTED: CandidateNotInterestedEvent,
    EventType.CANDIDATE_UPDATED: CandidateUpdatedEvent,
    EventType.CANDIDATE_UNSUBSCRIBED: CandidateUnsubscribedEvent,
}
"""The model of each event type (also the source of `schemas/events/*.schema.json`)."""

AnyCampaignEvent = Annotated[
    CandidateAddedEvent
    | OutreachSentEvent
    | CandidateRepliedEvent
    | CandidateInterestedEvent
    | CandidateNotInterestedEvent
    | CandidateUpdatedEvent
    | CandidateUnsubscribedEvent,
    Field(discriminator="type"),
]

_ADAPTER: Final[TypeAdapter[AnyCampaignEvent]] = TypeAdapter(AnyCampaignEvent)
_VALIDATE_JSON: Final = _ADAPTER.validator.validate_json
"""The adapter's validator, called directly: `TypeAdapter.validate_json` only forwards its
default options, one Python call per event more on the hot path."""
_TAGS: Final = frozenset(t.value for t in EventType)
_TOO_LONG: Final = frozenset({"string_too_long", "too_long"})


def parse_event(raw: bytes) -> CampaignEvent:
    """Parse a campaign event from a Kafka record value.

    The size (`MAX_EVENT_BYTES`) is checked first; then UTF-8, JSON, nesting (the parser's own
    recursion limit) and the model in one pass over the bytes. A rejected event nesting deeper
    than `MAX_NESTING` is reported as `too_deep` (no valid event nests that deep).
    Raises `InvalidEvent` whose `reason` says which check failed and whose `detail` names the
    field(s) and the problem (never their values).
    """
    _check_size(raw)
    try:
        event: CampaignEvent = _VALIDATE_JSON(raw)
    except ValidationError as exc:
        raise _rejected(raw, _translate(exc)) from None
    return event


def _check_size(raw: bytes) -> None:
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(
            EventErrorReason.TOO_LARGE,
            f"event is {len(raw)} bytes, the limit is {MAX_EVENT_BYTES}",
        )


def _rejected(raw: bytes, error: InvalidEvent) -> InvalidEvent:
    """The error to raise for a rejected value, said precisely (the error path only)."""
    # The parser itself stops at its recursion limit, and a valid event never nests deeper than
    # MAX_NESTING, so depth is judged only for rejects.
    if nesting_depth_exceeds(raw, MAX_NESTING):
        return InvalidEvent(
            EventErrorReason.TOO_DEEP, f"JSON nests deeper than {MAX_NESTING} levels"
        )
    if error.reason is EventErrorReason.MALFORMED_JSON:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return InvalidEvent(
                EventErrorReason.INVALID_UTF8, f"not UTF-8: {exc.reason} at byte {exc.start}"
            )
    return error


class EventEnvelope(msgspec.Struct, frozen=True, gc=False):
    """What identifies a campaign event: enough to report on an event whose data will not be
    used (see `parse_envelope`). A msgspec struct: built for every such event, in C."""

    id: str
    type: EventType
    time: datetime
    team_id: str
    candidate_id: str


def parse_envelope(raw: bytes) -> EventEnvelope:
    """Validate an event like `parse_event` and give only what identifies it, about three times
    faster (this runs for every event of a team whose integration is off).

    It raises exactly when `parse_event` raises, with the same `InvalidEvent`: a valid event is
    recognised by a fast check of the same rules (`worker/core/_event_check.py`), and anything
    that check does not accept outright (or that nests deeply, or is not ASCII and not UTF-8
    either) is parsed by `parse_event`, which gives the verdict and the reason.
    """
    _check_size(raw)
    # What the fast check does not look at is left to parse_event: deep nesting, bytes that
    # are not UTF-8, and (in a value long enough to hold one) a number past the JSON parser's
    # 4,300 digits.
    if (raw.count(b"{") + raw.count(b"[") <= MAX_NESTING and (raw.isascii() or _utf8(raw))
            and (len(raw) <= _LONGEST_NUMBER or _LONG_NUMBER.search(raw) is None)):
        checked = check_event(raw)
        if checked is not None:
            event, event_type = checked
            time = event_time(event.time)
            if time is not None:
                data = event.data
                return EventEnvelope(event.id, event_type, time, data.team_id,
                                     data.candidate.id)
    full = parse_event(raw)
    return EventEnvelope(full.id, full.type, full.time, full.team_id, full.candidate_id)


_LONGEST_NUMBER: Final = 4_300
_LONG_NUMBER: Final = re.compile(rb"[0-9]{%d}" % (_LONGEST_NUMBER + 1))


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def event_from_dict(obj: Any) -> CampaignEvent:
    """Validate an already-decoded event (tests, tools); raises `InvalidEvent`."""
    try:
        return _ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise _translate(exc) from None


def _translate(exc: ValidationError) -> InvalidEvent:
    errors, detail = describe_errors(exc, skip_first=_TAGS)
    kinds = {e["type"] for e in errors}
    if "json_invalid" in kinds:
        return InvalidEvent(EventErrorReason.MALFORMED_JSON, detail)
    if "model_attributes_type" in kinds or "dict_type" in kinds or "model_type" in kinds:
        top_level = [e for e in errors if not e["loc"]]
        if top_level:
            return InvalidEvent(EventErrorReason.MALFORMED_JSON, "the event is not a JSON object")
    # A discriminated union (the event) and a plain enum field (the envelope) say it apart.
    unknown_type = "union_tag_invalid" in kinds or any(
        e["type"] == "enum" and tuple(e["loc"]) == ("type",) for e in errors)
    if unknown_type:
        allowed = ", ".join(sorted(_TAGS))
        return InvalidEvent(
            EventErrorReason.UNKNOWN_TYPE, f"type: unknown event type; expected one of {allowed}"
        )
    if "union_tag_not_found" in kinds:
        return InvalidEvent(EventErrorReason.INVALID_EVENT, "type: Field required")
    if kinds & _TOO_LONG:
        return InvalidEvent(EventErrorReason.FIELD_TOO_LONG, detail)
    return InvalidEvent(EventErrorReason.INVALID_EVENT, detail)
