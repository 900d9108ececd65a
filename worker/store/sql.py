"""The store's logic, written once over SQL that SQLite and PostgreSQL both run.

`SqlStateStore` implements every `StateStore` method as one transaction function taking a `Tx`;
the two databases differ only in how a transaction is run (`SqlStateStore._run`) and in a few
spellings kept in `Dialect` (placeholders, row locks, timestamps, null-safe equality).

The claim is decided inside one transaction that also checks the caller's fence: an insert that
does nothing on conflict tells whether this caller created the intent (``NEW``); otherwise the
existing row is locked and judged (``DONE``, ``BUSY`` or taken over as ``RECLAIMED``). SQLite
serialises writers (``BEGIN IMMEDIATE``); PostgreSQL locks the rows (``FOR UPDATE`` on the
effect, ``FOR SHARE`` on the lease, which an acquisition updates), so a lease cannot move on
between the fence check and the write.
"""

from __future__ import annotations

import abc
import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from worker.core.decision import CandidateState, NoteDraft
from worker.core.enums import DestinationKind
from worker.store.base import (
    Claim,
    ClaimStatus,
    EffectRecord,
    EffectStatus,
    Fence,
    HeldEvent,
    Lease,
    StoreStatus,
)
from worker.store.errors import FencedError, UnknownEffectError
from worker.store.migrations import SCHEMA_VERSION

__all__ = ["Dialect", "SqlStateStore", "Tx"]

T = TypeVar("T")
Row = tuple[Any, ...]

_INTENDED = EffectStatus.INTENDED.value
_DONE = EffectStatus.DONE.value
_DONE_MARK_KIND = "event"
"""The kind of the processor's done marks (an event fully processed), counted apart by prune."""

_EFFECT_COLUMNS = (
    "key, team_id, kind, status, pinpoint_id, created_at, updated_at,"
    " fence_topic, fence_partition, fence_epoch, attempt_until, attempts"
)
_HELD_COLUMNS = (
    "id, team_id, candidate_key, topic, part, msg_offset, key, value, headers, reason, held_at"
)
_COUNTED_TABLES = ("candidates", "pending_notes", "leases", "held_events", "redrives")


def utc_now() -> datetime:
    """The default clock of the stores."""
    return datetime.now(UTC)


class Tx(Protocol):
    """One open transaction (SQL written with ``?`` placeholders)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the rows it changed."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The spellings that differ between the two databases."""

    name: str
    for_update: str
    """Suffix locking a read row for writing (empty where the transaction already excludes)."""
    for_share: str
    same: str
    """Null-safe equality operator."""
    effects_order: str
    """Column giving the ledger's insertion order."""
    timestamps_as_text: bool
    """SQLite keeps UTC ISO-8601 text of fixed width (so text order is time order)."""

    def ts(self, value: datetime) -> Any:
        """A timestamp as a parameter."""
        value = value.astimezone(UTC)
        if self.timestamps_as_text:
            return value.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        return value

    def dt(self, value: Any) -> datetime:
        """A timestamp read back."""
        if isinstance(value, str):
            return datetime.fromisoformat(value).astimezone(UTC)
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        raise TypeError(f"not a timestamp: {value!r}")

    def opt_dt(self, value: Any) -> datetime | None:
        return None if value is None else self.dt(value)


def _encode_headers(headers: Sequence[tuple[str, bytes | None]]) -> str:
    return json.dumps([
        [name, None if value is None else base64.b64encode(value).decode("ascii")]
        for name, value in headers
    ])


def _decode_headers(text: str) -> tuple[tuple[str, bytes | None], ...]:
    return tuple(
        (name, None if value is None else base64.b64decode(value))
        for name, value in json.loads(text)
    )


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


class SqlStateStore(abc.ABC):
    """Every `StateStore` method over a `Tx`; subclasses (SQLite, PostgreSQL) say how
    transactions run, through the abstract methods below."""

    dialect: Dialect

    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    # -- what a subclass provides -------------------------------------------------------------

    @abc.abstractmethod
    async def _run(self, op: Callable[[Tx], Awaitable[T]], *, write: bool) -> T:
        """Run ``op`` in one transaction (a write transaction if ``write``)."""

    @abc.abstractmethod
    async def _schema_version(self) -> int:
        ...

    @abc.abstractmethod
    def _location(self) -> str:
        ...

    @abc.abstractmethod
    async def open(self) -> Self:
        ...

    @abc.abstractmethod
    async def migrate(self) -> list[int]:
        """Apply the missing migrations now (under the store's lock); returns those applied."""

    @abc.abstractmethod
    async def close(self) -> None:
        ...

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- helpers ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _effect(self, row: Row) -> EffectRecord:
        (key, team_id, kind, status, pinpoint_id, created_at, updated_at,
         fence_topic, fence_partition, fence_epoch, attempt_until, attempts) = row
        holder = (
            None if fence_topic is None
            else Fence(fence_topic, int(fence_partition), int(fence_epoch))
        )
        return EffectRecord(
            key=key,
            team_id=team_id,
            kind=kind,
            status=EffectStatus(status),
            pinpoint_id=pinpoint_id,
            created_at=self.dialect.dt(created_at),
            updated_at=self.dialect.dt(updated_at),
            holder=holder,
            attempt_until=self.dialect.opt_dt(attempt_until),
            attempts=int(attempts),
        )

    def _held(self, row: Row) -> HeldEvent:
        (id_, team_id, candidate_key, topic, part, offset, key, value, headers, reason,
         held_at) = row
        return HeldEvent(
            id=int(id_), team_id=team_id, candidate_key=candidate_key, topic=topic,
            partition=int(part), offset=int(offset), key=_bytes(key), value=_bytes(value),
            headers=_decode_headers(headers), reason=reason, held_at=self.dialect.dt(held_at),
        )

    async def _lease_epoch(self, tx: Tx, topic: str, partition: int,
                           lock: str) -> tuple[int, str | None] | None:
        row = await tx.fetchone(
            "SELECT epoch, owner FROM leases WHERE topic = ? AND part = ?" + lock,
            (topic, partition),
        )
        return None if row is None else (int(row[0]), row[1])

    async def _check_fence(self, tx: Tx, fence: Fence | None) -> None:
        """Refuse a write whose fence is not the partition's current, owned epoch.

        The lease row is read with a share lock, so an acquisition (which updates it) waits
        for this transaction: the check holds until the write commits.
        """
        if fence is None:
            return
        current = await self._lease_epoch(tx, fence.topic, fence.partition,
                                          self.dialect.for_share)
        if current is None or current[0] != fence.epoch or current[1] is None:
            raise FencedError(fence.topic, fence.partition, fence.epoch,
                              None if current is None else current[0])

    @staticmethod
    def _fence_params(fence: Fence | None) -> tuple[str | None, int | None, int | None]:
        if fence is None:
            return (None, None, None)
        return (fence.topic, fence.partition, fence.epoch)

    # -- candidates ---------------------------------------------------------------------------

    async def load_candidate(self, team_id: str, candidate_id: str) -> CandidateState:
        """Return the candidate's sync state, mapping and pending notes (insertion order)."""
        async def op(tx: Tx) -> tuple[Row | None, list[Row]]:
            row = await tx.fetchone(
                "SELECT synced, pinpoint_candidate_id, record_kind, record_id FROM candidates"
                " WHERE team_id = ? AND candidate_id = ?",
                (team_id, candidate_id),
            )
            notes = await tx.fetchall(
                "SELECT ref, text, event_id FROM pending_notes"
                " WHERE team_id = ? AND candidate_id = ? ORDER BY seq",
                (team_id, candidate_id),
            )
            return row, notes

        row, notes = await self._run(op, write=False)
        pending = tuple(NoteDraft(ref=r, text=t, event_id=e) for r, t, e in notes)
        if row is None:
            return CandidateState(pending_notes=pending)
        synced, pinpoint_candidate_id, record_kind, record_id = row
        return CandidateState(
            synced=bool(synced),
            pinpoint_candidate_id=pinpoint_candidate_id,
            record_kind=DestinationKind(record_kind) if record_kind is not None else None,
            record_id=record_id,
            pending_notes=pending,
        )

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
        params = (team_id, candidate_id, pinpoint_candidate_id,
                  DestinationKind(record_kind).value, record_id, self.dialect.ts(self._now()))

        async def op(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO candidates (team_id, candidate_id, synced, pinpoint_candidate_id,"
                " record_kind, record_id, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?)"
                " ON CONFLICT (team_id, candidate_id) DO UPDATE SET synced = 1,"
                " pinpoint_candidate_id = excluded.pinpoint_candidate_id,"
                " record_kind = excluded.record_kind, record_id = excluded.record_id,"
                " updated_at = excluded.updated_at",
                params,
            )

        await self._run(op, write=True)

    async def add_pending_note(self, team_id: str, candidate_id: str, note: NoteDraft) -> None:
        """Keep a backfill note; a ``ref`` already pending for the candidate is a no-op."""
        params = (team_id, candidate_id, note.ref, note.text, note.event_id,
                  self.dialect.ts(self._now()))

        async def op(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO pending_notes (team_id, candidate_id, ref, text, event_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (team_id, candidate_id, ref) DO NOTHING",
                params,
            )

        await self._run(op, write=True)

    async def remove_pending_note(self, team_id: str, candidate_id: str, ref: str) -> None:
        """Forget a pending note once written; an unknown ``ref`` is a no-op."""
        async def op(tx: Tx) -> None:
            await tx.execute(
                "DELETE FROM pending_notes WHERE team_id = ? AND candidate_id = ? AND ref = ?",
                (team_id, candidate_id, ref),
            )

        await self._run(op, write=True)

    # -- effect ledger ------------------------------------------------------------------------

    async def claim_effect(
        self, key: str, *, team_id: str, kind: str, fence: Fence | None,
        attempt_window_s: float,
    ) -> Claim:
        """Claim an effect before its API call; see `ClaimStatus`."""
        if attempt_window_s < 0:
            raise ValueError(f"attempt_window_s must be >= 0, not {attempt_window_s}")
        d = self.dialect
        now = self._now()
        until = now + timedelta(seconds=attempt_window_s)
        topic, partition, epoch = self._fence_params(fence)

        async def op(tx: Tx) -> Claim:
            await self._check_fence(tx, fence)
            # A row deleted by a concurrent release between the insert and the read is
            # inserted again: loop (a handful of times at most, in practice once).
            for _ in range(5):
                inserted = await tx.execute(
                    "INSERT INTO effects (key, team_id, kind, status, pinpoint_id, created_at,"
                    " updated_at, fence_topic, fence_partition, fence_epoch, attempt_until,"
                    " attempts) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, 1)"
                    " ON CONFLICT (key) DO NOTHING",
                    (key, team_id, str(kind), _INTENDED, d.ts(now), d.ts(now),
                     topic, partition, epoch, d.ts(until)),
                )
                if inserted == 1:
                    return Claim(ClaimStatus.NEW, key, attempt_until=until)
                row = await tx.fetchone(
                    "SELECT status, pinpoint_id, fence_topic, fence_partition, fence_epoch,"
                    " attempt_until FROM effects WHERE key = ?" + d.for_update,
                    (key,),
                )
                if row is not None:
                    return await self._judge(tx, key, row, now=now, until=until, fence=fence)
            raise RuntimeError(f"effect {key!r} kept disappearing while claimed")

        return await self._run(op, write=True)

    async def _judge(self, tx: Tx, key: str, row: Row, *, now: datetime, until: datetime,
                     fence: Fence | None) -> Claim:
        """Decide a claim on an existing entry (locked by the caller's transaction)."""
        status, pinpoint_id, h_topic, h_partition, h_epoch, h_until = row
        if status == _DONE:
            return Claim(ClaimStatus.DONE, key, pinpoint_id=pinpoint_id)
        previous = self.dialect.opt_dt(h_until)
        live = previous is not None and previous > now
        if live and h_topic is not None:
            holder = await self._lease_epoch(tx, h_topic, int(h_partition), "")
            live = holder is not None and holder[0] == int(h_epoch) and holder[1] is not None
        if live:
            return Claim(ClaimStatus.BUSY, key, previous_attempt_until=previous)
        topic, partition, epoch = self._fence_params(fence)
        await tx.execute(
            "UPDATE effects SET fence_topic = ?, fence_partition = ?, fence_epoch = ?,"
            " attempt_until = ?, attempts = attempts + 1, updated_at = ? WHERE key = ?",
            (topic, partition, epoch, self.dialect.ts(until), self.dialect.ts(now), key),
        )
        return Claim(ClaimStatus.RECLAIMED, key, attempt_until=until,
                     previous_attempt_until=previous)

    async def complete_effect(self, key: str, pinpoint_id: str | None, *,
                              fence: Fence | None) -> None:
        """Mark the effect done with Pinpoint's id (a known id is kept if this one is None)."""
        now = self.dialect.ts(self._now())

        async def op(tx: Tx) -> None:
            await self._check_fence(tx, fence)
            changed = await tx.execute(
                "UPDATE effects SET status = ?, pinpoint_id = COALESCE(?, pinpoint_id),"
                " attempt_until = NULL, updated_at = ? WHERE key = ?",
                (_DONE, pinpoint_id, now, key),
            )
            if changed == 0:
                raise UnknownEffectError(key)

        await self._run(op, write=True)

    async def release_claim(self, key: str, *, fence: Fence | None) -> None:
        """Forget the caller's own intent that Pinpoint definitely did not apply."""
        topic, partition, epoch = self._fence_params(fence)
        same = self.dialect.same

        async def op(tx: Tx) -> None:
            await self._check_fence(tx, fence)
            await tx.execute(
                f"DELETE FROM effects WHERE key = ? AND status = ? AND fence_topic {same} ?"
                f" AND fence_partition {same} ? AND fence_epoch {same} ?",
                (key, _INTENDED, topic, partition, epoch),
            )

        await self._run(op, write=True)

    async def mark_done(self, key: str, *, team_id: str, kind: str,
                        pinpoint_id: str | None = None, fence: Fence | None) -> None:
        """Record an effect as done in one transaction (claim and completion at once)."""
        now = self.dialect.ts(self._now())
        topic, partition, epoch = self._fence_params(fence)

        async def op(tx: Tx) -> None:
            await self._check_fence(tx, fence)
            await tx.execute(
                "INSERT INTO effects (key, team_id, kind, status, pinpoint_id, created_at,"
                " updated_at, fence_topic, fence_partition, fence_epoch, attempts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
                " ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
                " pinpoint_id = COALESCE(excluded.pinpoint_id, effects.pinpoint_id),"
                " attempt_until = NULL, updated_at = excluded.updated_at",
                (key, team_id, str(kind), _DONE, pinpoint_id, now, now, topic, partition, epoch),
            )

        await self._run(op, write=True)

    async def get_effect(self, key: str) -> EffectRecord | None:
        """Return the ledger entry for ``key``, if any."""
        async def op(tx: Tx) -> Row | None:
            return await tx.fetchone(f"SELECT {_EFFECT_COLUMNS} FROM effects WHERE key = ?",
                                     (key,))

        row = await self._run(op, write=False)
        return None if row is None else self._effect(row)

    async def intended_effects(self, team_id: str | None = None) -> list[EffectRecord]:
        """Return the intents without a done mark, oldest first, for one team or all."""
        query = f"SELECT {_EFFECT_COLUMNS} FROM effects WHERE status = ?"
        params: tuple[str, ...] = (_INTENDED,)
        if team_id is not None:
            query += " AND team_id = ?"
            params += (team_id,)
        query += f" ORDER BY {self.dialect.effects_order}"

        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall(query, params)

        return [self._effect(row) for row in await self._run(op, write=False)]

    # -- leases -------------------------------------------------------------------------------

    async def acquire_lease(self, topic: str, partition: int, owner: str,
                            ttl_s: float) -> Lease:
        """Take the partition's lease with a new epoch, fencing the previous holder."""
        d = self.dialect
        now = self._now()
        expires = now + timedelta(seconds=ttl_s)

        async def op(tx: Tx) -> Lease:
            await tx.execute(
                "INSERT INTO leases (topic, part, epoch, owner, expires_at)"
                " VALUES (?, ?, 0, NULL, NULL) ON CONFLICT (topic, part) DO NOTHING",
                (topic, partition),
            )
            row = await tx.fetchone(
                "SELECT epoch, owner FROM leases WHERE topic = ? AND part = ?" + d.for_update,
                (topic, partition),
            )
            assert row is not None
            epoch = int(row[0]) + 1
            await tx.execute(
                "UPDATE leases SET epoch = ?, owner = ?, expires_at = ?"
                " WHERE topic = ? AND part = ?",
                (epoch, owner, d.ts(expires), topic, partition),
            )
            latest = await tx.fetchone(
                "SELECT MAX(attempt_until) FROM effects WHERE status = ? AND fence_topic = ?"
                " AND fence_partition = ?",
                (_INTENDED, topic, partition),
            )
            until = d.opt_dt(latest[0]) if latest is not None else None
            return Lease(
                topic=topic, partition=partition, epoch=epoch, owner=owner,
                expires_at=expires, ttl_s=ttl_s,
                previous_owner=row[1],
                previous_attempts_until=until if until is not None and until > now else None,
            )

        return await self._run(op, write=True)

    async def renew_lease(self, lease: Lease) -> bool:
        """Extend the lease by its ttl from now; ``False`` if taken over or released."""
        expires = self.dialect.ts(self._now() + timedelta(seconds=lease.ttl_s))

        async def op(tx: Tx) -> int:
            return await tx.execute(
                "UPDATE leases SET expires_at = ?"
                " WHERE topic = ? AND part = ? AND epoch = ? AND owner = ?",
                (expires, lease.topic, lease.partition, lease.epoch, lease.owner),
            )

        return await self._run(op, write=True) == 1

    async def release_lease(self, lease: Lease) -> None:
        """Give the partition up; its epoch stays, so the next owner's is newer."""
        async def op(tx: Tx) -> None:
            await tx.execute(
                "UPDATE leases SET owner = NULL, expires_at = NULL"
                " WHERE topic = ? AND part = ? AND epoch = ? AND owner = ?",
                (lease.topic, lease.partition, lease.epoch, lease.owner),
            )

        await self._run(op, write=True)

    # -- held events --------------------------------------------------------------------------

    async def hold_event(  # noqa: PLR0917 (an event's coordinates, in their usual order)
        self, team_id: str, candidate_key: str, topic: str, partition: int, offset: int,
        key: bytes | None, value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]], reason: str, *, fence: Fence | None,
    ) -> int:
        """Keep an event durably for later; returns its id (increasing in hold order)."""
        params = (team_id, candidate_key, topic, partition, offset, key, value,
                  _encode_headers(headers), reason, self.dialect.ts(self._now()))

        async def op(tx: Tx) -> int:
            await self._check_fence(tx, fence)
            row = await tx.fetchone(
                "INSERT INTO held_events (team_id, candidate_key, topic, part, msg_offset, key,"
                " value, headers, reason, held_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                params,
            )
            assert row is not None
            return int(row[0])

        return await self._run(op, write=True)

    async def held_events(self, team_id: str, limit: int, *,
                          after: int | None = None) -> list[HeldEvent]:
        """The team's held events in hold order, from after the id ``after``."""
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall(
                f"SELECT {_HELD_COLUMNS} FROM held_events WHERE team_id = ? AND id > ?"
                " ORDER BY id LIMIT ?",
                (team_id, -1 if after is None else after, limit),
            )

        return [self._held(row) for row in await self._run(op, write=False)]

    async def held_for_candidate(self, team_id: str, candidate_key: str) -> list[HeldEvent]:
        """The candidate's held events in hold order."""
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall(
                f"SELECT {_HELD_COLUMNS} FROM held_events WHERE team_id = ?"
                " AND candidate_key = ? ORDER BY id",
                (team_id, candidate_key),
            )

        return [self._held(row) for row in await self._run(op, write=False)]

    async def release_held(self, ids: Sequence[int]) -> int:
        """Forget held events once applied or dead-lettered; returns how many were removed."""
        wanted = [int(i) for i in ids]
        if not wanted:
            return 0

        async def op(tx: Tx) -> int:
            removed = 0
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                removed += await tx.execute(f"DELETE FROM held_events WHERE id IN ({marks})",
                                            chunk)
            return removed

        return await self._run(op, write=True)

    async def held_counts(self) -> dict[str, tuple[int, datetime]]:
        """Per team: how many events are held and when the oldest was."""
        async def op(tx: Tx) -> list[Row]:
            return await tx.fetchall(
                "SELECT team_id, COUNT(*), MIN(held_at) FROM held_events GROUP BY team_id"
            )

        return {team: (int(n), self.dialect.dt(oldest))
                for team, n, oldest in await self._run(op, write=False)}

    # -- redrive memory -----------------------------------------------------------------------

    async def remember_redrive(self, dlq_topic: str, partition: int, offset: int,
                               replay_id: str) -> bool:
        """Remember a dead letter as redriven: ``True`` if new, ``False`` if it already was."""
        params = (dlq_topic, partition, offset, replay_id, self.dialect.ts(self._now()))

        async def op(tx: Tx) -> int:
            return await tx.execute(
                "INSERT INTO redrives (dlq_topic, part, msg_offset, replay_id, redriven_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (dlq_topic, part, msg_offset) DO NOTHING",
                params,
            )

        return await self._run(op, write=True) == 1

    async def redriven(self, dlq_topic: str, partition: int, offset: int) -> str | None:
        """The replay id a dead letter was redriven under, if it was."""
        async def op(tx: Tx) -> Row | None:
            return await tx.fetchone(
                "SELECT replay_id FROM redrives WHERE dlq_topic = ? AND part = ?"
                " AND msg_offset = ?",
                (dlq_topic, partition, offset),
            )

        row = await self._run(op, write=False)
        return None if row is None else str(row[0])

    # -- maintenance --------------------------------------------------------------------------

    async def status(self) -> StoreStatus:
        """Schema version and counts per table."""
        version = await self._schema_version()
        counts: dict[str, int] = {}
        if version >= SCHEMA_VERSION:
            async def op(tx: Tx) -> dict[str, int]:
                found: dict[str, int] = {}
                for table in _COUNTED_TABLES:
                    row = await tx.fetchone(f"SELECT COUNT(*) FROM {table}")
                    found[table] = 0 if row is None else int(row[0])
                for status in (_INTENDED, _DONE):
                    row = await tx.fetchone("SELECT COUNT(*) FROM effects WHERE status = ?",
                                            (status,))
                    found[f"effects_{status}"] = 0 if row is None else int(row[0])
                return found

            counts = await self._run(op, write=False)
        return StoreStatus(backend=self.dialect.name, location=self._location(),
                           schema_version=version, supported_version=SCHEMA_VERSION,
                           counts=counts)

    async def prune(self, older_than: timedelta) -> dict[str, int]:
        """Delete done ledger entries and done marks last changed before now - older_than."""
        cutoff = self.dialect.ts(self._now() - older_than)

        async def op(tx: Tx) -> dict[str, int]:
            effects = await tx.execute(
                "DELETE FROM effects WHERE status = ? AND kind <> ? AND updated_at < ?",
                (_DONE, _DONE_MARK_KIND, cutoff),
            )
            marks = await tx.execute(
                "DELETE FROM effects WHERE status = ? AND kind = ? AND updated_at < ?",
                (_DONE, _DONE_MARK_KIND, cutoff),
            )
            return {"effects_done": effects, "done_marks": marks}

        return await self._run(op, write=True)
