"""The state store's contract: what the worker keeps between events and across restarts.

Five things live here (the first four per team):

- each candidate's **sync state** and the SourceWhale → Pinpoint **id mapping** (the Pinpoint
  candidate and the record the candidate landed as: a job seeker or an application);
- **pending backfill notes**: activity skipped while the candidate was not yet synced, kept in
  order to be written once it is (``sync.backfill_on_sync``);
- the **effect ledger**: every external effect (record created, record updated, note written) is
  recorded as ``INTENDED`` before the API call and marked ``DONE`` with Pinpoint's id after it.
  An ``INTENDED`` entry found later (after a crash, on redelivery or replay) means the call may or
  may not have reached Pinpoint: the caller reconciles it against Pinpoint before sending again.
  A ``DONE`` entry means the effect must not be sent again;
- **what was redriven**: each dead letter (by its topic, partition and offset) sent back to the
  replay topic, and under which replay id, so that running the same redrive twice sends nothing
  twice.

Methods are synchronous on purpose: they are called from the asyncio thread and are local,
small transactions (the SQLite implementation commits each write on its own, durable across a
crash of the process). Keys of the effect ledger are chosen by the caller and must be
deterministic for the effect (e.g. derived from the event id and the action), so that a
redelivered event finds its own earlier intent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from worker.core.decision import CandidateState, NoteDraft
    from worker.core.enums import DestinationKind


class EffectStatus(enum.StrEnum):
    """Where an external effect stands in the ledger."""

    INTENDED = "intended"
    """Recorded before the API call; the call may or may not have reached Pinpoint."""

    DONE = "done"
    """Pinpoint confirmed the effect; it must never be sent again."""


@dataclass(frozen=True, slots=True)
class EffectRecord:
    """One entry of the effect ledger."""

    key: str
    """The caller's deterministic key for the effect (unique across the store)."""
    team_id: str
    kind: str
    """What the effect is, e.g. ``create_job_seeker`` or ``write_comment``."""
    status: EffectStatus
    pinpoint_id: str | None
    """The id Pinpoint gave the created or updated object, once known."""
    created_at: datetime
    """When the intent was recorded (UTC)."""
    updated_at: datetime
    """When the entry last changed (UTC)."""


class StateStore(Protocol):
    """What the worker needs from its state store (see the module docstring)."""

    def load_candidate(self, team_id: str, candidate_id: str) -> CandidateState:
        """Return the candidate's sync state, mapping and pending notes (in insertion order).

        A candidate never seen returns the default, unsynced state.
        """
        ...

    def mark_synced(
        self,
        team_id: str,
        candidate_id: str,
        *,
        pinpoint_candidate_id: str,
        record_kind: DestinationKind,
        record_id: str,
    ) -> None:
        """Record that the candidate exists in Pinpoint, with the ids it has there."""
        ...

    def add_pending_note(self, team_id: str, candidate_id: str, note: NoteDraft) -> None:
        """Keep a backfill note; adding a note whose ``ref`` is already pending is a no-op."""
        ...

    def remove_pending_note(self, team_id: str, candidate_id: str, ref: str) -> None:
        """Forget a pending note once written; removing an unknown ``ref`` is a no-op."""
        ...

    def begin_effect(self, key: str, *, team_id: str, kind: str) -> EffectRecord:
        """Record the intent of an effect before its API call.

        If ``key`` is already in the ledger, return the existing entry unchanged: the caller
        then reconciles an ``INTENDED`` one against Pinpoint or skips a ``DONE`` one.
        """
        ...

    def complete_effect(self, key: str, pinpoint_id: str | None) -> None:
        """Mark the effect done, with Pinpoint's id for what it created or changed.

        Completing a done effect again is allowed (it keeps a known id if the new one is
        ``None``). Raises `UnknownEffectError` if ``key`` was never begun.
        """
        ...

    def mark_done(self, key: str, *, team_id: str, kind: str,
                  pinpoint_id: str | None = None) -> None:
        """Record an effect as done at once, with no intent before it: for marks that need no
        reconciliation (an event fully processed). Keeps a known id if ``pinpoint_id`` is None.
        """
        ...

    def discard_effect(self, key: str) -> None:
        """Forget an ``INTENDED`` effect that Pinpoint definitely did not apply.

        For a call rejected outright (e.g. 400/422, then dead-lettered): a later replay of the
        event then starts afresh instead of reconciling. A ``DONE`` entry is never discarded
        (the call is a no-op for it), nor is an unknown key.
        """
        ...

    def get_effect(self, key: str) -> EffectRecord | None:
        """Return the ledger entry for ``key``, if any."""
        ...

    def intended_effects(self, team_id: str | None = None) -> list[EffectRecord]:
        """Return the intents without a done mark (oldest first), for one team or all."""
        ...

    def remember_redrive(self, dlq_topic: str, partition: int, offset: int,
                         replay_id: str) -> bool:
        """Remember that the dead letter at ``dlq_topic``/``partition``/``offset`` was redriven
        under ``replay_id``. True if it is newly remembered; False (the first replay id kept)
        when it was already."""
        ...

    def redriven(self, dlq_topic: str, partition: int, offset: int) -> str | None:
        """The replay id the dead letter was redriven under, or None if it never was."""
        ...

    def close(self) -> None:
        """Release the store; calling it again is a no-op, using the store afterwards fails."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
