"""The decision function: event + effective policy + the candidate's sync state → decision.

`decide` is pure and deterministic: no I/O, no clock, no randomness; it never raises for a valid
event, policy and state. The decision is an ordered tuple of actions for the executor, an outcome
and a reason code. The rules, in the words of an admin, are in `docs/policy.md`; a unit test runs
that document's table through this function.

In short, for an active integration:

- `candidate.updated`: a synced candidate's record is updated when `sync_manual_updates` is on
  (only the fields fed by `changed_fields`; protected fields only where Pinpoint's are empty).
  It never pushes an unsynced candidate.
- A synced candidate: the activity is noted if its note type is in `create_notes_upon`.
  It is never pushed again (one Pinpoint record per candidate and team).
- An unsynced candidate is pushed when the activity reaches `sync_upon` (a threshold:
  added < replied < interested), or when the activity is note-worthy and `only_notes_on_synced`
  is off. A push first checks the mandatory fields; when some are empty the push is refused
  (`blocked_mandatory_fields`), the candidate stays unsynced and the note is kept for later only
  if `backfill_on_sync` is on. After a push come the notes kept for backfill (in their order,
  if `backfill_on_sync` is still on), then this activity's note.
- An unsynced candidate whose note-worthy activity does not push: the note is kept for later when
  `backfill_on_sync` is on (`deferred`), else skipped (`not_synced_yet`).

Executor contract: a successful `PushCandidate` makes the candidate synced and clears its pending
notes (the `WriteNote(backfilled=True)` actions that follow carry them, or they are dropped because
backfill was turned off). `KeepForBackfill` appends its note to the pending notes.
`WriteNote` targets the candidate's Pinpoint record as known after the preceding actions.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

from worker.core.enums import ActionKind, DestinationKind, EventType, Outcome, Reason
from worker.core.events import CampaignEvent
from worker.core.fields import MappedFields, map_fields, map_filterable
from worker.core.notes import note_ref, note_text
from worker.core.policy import EffectivePolicy

_NO_VALUES: Final[Mapping[str, str]] = MappingProxyType({})


class NoteDraft(NamedTuple):
    """A note to write as a Pinpoint comment.

    - `ref`: short stable reference of the event (`note_ref`); `text` ends with it.
    - `text`: the full comment body.
    - `event_id`: the id of the event the note is about.

    Immutable; a named tuple rather than a frozen dataclass because one is built for most
    events on the hot path, and a tuple is built about three times faster.
    """

    ref: str
    text: str
    event_id: str


@dataclass(frozen=True, slots=True)
class CandidateState:
    """What the worker knows about a candidate of a team (from its state store)."""

    synced: bool = False
    """The candidate has a Pinpoint record made or merged by pinpoint-sync."""
    pinpoint_candidate_id: str | None = None
    record_kind: DestinationKind | None = None
    """The kind of record notes are written on (job seeker or application)."""
    record_id: str | None = None
    pending_notes: tuple[NoteDraft, ...] = ()
    """Notes kept for backfill, oldest first."""


# The actions are named tuples (immutable, and built about three times faster than frozen
# dataclasses: several are built for most events on the hot path). Each is its own class, so
# the executor dispatches on `isinstance`.


class PushCandidate(NamedTuple):
    """Create the candidate's Pinpoint record, or merge into an existing one.

    `merge`: look for an existing record of the same person (known mapping, else e-mail match)
    and update it; off (`do_not_merge`) creates a new one. Either way the executor first looks
    for the record this team's candidate already has through `external_ref` (never two records).
    On an existing record, `protected` fields are written only where Pinpoint's value is empty.

    - `job_id`: the Pinpoint job of the application (when `destination` is `application`).
    - `fields`: Pinpoint field (`first_name`, ..., `custom:<id>`) → value; only non-empty values.
    - `email`: the e-mail to match an existing person on (when merging).
    - `external_ref`: `external_system_reference` of the record (`external_ref`).
    """

    merge: bool
    destination: DestinationKind
    job_id: str | None
    fields: Mapping[str, str]
    protected: frozenset[str]
    email: str | None
    external_ref: str

    @property
    def create_kind(self) -> ActionKind:
        """The action kind of this push when it creates a record."""
        if self.destination is DestinationKind.APPLICATION:
            return ActionKind.CREATE_APPLICATION
        return ActionKind.CREATE_JOB_SEEKER


class UpdateCandidate(NamedTuple):
    """Update the synced candidate's Pinpoint record (protected fields only where empty)."""

    fields: Mapping[str, str]
    protected: frozenset[str]


class WriteNote(NamedTuple):
    """Write a note on the candidate's Pinpoint record (the record known after earlier actions).

    `backfilled`: the note was kept from before the candidate was synced.
    """

    note: NoteDraft
    backfilled: bool


class KeepForBackfill(NamedTuple):
    """Keep a note, to be written when the candidate gets synced."""

    note: NoteDraft


Action = PushCandidate | UpdateCandidate | WriteNote | KeepForBackfill


class Decision(NamedTuple):
    """What to do about one event, and why.

    - `actions`: what the executor carries out, in order.
    - `outcome`, `reason`: the verdict, counted in metrics and written to the outcome record.
    - `detail`: a short explanation for humans (logs, dry-run output); never personal data.
    - `missing_fields`: the empty mandatory fields (outcome `blocked_mandatory_fields`).
    - `filterable`: values of the team's filterable fields, for SourceWhale's search index.
    - `policy_version`: the version of the team settings the decision was made under.
    - `ignored_tagged_fields`: tagged fields ignored because they are not displayed fields.

    Immutable; a named tuple rather than a frozen dataclass because one is built for every
    event, and a tuple of eight fields is built about three times faster.
    """

    actions: tuple[Action, ...]
    outcome: Outcome
    reason: Reason
    detail: str | None = None
    missing_fields: tuple[str, ...] = ()
    filterable: Mapping[str, str] = _NO_VALUES
    policy_version: int | None = None
    ignored_tagged_fields: tuple[str, ...] = ()


def external_ref(team_id: str, candidate_id: str) -> str:
    """The `external_system_reference` of the one Pinpoint record of this team's candidate."""
    return f"sourcewhale:{team_id}:{candidate_id}"


@functools.lru_cache(maxsize=256)
def inactive_decision(policy_version: int | None) -> Decision:
    """The decision on any event of a team whose integration is not active (or that has no
    settings): skipped, whatever the event and the candidate's state."""
    return Decision(
        (),
        Outcome.SKIPPED,
        Reason.INTEGRATION_INACTIVE,
        "the team's Pinpoint integration is not active",
        policy_version=policy_version,
    )


def decide(event: CampaignEvent, policy: EffectivePolicy, state: CandidateState) -> Decision:
    """Decide what to do about `event` for a candidate in `state` under `policy`."""
    if not policy.active:
        return inactive_decision(policy.policy_version)
    ctx = _Context(event, policy, state)
    if event.type is EventType.CANDIDATE_UPDATED:
        return ctx.on_update()
    if state.synced:
        return ctx.on_synced()
    return ctx.on_unsynced()


class _Context:
    """One evaluation of `decide`: its inputs, the mapped fields (computed once), the verdicts."""

    __slots__ = (
        "event",
        "mapped",
        "note_type",
        "policy",
        "selected",
        "state",
    )

    def __init__(self, event: CampaignEvent, policy: EffectivePolicy, state: CandidateState):
        self.event = event
        self.policy = policy
        self.state = state
        self.mapped: MappedFields | None = None
        self.note_type = event.note_type
        self.selected = self.note_type is not None and self.note_type in policy.create_notes_upon

    def fields(self) -> MappedFields:
        if self.mapped is None:
            self.mapped = map_fields(self.event.data.candidate, self.policy)
        return self.mapped

    def verdict(
        self,
        actions: tuple[Action, ...],
        outcome: Outcome,
        reason: Reason,
        detail: str,
        missing: tuple[str, ...] = (),
    ) -> Decision:
        """The decision, with the filterable fields' values and the ignored tags.

        Those need only part of the field mapping: unless the full mapping was already made
        (for a push or an update), only the filterable fields are mapped.
        """
        policy = self.policy
        filterable: Mapping[str, str] = _NO_VALUES
        ignored: tuple[str, ...] = ()
        candidate = self.event.data.candidate
        if policy.filterable or candidate.tagged_fields:
            mapped = self.mapped
            if mapped is None:
                mapped = map_filterable(candidate, policy)
            ignored = mapped.ignored_tags
            if policy.filterable:
                values = mapped.values
                filterable = {f: values[f] for f in policy.filterable if f in values}
        return Decision(
            actions,
            outcome,
            reason,
            detail,
            missing,
            filterable,
            policy.policy_version,
            ignored,
        )

    def draft(self) -> NoteDraft:
        event = self.event
        ref = note_ref(event.data.team_id, event.id)
        return NoteDraft(ref=ref, text=note_text(event, ref), event_id=event.id)

    def on_update(self) -> Decision:
        if not self.state.synced:
            return self.verdict(
                (),
                Outcome.SKIPPED,
                Reason.NOT_SYNCED_YET,
                "the candidate is not in Pinpoint yet; updates never push",
            )
        if not self.policy.sync_manual_updates:
            return self.verdict(
                (), Outcome.SKIPPED, Reason.MANUAL_UPDATES_DISABLED, "sync manual updates is off"
            )
        mapped = self.mapped = map_fields(
            self.event.data.candidate, self.policy, with_sources=True
        )
        changed = self.event.data.changed_fields
        values = mapped.only_changed(changed) if changed else dict(mapped.values)
        if not values:
            return self.verdict(
                (),
                Outcome.SKIPPED,
                Reason.NOTHING_TO_UPDATE,
                "the changed fields feed no Pinpoint field",
            )
        update = UpdateCandidate(MappingProxyType(values), self.policy.protected)
        return self.verdict(
            (update,),
            Outcome.UPDATED,
            Reason.MANUAL_UPDATE_SYNCED,
            f"{len(values)} field(s) updated",
        )

    def on_synced(self) -> Decision:
        # Notes kept for backfill are normally written right after the push; if writing them
        # was interrupted (a paused team, spent retries, a crash), they are still pending on a
        # synced candidate: write them first, in order, so none is lost.
        backlog: tuple[Action, ...] = ()
        if self.policy.backfill_on_sync and self.state.pending_notes:
            backlog = tuple(WriteNote(n, backfilled=True) for n in self.state.pending_notes)
        if self.selected:
            return self.verdict(
                (*backlog, WriteNote(self.draft(), backfilled=False)),
                Outcome.NOTED,
                Reason.NOTE_WRITTEN,
                f"{self.note_type} note on the synced record",
            )
        if backlog:
            return self.verdict(
                backlog,
                Outcome.NOTED,
                Reason.BACKFILL_WRITTEN,
                f"{len(backlog)} note(s) kept for backfill written",
            )
        if self.note_type is None:
            return self.verdict(
                (), Outcome.SKIPPED, Reason.ALREADY_SYNCED, "the candidate is already in Pinpoint"
            )
        return self.verdict(
            (),
            Outcome.SKIPPED,
            Reason.NOTE_TYPE_NOT_SELECTED,
            f"{self.note_type} is not in create notes upon",
        )

    def on_unsynced(self) -> Decision:
        policy = self.policy
        stage = self.event.stage
        reached = stage is not None and stage >= policy.sync_stage
        if reached or (self.selected and not policy.only_notes_on_synced):
            return self.push(reached)
        if not self.selected:
            if self.note_type is None:
                return self.verdict(
                    (),
                    Outcome.SKIPPED,
                    Reason.SYNC_TRIGGER_NOT_REACHED,
                    f"sync upon {policy.sync_upon} not reached",
                )
            return self.verdict(
                (),
                Outcome.SKIPPED,
                Reason.NOTE_TYPE_NOT_SELECTED,
                f"{self.note_type} is not in create notes upon and sync upon "
                f"{policy.sync_upon} is not reached",
            )
        if policy.backfill_on_sync:
            return self.verdict(
                (KeepForBackfill(self.draft()),),
                Outcome.DEFERRED,
                Reason.KEPT_FOR_BACKFILL,
                "not in Pinpoint yet; the note is kept until the candidate syncs",
            )
        return self.verdict(
            (),
            Outcome.SKIPPED,
            Reason.NOT_SYNCED_YET,
            "not in Pinpoint yet and only notes on synced records is on",
        )

    def push(self, reached: bool) -> Decision:
        policy = self.policy
        mapped = self.fields()
        missing = mapped.missing(policy.mandatory)
        if missing:
            kept: tuple[Action, ...] = ()
            if self.selected and policy.backfill_on_sync:
                kept = (KeepForBackfill(self.draft()),)
            return self.verdict(
                kept,
                Outcome.BLOCKED_MANDATORY_FIELDS,
                Reason.MISSING_MANDATORY_FIELDS,
                f"mandatory fields without a value: {', '.join(missing)}",
                missing,
            )
        data = self.event.data
        values = mapped.values
        push = PushCandidate(
            merge=not policy.do_not_merge,
            destination=policy.destination,
            job_id=policy.job_id,
            fields=MappingProxyType(values),
            protected=policy.protected,
            email=values.get("email"),
            external_ref=external_ref(data.team_id, data.candidate.id),
        )
        actions: list[Action] = [push]
        if policy.backfill_on_sync:
            actions.extend(WriteNote(note, backfilled=True) for note in self.state.pending_notes)
        if self.selected:
            actions.append(WriteNote(self.draft(), backfilled=False))
        if reached:
            return self.verdict(
                tuple(actions),
                Outcome.SYNCED,
                Reason.SYNC_TRIGGER_REACHED,
                f"sync upon {policy.sync_upon} reached",
            )
        return self.verdict(
            tuple(actions),
            Outcome.SYNCED,
            Reason.PUSHED_FOR_NOTE,
            f"pushed to carry the {self.note_type} note (only notes on synced records is off)",
        )
