"""Semantic values of the domain, as string enums with documented members.

Every value here is part of a contract (event attributes, settings documents, outcome records,
metric labels), so members are never renamed; new ones may be added.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class EventType(StrEnum):
    """The CloudEvents `type` of a campaign event (DESIGN 5.1)."""

    CANDIDATE_ADDED = "com.sourcewhale.candidate.added"
    """The candidate was added to a campaign."""
    OUTREACH_SENT = "com.sourcewhale.outreach.sent"
    """A campaign step went out to the candidate (`data.step` says which and how)."""
    CANDIDATE_REPLIED = "com.sourcewhale.candidate.replied"
    """The candidate replied (`data.reply` says on which channel)."""
    CANDIDATE_INTERESTED = "com.sourcewhale.candidate.interested"
    """The candidate was marked interested (by a recruiter or by sentiment detection)."""
    CANDIDATE_NOT_INTERESTED = "com.sourcewhale.candidate.not_interested"
    """The candidate was marked not interested."""
    CANDIDATE_UPDATED = "com.sourcewhale.candidate.updated"
    """The candidate's details were edited in SourceWhale (`data.changed_fields` says which)."""
    CANDIDATE_UNSUBSCRIBED = "com.sourcewhale.candidate.unsubscribed"
    """The candidate unsubscribed from outreach."""

    @property
    def short(self) -> str:
        """The type without its `com.sourcewhale.` prefix, e.g. `outreach.sent` (for labels)."""
        return self.value.removeprefix("com.sourcewhale.")


class Channel(StrEnum):
    """An outreach step type, also the channel a reply came in on."""

    EMAIL = "email"
    """An e-mail (automated step)."""
    SMS = "sms"
    """A text message (automated step)."""
    LINKEDIN_INMAIL = "linkedin_inmail"
    """A LinkedIn InMail (manual step)."""
    LINKEDIN_CONNECTION_REQUEST = "linkedin_connection_request"
    """A LinkedIn connection request (manual step)."""
    PHONE_CALL = "phone_call"
    """A phone call (manual step)."""
    TASK = "task"
    """A general task (manual step)."""


class NoteType(StrEnum):
    """An activity that may produce a note, as selected in `general.create_notes_upon`.

    An `outreach.sent` event's note type is its step's channel; the responses have their own.
    `candidate.added` and `candidate.updated` never produce a note.
    """

    EMAIL = "email"
    """An e-mail step was sent."""
    SMS = "sms"
    """A text message step was sent."""
    LINKEDIN_INMAIL = "linkedin_inmail"
    """A LinkedIn InMail step was sent."""
    LINKEDIN_CONNECTION_REQUEST = "linkedin_connection_request"
    """A LinkedIn connection request step was sent."""
    PHONE_CALL = "phone_call"
    """A phone call step was done."""
    TASK = "task"
    """A task step was done."""
    REPLIED = "replied"
    """The candidate replied."""
    INTERESTED = "interested"
    """The candidate was marked interested."""
    NOT_INTERESTED = "not_interested"
    """The candidate was marked not interested."""
    UNSUBSCRIBED = "unsubscribed"
    """The candidate unsubscribed."""


class SyncTrigger(StrEnum):
    """`sync.sync_upon`: the point in a campaign at which a candidate is pushed into Pinpoint.

    The triggers are a threshold, ordered `added` < `replied` < `interested`: an activity that
    reaches a later stage also satisfies an earlier one (a candidate marked interested has also
    responded, and was added). See `SyncStage` and `docs/policy.md`.
    """

    ADDED = "added"
    """Push on being added to a campaign (any campaign activity reaches this)."""
    REPLIED = "replied"
    """Push once the candidate responds (a reply, or being marked interested / not interested)."""
    INTERESTED = "interested"
    """Push only once the candidate is marked interested."""

    @property
    def stage(self) -> SyncStage:
        """The rank of this trigger on the campaign's stage ladder."""
        return SyncStage[self.name]


class SyncStage(IntEnum):
    """The ladder of campaign stages an activity proves a candidate reached (for `sync_upon`)."""

    ADDED = 1
    """The candidate is in a campaign."""
    REPLIED = 2
    """The candidate responded."""
    INTERESTED = 3
    """The candidate is interested."""


class Outcome(StrEnum):
    """What became of an event; counted in metrics and written to the outcome record."""

    SYNCED = "synced"
    """The candidate was pushed (created or merged) into Pinpoint, with any notes that follow."""
    NOTED = "noted"
    """A note was written on the candidate's existing Pinpoint record."""
    UPDATED = "updated"
    """The candidate's existing Pinpoint record was updated from SourceWhale's changes."""
    DEFERRED = "deferred"
    """The note was kept, to be written when the candidate is synced (`backfill_on_sync`)."""
    SKIPPED = "skipped"
    """Deliberately nothing to do (the reason says why)."""
    BLOCKED_MANDATORY_FIELDS = "blocked_mandatory_fields"
    """The push was refused: mandatory fields are empty; the candidate stays unsynced."""
    DEAD_LETTERED = "dead_lettered"
    """The event was sent to the dead-letter topic (the reason says why)."""


class Reason(StrEnum):
    """Why an event had its outcome. The reason codes of metrics, outcome records and DLQ."""

    SYNC_TRIGGER_REACHED = "sync_trigger_reached"
    """synced: the activity reached the `sync_upon` trigger."""
    PUSHED_FOR_NOTE = "pushed_for_note"
    """synced: the activity is note-worthy and `only_notes_on_synced` is off, so the candidate was
    pushed first to carry the note."""
    NOTE_WRITTEN = "note_written"
    """noted: the activity is selected in `create_notes_upon` and the candidate is synced."""
    MANUAL_UPDATE_SYNCED = "manual_update_synced"
    """updated: `sync_manual_updates` is on and the candidate is synced."""
    BACKFILL_WRITTEN = "backfill_written"
    """noted: notes kept for backfill were still pending on a synced candidate (writing them
    after the push was interrupted) and are written now, in order."""
    KEPT_FOR_BACKFILL = "kept_for_backfill"
    """deferred: not synced yet, `only_notes_on_synced` and `backfill_on_sync` are on."""
    INTEGRATION_INACTIVE = "integration_inactive"
    """skipped: the team has no settings or its integration is not active."""
    NOT_SYNCED_YET = "not_synced_yet"
    """skipped: the activity would be noted (or the update applied) but the candidate is not in
    Pinpoint yet and the settings do not push it now."""
    NOTE_TYPE_NOT_SELECTED = "note_type_not_selected"
    """skipped: the activity's note type is not in `create_notes_upon` (and no push is due)."""
    SYNC_TRIGGER_NOT_REACHED = "sync_trigger_not_reached"
    """skipped: the activity does not reach `sync_upon` and carries no note."""
    ALREADY_SYNCED = "already_synced"
    """skipped: the candidate is already in Pinpoint and the activity carries no note."""
    MANUAL_UPDATES_DISABLED = "manual_updates_disabled"
    """skipped: a `candidate.updated` event while `sync_manual_updates` is off."""
    NOTHING_TO_UPDATE = "nothing_to_update"
    """skipped: a `candidate.updated` event whose changed fields feed no Pinpoint field."""
    ALREADY_APPLIED = "already_applied"
    """skipped: the ledger shows the event's effects were already applied (redelivery, replay)."""
    MISSING_MANDATORY_FIELDS = "missing_mandatory_fields"
    """blocked_mandatory_fields: the listed mandatory fields have no value."""
    INVALID_EVENT = "invalid_event"
    """dead_lettered: the event is valid JSON but breaks the event contract."""
    UNDECODABLE = "undecodable"
    """dead_lettered: the record is not UTF-8 JSON, too large or too deeply nested."""
    PINPOINT_INVALID = "pinpoint_invalid"
    """dead_lettered: Pinpoint refused the request as invalid (400/404/422)."""
    RETRIES_EXHAUSTED = "retries_exhausted"
    """dead_lettered: transient failures outlasted the retry budget."""


class DestinationKind(StrEnum):
    """Where a pushed candidate lands in Pinpoint (the record its notes are written on)."""

    JOB_SEEKER = "job_seeker"
    """A job seeker in the talent pipeline (the default)."""
    APPLICATION = "application"
    """An application to the Pinpoint job mapped to the campaign in `destination.campaign_jobs`."""


class ActionKind(StrEnum):
    """The kind of a Pinpoint effect, as listed in the outcome record (DESIGN 5.3)."""

    CREATE_JOB_SEEKER = "create_job_seeker"
    """A job seeker record was created."""
    CREATE_APPLICATION = "create_application"
    """An application record was created."""
    UPDATE_CANDIDATE = "update_candidate"
    """An existing Pinpoint candidate was updated (a merge or a manual update)."""
    WRITE_COMMENT = "write_comment"
    """A comment (note) was written on the candidate's record."""


class ActionStatus(StrEnum):
    """How an effect listed in the outcome record ended."""

    APPLIED = "applied"
    """Sent to Pinpoint and confirmed."""
    RECONCILED = "reconciled"
    """Found already done (ledger or Pinpoint), not sent again."""
    PLANNED = "planned"
    """Would be sent (a dry run)."""
    FAILED = "failed"
    """Not done; the event was dead-lettered or is being retried."""
