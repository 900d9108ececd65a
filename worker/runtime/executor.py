"""Carrying out a decision's effects against Pinpoint, exactly once each.

Every effect reaches Pinpoint from here, through the state store's effect ledger:

- each effect has a deterministic ledger key (one record per team's candidate; one note per
  event reference; one update per event);
- the key is recorded as *intended* before the API call and *done* (with Pinpoint's id) after;
- an intent found without its done mark (a crash, or a timeout whose request may have landed)
  is reconciled against Pinpoint before anything is sent again: a record by its
  ``external_system_reference`` (in job seekers and applications alike, whatever the
  destination is now), a note by the reference marker its text holds (over every page of the
  record's notes).

A record Pinpoint answers 404 for (deleted, or merged away into another person) is looked up
again by its external reference; if no record carries it, `RecordGoneError` tells the processor to
decide the event again as for a candidate not yet synced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

import structlog

from worker.core.decision import (
    CandidateState,
    Decision,
    KeepForBackfill,
    PushCandidate,
    UpdateCandidate,
    WriteNote,
    external_ref,
)
from worker.core.enums import ActionKind, ActionStatus, DestinationKind
from worker.core.events import CampaignEvent
from worker.core.outcome import ActionRecord
from worker.pinpoint.client import postable, writable
from worker.pinpoint.errors import AuthError, InvalidRequestError, NotFoundError
from worker.pinpoint.models import (
    CUSTOM_PREFIX,
    CreatedRecord,
    PinpointCandidate,
    RecordKind,
    RecordRef,
    TenantCredentials,
)
from worker.runtime.claims import NotOwnedError, StartGate
from worker.runtime.ports import PinpointApi
from worker.store.base import EffectStatus, StateStore

log = structlog.get_logger("pinpoint_sync.executor")

T = TypeVar("T")

RECORD_KIND: Final = {
    DestinationKind.JOB_SEEKER: RecordKind.JOB_SEEKERS,
    DestinationKind.APPLICATION: RecordKind.APPLICATIONS,
}
DESTINATION_OF: Final = {kind: dest for dest, kind in RECORD_KIND.items()}
CREATE_ACTION: Final = {
    RecordKind.JOB_SEEKERS: ActionKind.CREATE_JOB_SEEKER,
    RecordKind.APPLICATIONS: ActionKind.CREATE_APPLICATION,
}


class RecordGoneError(InvalidRequestError):
    """The candidate's record is no longer in Pinpoint and none carries its external
    reference: the candidate is to be treated as not yet synced."""


@dataclass
class EffectJob:
    """One event being applied: who it is for, and what its effects came to so far."""

    event: CampaignEvent
    state: CandidateState
    tenant: TenantCredentials
    record: RecordRef | None = None
    pinpoint_candidate_id: str | None = None
    actions: list[ActionRecord] = field(default_factory=list)
    record_created: bool = False
    """Pinpoint created the candidate's record for this event (its intent is never discarded)."""
    record_gone: bool = False
    """The record the store knew is gone from Pinpoint: its done mark is not trusted."""

    @property
    def team(self) -> str:
        return self.event.team_id

    @property
    def candidate(self) -> str:
        return self.event.candidate_id

    def report(self, kind: ActionKind, pinpoint_id: str | None, status: ActionStatus) -> None:
        self.actions.append(ActionRecord(kind=kind, pinpoint_id=pinpoint_id, status=status))

    def reset(self) -> None:
        """Start over (after a wait): no actions reported, the record as the store knows it."""
        self.actions.clear()
        state = self.state
        self.record = None
        if state.record_kind is not None and state.record_id is not None:
            self.record = RecordRef(RECORD_KIND[state.record_kind], state.record_id)


class EffectExecutor:
    """Applies decisions' effects; one instance serves every team and candidate."""

    def __init__(self, *, store: StateStore, pinpoint: PinpointApi,
                 gate: StartGate | None = None) -> None:
        self._store = store
        self._pinpoint = pinpoint
        self._gate = gate
        """Checked before each note is sent: a worker that may have been evicted (its group
        heartbeats unacknowledged too long) or lost the partition starts no call."""

    async def apply(self, job: EffectJob, decision: Decision) -> None:
        """Each action of the decision, in order."""
        team, cand, state = job.team, job.candidate, job.state
        for action in decision.actions:
            if isinstance(action, PushCandidate):
                await self.push(job, action)
                written = {a.note.ref for a in decision.actions
                           if isinstance(a, WriteNote) and a.backfilled}
                for note in state.pending_notes:  # backfill turned off meanwhile: drop them
                    if note.ref not in written:
                        await self._store.remove_pending_note(team, cand, note.ref)
            elif isinstance(action, UpdateCandidate):
                await self.update(job, action)
            elif isinstance(action, WriteNote):
                await self.note(job, action)
                if action.backfilled:
                    await self._store.remove_pending_note(team, cand, action.note.ref)
            elif isinstance(action, KeepForBackfill):
                await self._store.add_pending_note(team, cand, action.note)

    async def _claim(self, key: str, *, team_id: str, kind: str) -> None:
        """Record the effect's intent before its call. No partition lease is held here yet
        (``fence=None``), and a zero attempt window keeps the rule of an intent found again:
        it is reconciled against Pinpoint."""
        await self._store.claim_effect(key, team_id=team_id, kind=kind, fence=None,
                                       attempt_window_s=0.0)

    # ---- the record ----------------------------------------------------------------------------

    async def push(self, job: EffectJob, push: PushCandidate) -> RecordRef:
        """Find or create the candidate's one record; the store then knows it as synced."""
        key = record_key(job.team, job.candidate)
        existing = await self._store.get_effect(key)
        if (existing is not None and existing.status is EffectStatus.DONE
                and existing.pinpoint_id and not job.record_gone):
            ref, candidate_id = decode_record_id(existing.pinpoint_id)
            found = CreatedRecord(ref, candidate_id)
            job.report(CREATE_ACTION[ref.kind], ref.id, ActionStatus.RECONCILED)
        else:
            if existing is None:
                await self._claim(key, team_id=job.team, kind=push.create_kind)
            try:
                found, merged_into, created, status = await self._find_or_create(job, push)
            except (AuthError, InvalidRequestError):
                if existing is None and not job.record_created:
                    # Pinpoint refused it: nothing to reconcile
                    await self._store.release_claim(key, fence=None)
                raise
            await self._store.complete_effect(
                key, encode_record_id(found.ref, found.candidate_id), fence=None)
            action = CREATE_ACTION[found.ref.kind]
            if created:
                job.report(action, found.ref.id, status)
            if merged_into is not None:
                job.report(ActionKind.UPDATE_CANDIDATE, merged_into, status)
            elif not created:
                job.report(action, found.ref.id, status)
        await self._know(job, found)
        return found.ref

    async def _know(self, job: EffectJob, found: CreatedRecord) -> None:
        await self._store.mark_synced(job.team, job.candidate,
                                      pinpoint_candidate_id=found.candidate_id,
                                      record_kind=DESTINATION_OF[found.ref.kind],
                                      record_id=found.ref.id)
        job.pinpoint_candidate_id = found.candidate_id
        job.record = found.ref

    async def _find_or_create(
        self, job: EffectJob, push: PushCandidate,
    ) -> tuple[CreatedRecord, str | None, bool, ActionStatus]:
        """The candidate's record: found by its external reference (after a crash, as either
        kind), merged into the person Pinpoint already has (by e-mail), or created.

        Returns the record, the id of the person merged into (if any), whether a record was
        created, and how the effect came about."""
        api, tenant = self._pinpoint, job.tenant
        kind = RECORD_KIND[push.destination]
        # Looked up before any create, even without an intent in this store: another worker
        # with its own store (or a store that was lost) may have made it already.
        found = await api.find_record_by_external_reference(tenant, push.external_ref, kind)
        if found is not None:
            # Made before a crash: what its push wrote after the create may be missing.
            if rest := _after_create(found.ref.kind, push.fields, merged=False):
                await api.update_person(tenant, found.candidate_id, rest, push.protected,
                                        record=found.ref)
            return found, None, False, ActionStatus.RECONCILED
        person: PinpointCandidate | None = None
        if push.merge and push.email:
            people = await api.find_people_by_email(tenant, push.email)
            if people:
                person = await api.get_candidate(tenant, people[0])
        created = True
        if person is not None and kind is RecordKind.JOB_SEEKERS and person.job_seeker_ids:
            found = CreatedRecord(RecordRef(kind, person.job_seeker_ids[0]), person.id)
            created = False
        else:
            post = {name: value for name, value in push.fields.items()
                    if not name.startswith(CUSTOM_PREFIX)}
            if person is not None:
                post = _keeping_protected(post, push.protected, person)
            person_id = person.id if person is not None else None
            if kind is RecordKind.APPLICATIONS:
                if push.job_id is None:
                    raise InvalidRequestError(
                        "the destination is an application but the campaign maps to no job",
                        operation="create_application")
                found = await api.create_application(tenant, push.job_id, post,
                                                     push.external_ref, candidate_id=person_id)
            else:
                found = await api.create_job_seeker(tenant, post, push.external_ref,
                                                    candidate_id=person_id)
            # From here on the intent must stay: a refused update below leaves the record in
            # Pinpoint, and the next attempt finds it by its external reference.
            job.record_created = True
        if person is not None:
            # Merging into a person Pinpoint already had: protected fields only where empty.
            fields = push.fields if not created else _after_create(
                found.ref.kind, push.fields, merged=True)
            await api.update_person(tenant, person.id, fields, push.protected,
                                    record=found.ref, current=person)
        elif rest := _after_create(found.ref.kind, push.fields, merged=False):
            await api.update_person(tenant, found.candidate_id, rest, push.protected,
                                    record=found.ref)
        return found, person.id if person is not None else None, created, ActionStatus.APPLIED

    async def _relocate(self, job: EffectJob) -> bool:
        """After a 404 on the record or person the store knew: find the record again by its
        external reference (either kind). True when one was found and is now known."""
        prefer = job.record.kind if job.record is not None else RecordKind.JOB_SEEKERS
        found = await self._pinpoint.find_record_by_external_reference(
            job.tenant, external_ref(job.team, job.candidate), prefer)
        if found is None or (found.ref == job.record
                             and found.candidate_id == job.pinpoint_candidate_id):
            log.info("the candidate's record is gone from Pinpoint", team=job.team)
            return False
        await self._store.mark_done(
            record_key(job.team, job.candidate), team_id=job.team,
            kind=CREATE_ACTION[found.ref.kind],
            pinpoint_id=encode_record_id(found.ref, found.candidate_id), fence=None)
        await self._know(job, found)
        log.info("the candidate's record was found again by its external reference",
                 team=job.team, kind=str(found.ref.kind))
        return True

    async def _relocating(self, job: EffectJob, call: Callable[[], Awaitable[T]]) -> T:
        """``call``, and once more after finding the record again if it answered 404."""
        try:
            return await call()
        except NotFoundError:
            if not await self._relocate(job):
                raise RecordGoneError("the candidate's record is gone from Pinpoint",
                                 operation="relocate", status=404) from None
        try:
            return await call()
        except NotFoundError:
            raise RecordGoneError("the candidate's record is gone from Pinpoint",
                             operation="relocate", status=404) from None

    # ---- updates and notes ---------------------------------------------------------------------

    async def update(self, job: EffectJob, update: UpdateCandidate) -> None:
        """Write a manual update on the synced person (and its record's own attributes)."""
        if job.pinpoint_candidate_id is None:
            raise InvalidRequestError("the candidate is synced but its Pinpoint id is unknown",
                                      operation="update_candidate")
        key = f"update:{job.team}:{job.event.id}"
        existing = await self._store.get_effect(key)
        if existing is not None and existing.status is EffectStatus.DONE:
            job.report(ActionKind.UPDATE_CANDIDATE, job.pinpoint_candidate_id,
                       ActionStatus.RECONCILED)
            return
        if existing is None:
            await self._claim(key, team_id=job.team, kind=ActionKind.UPDATE_CANDIDATE)

        async def put() -> None:
            assert job.pinpoint_candidate_id is not None
            await self._pinpoint.update_person(job.tenant, job.pinpoint_candidate_id,
                                               update.fields, update.protected,
                                               record=job.record)

        # An update is a PUT of values: sending it again after a crash is harmless.
        try:
            await self._relocating(job, put)
        except (AuthError, InvalidRequestError):
            await self._store.release_claim(key, fence=None)
            raise
        await self._store.complete_effect(key, job.pinpoint_candidate_id, fence=None)
        job.report(ActionKind.UPDATE_CANDIDATE, job.pinpoint_candidate_id, ActionStatus.APPLIED)

    async def note(self, job: EffectJob, write: WriteNote) -> None:
        """Write a note on the candidate's record, unless it is there already."""
        if job.record is None:
            raise InvalidRequestError("the candidate has no Pinpoint record to note on",
                                      operation="write_comment")
        marker = write.note.ref
        key = f"note:{job.team}:{marker}"
        existing = await self._store.get_effect(key)
        if existing is not None and existing.status is EffectStatus.DONE:
            job.report(ActionKind.WRITE_COMMENT, existing.pinpoint_id, ActionStatus.RECONCILED)
            return
        if existing is None:
            await self._claim(key, team_id=job.team, kind=ActionKind.WRITE_COMMENT)
        look_first = existing is not None
        sent = False

        async def send() -> tuple[str, ActionStatus]:
            nonlocal look_first
            record = job.record
            assert record is not None
            if look_first:  # it may have been written before a crash, or on a record found again
                found = await self._pinpoint.find_comment(job.tenant, record, marker)
                if found is not None:
                    return found.id, ActionStatus.RECONCILED
            look_first = True
            if self._gate is not None and not self._gate.allows(None):
                raise NotOwnedError(f"not sending {key}: this worker may no longer own it")
            nonlocal sent
            sent = True
            comment = await self._pinpoint.write_comment(job.tenant, record, write.note.text,
                                                         marker)
            return comment.id, ActionStatus.APPLIED

        try:
            comment_id, status = await self._relocating(job, send)
        except (AuthError, InvalidRequestError):
            # Released only if nothing was sent: a refusal after a send may come from a retry
            # of an attempt that timed out and landed, and only the intent makes the next try
            # look for the note instead of writing it twice.
            if not sent:
                await self._store.release_claim(key, fence=None)
            raise
        await self._store.complete_effect(key, comment_id, fence=None)
        job.report(ActionKind.WRITE_COMMENT, comment_id, status)


# ---- helpers --------------------------------------------------------------------------------


def record_key(team_id: str, candidate_id: str) -> str:
    """The ledger key of the one record of a team's candidate."""
    return f"record:{team_id}:{candidate_id}"


def encode_record_id(ref: RecordRef, candidate_id: str) -> str:
    return f"{ref.kind}/{ref.id}/{candidate_id}"


def decode_record_id(value: str) -> tuple[RecordRef, str]:
    kind, record_id, candidate_id = value.split("/", 2)
    return RecordRef(RecordKind(kind), record_id), candidate_id


def _after_create(kind: RecordKind, fields: Mapping[str, str], *, merged: bool
                  ) -> dict[str, str]:
    """What a record's POST did not write: custom fields and attributes only the candidate's
    PUT takes; when merging into a known person also what the candidate's PUT writes (the
    person is updated, not only given a record)."""
    posted = postable(kind, fields)
    on_candidate = writable("candidates", "update") if merged else frozenset()
    return {name: value for name, value in fields.items()
            if name.startswith(CUSTOM_PREFIX) or name not in posted or name in on_candidate}


def _keeping_protected(fields: Mapping[str, str], protected: frozenset[str],
                       person: PinpointCandidate) -> dict[str, str]:
    """The fields of a new record for a known person: a protected field keeps the person's
    current value where it has one."""
    out = dict(fields)
    for name in protected:
        current = person.value(name)
        if current is not None and current.strip() and name in out:
            out[name] = current
    return out
