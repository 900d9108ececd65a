"""The state store's contract: what the worker keeps between events, across restarts and hosts.

What lives here, per team:

- each candidate's **sync state** and the SourceWhale → Pinpoint **id mapping**;
- **pending backfill notes**: activity skipped while the candidate was not yet synced, kept in
  order to be written once it is (``sync.backfill_on_sync``);
- the **effect ledger with claims**: before an external effect is sent, its caller *claims* it
  (`StateStore.claim_effect`). The claim is atomic and says who won: exactly one caller gets
  ``NEW`` for a key, whatever the number of processes or hosts racing for it. An intent whose
  attempt may still land belongs to its holder (``BUSY`` for everyone else); one whose holder
  was fenced, or whose window has passed, is ``RECLAIMED`` by the next caller, who reconciles it
  against Pinpoint before sending; a ``DONE`` entry is never sent again;
- **partition leases** with an epoch: the worker that owns a partition holds its lease, and every
  ledger write carries its `Fence`; the store compares the fence with the lease in the same
  transaction, so a worker that lost its partition (paused, cut off, a zombie) is refused with
  `FencedError` instead of claiming or completing an effect;
- **held events** of teams that cannot be served now, durable and in per-candidate order;
- **redrive memory**: which dead letters were already sent back, so a redrive is never doubled.

Every method is a coroutine and never blocks the event loop (SQLite works on a thread of its own,
PostgreSQL through an asynchronous driver). Every write is durable when the call returns. Keys
of the ledger are chosen by the caller and deterministic for the effect (e.g. derived from the
event id and the action), so that a redelivered event finds its own earlier claim.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from worker.core.decision import CandidateState, NoteDraft
    from worker.core.enums import DestinationKind


class EffectStatus(enum.StrEnum):
    """Where an external effect stands in the ledger."""

    INTENDED = "intended"
    """Claimed before the API call; the call may or may not have reached Pinpoint."""

    DONE = "done"
    """Pinpoint confirmed the effect; it must never be sent again."""


class ClaimStatus(enum.StrEnum):
    """What a claim tells its caller to do."""

    NEW = "new"
    """This caller recorded the intent: it sends the effect."""

    RECLAIMED = "reclaimed"
    """An earlier attempt exists, from a fenced holder or past its window: this caller holds the
    claim now, but reconciles against Pinpoint before sending (once
    ``previous_attempt_until`` has passed, the earlier attempt can no longer land)."""

    BUSY = "busy"
    """A live holder's attempt is within its window: this caller must not send; it may wait
    and claim again."""

    DONE = "done"
    """The effect is done (``pinpoint_id`` says with what id): never send it again."""


@dataclass(frozen=True, slots=True)
class Fence:
    """Which lease a ledger write is made under: a partition and the epoch its owner holds."""

    topic: str
    partition: int
    epoch: int


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's ownership of one partition, as the store granted it."""

    topic: str
    partition: int
    epoch: int
    """Incremented by the store on every acquisition: the fence of this ownership."""
    owner: str
    expires_at: datetime
    ttl_s: float
    """How long each renewal extends the lease."""
    previous_owner: str | None
    """Who held the partition before (``None`` if nobody, or it was released)."""
    previous_attempts_until: datetime | None
    """When the last attempt begun under an earlier epoch can no longer land (``None`` if none
    can): the new owner waits until then before reconciling those effects."""

    @property
    def fence(self) -> Fence:
        """The fence every ledger write made under this lease carries."""
        return Fence(self.topic, self.partition, self.epoch)


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
    """When the intent was first recorded (UTC)."""
    updated_at: datetime
    """When the entry last changed (UTC)."""
    holder: Fence | None = None
    """The fence of the claim's current holder (``None``: a tool owning no partition)."""
    attempt_until: datetime | None = None
    """The latest time the holder's attempt may still land."""
    attempts: int = 1
    """How many times the effect was claimed (``NEW`` and each ``RECLAIMED``)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to `StateStore.claim_effect`."""

    status: ClaimStatus
    key: str
    pinpoint_id: str | None = None
    """For ``DONE``: the id Pinpoint gave the effect, if known."""
    attempt_until: datetime | None = None
    """For ``NEW`` and ``RECLAIMED``: until when this caller's attempt may land."""
    previous_attempt_until: datetime | None = None
    """For ``RECLAIMED`` and ``BUSY``: until when the earlier holder's attempt may land."""


@dataclass(frozen=True, slots=True)
class HeldEvent:
    """An event kept durably while its team cannot be served."""

    id: int
    """Increasing in hold order: the order events of one candidate are released in."""
    team_id: str
    candidate_key: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    reason: str
    held_at: datetime


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """What ``pinpoint-sync store status`` shows."""

    backend: str
    """``sqlite`` or ``postgresql``."""
    location: str
    """The file or the server (never with a password)."""
    schema_version: int
    """The newest migration applied."""
    supported_version: int
    """The newest migration this code knows."""
    counts: Mapping[str, int]
    """Rows per table (ledger split into intents and done entries)."""


class StateStore(Protocol):
    """What the worker needs from its state store (see the module docstring)."""

    # -- candidates --------------------------------------------------------------------------

    async def load_candidate(self, team_id: str, candidate_id: str) -> CandidateState:
        """Return the candidate's sync state, mapping and pending notes (in insertion order).

        A candidate never seen returns the default, unsynced state.
        """
        ...

    async def mark_synced(
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

    async def add_pending_note(self, team_id: str, candidate_id: str, note: NoteDraft) -> None:
        """Keep a backfill note; adding a note whose ``ref`` is already pending is a no-op."""
        ...

    async def remove_pending_note(self, team_id: str, candidate_id: str, ref: str) -> None:
        """Forget a pending note once written; removing an unknown ``ref`` is a no-op."""
        ...

    # -- effect ledger -----------------------------------------------------------------------

    async def claim_effect(
        self, key: str, *, team_id: str, kind: str, fence: Fence | None,
        attempt_window_s: float,
    ) -> Claim:
        """Claim an effect before its API call (see `ClaimStatus` for what each answer means).

        ``attempt_window_s`` is the longest an attempt started now may still land (the API
        timeout plus the server's grace). Raises `FencedError` if ``fence`` is stale.
        """
        ...

    async def complete_effect(self, key: str, pinpoint_id: str | None, *,
                              fence: Fence | None) -> None:
        """Mark the effect done, with Pinpoint's id for what it created or changed.

        Completing a done effect again is allowed (a known id is kept if the new one is
        ``None``). Raises `UnknownEffectError` if ``key`` was never claimed, `FencedError` if
        ``fence`` is stale.
        """
        ...

    async def release_claim(self, key: str, *, fence: Fence | None) -> None:
        """Forget an intent that Pinpoint definitely did not apply (e.g. a 400/422).

        A later replay then starts afresh instead of reconciling. Only the claim's holder
        releases it: a ``DONE`` entry, an unknown key or another holder's claim is left alone.
        Raises `FencedError` if ``fence`` is stale.
        """
        ...

    async def mark_done(self, key: str, *, team_id: str, kind: str,
                        pinpoint_id: str | None = None, fence: Fence | None) -> None:
        """Record an effect as done at once, with no claim before it: for marks that need no
        reconciliation (an event fully processed). Keeps a known id if ``pinpoint_id`` is None.
        """
        ...

    async def get_effect(self, key: str) -> EffectRecord | None:
        """Return the ledger entry for ``key``, if any."""
        ...

    async def intended_effects(self, team_id: str | None = None) -> list[EffectRecord]:
        """Return the intents without a done mark (oldest first), for one team or all."""
        ...

    # -- leases ------------------------------------------------------------------------------

    async def acquire_lease(self, topic: str, partition: int, owner: str,
                            ttl_s: float) -> Lease:
        """Take the partition's lease with a new epoch, fencing whoever held it before.

        Kafka's group coordinator decides who owns a partition; the lease turns that decision
        into a fence the store enforces, so acquiring always succeeds.
        """
        ...

    async def renew_lease(self, lease: Lease) -> bool:
        """Extend the lease by its ttl; ``False`` if it was taken over or released."""
        ...

    async def release_lease(self, lease: Lease) -> None:
        """Give the partition up (its epoch stays, so the next owner's is newer)."""
        ...

    # -- held events -------------------------------------------------------------------------

    async def hold_event(  # noqa: PLR0917 (an event's coordinates, in their usual order)
        self, team_id: str, candidate_key: str, topic: str, partition: int, offset: int,
        key: bytes | None, value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]], reason: str, *, fence: Fence | None,
    ) -> int:
        """Keep an event durably for later; returns its id (increasing in hold order)."""
        ...

    async def held_events(self, team_id: str, limit: int, *,
                          after: int | None = None) -> list[HeldEvent]:
        """The team's held events in hold order, from after the id ``after``."""
        ...

    async def held_for_candidate(self, team_id: str, candidate_key: str) -> list[HeldEvent]:
        """The candidate's held events in hold order."""
        ...

    async def release_held(self, ids: Sequence[int]) -> int:
        """Forget held events once applied (or dead-lettered); returns how many were removed."""
        ...

    async def held_counts(self) -> dict[str, tuple[int, datetime]]:
        """Per team: how many events are held and when the oldest was."""
        ...

    # -- redrive memory ----------------------------------------------------------------------

    async def remember_redrive(self, dlq_topic: str, partition: int, offset: int,
                               replay_id: str) -> bool:
        """Remember a dead letter as redriven: ``True`` if new, ``False`` if it already was."""
        ...

    async def redriven(self, dlq_topic: str, partition: int, offset: int) -> str | None:
        """The replay id a dead letter was redriven under, if it was."""
        ...

    # -- maintenance -------------------------------------------------------------------------

    async def status(self) -> StoreStatus:
        """Schema version and counts per table."""
        ...

    async def prune(self, older_than: timedelta) -> dict[str, int]:
        """Delete done ledger entries and done marks older than ``older_than``.

        Never intents, leases, held events or redrive memory. Returns the counts removed.
        """
        ...

    async def close(self) -> None:
        """Release the store; calling it again is a no-op, using the store afterwards fails."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
