"""An in-memory `StateStore` with the SQLite store's behaviour, for component tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

from worker.core.decision import CandidateState, NoteDraft
from worker.core.enums import DestinationKind
from worker.store.base import EffectRecord, EffectStatus, StateStore
from worker.store.errors import StoreClosedError, UnknownEffectError

__all__ = ["InMemoryStateStore"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Mapping:
    pinpoint_candidate_id: str
    record_kind: DestinationKind
    record_id: str


class InMemoryStateStore:
    """`StateStore` kept in dictionaries; nothing survives the process."""

    def __init__(self, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._synced: dict[tuple[str, str], _Mapping] = {}
        # Per candidate, notes by ref; dicts keep insertion order.
        self._pending: dict[tuple[str, str], dict[str, NoteDraft]] = {}
        self._effects: dict[str, EffectRecord] = {}
        self._redriven: dict[tuple[str, int, int], str] = {}

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("in-memory state store is closed")

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def load_candidate(self, team_id: str, candidate_id: str) -> CandidateState:
        """Return the candidate's sync state, mapping and pending notes (insertion order)."""
        with self._lock:
            self._check_open()
            pending = tuple(self._pending.get((team_id, candidate_id), {}).values())
            mapping = self._synced.get((team_id, candidate_id))
        if mapping is None:
            return CandidateState(pending_notes=pending)
        return CandidateState(
            synced=True,
            pinpoint_candidate_id=mapping.pinpoint_candidate_id,
            record_kind=mapping.record_kind,
            record_id=mapping.record_id,
            pending_notes=pending,
        )

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
        with self._lock:
            self._check_open()
            self._synced[(team_id, candidate_id)] = _Mapping(
                pinpoint_candidate_id, DestinationKind(record_kind), record_id
            )

    def add_pending_note(self, team_id: str, candidate_id: str, note: NoteDraft) -> None:
        """Keep a backfill note; a ``ref`` already pending for the candidate is a no-op."""
        with self._lock:
            self._check_open()
            self._pending.setdefault((team_id, candidate_id), {}).setdefault(note.ref, note)

    def remove_pending_note(self, team_id: str, candidate_id: str, ref: str) -> None:
        """Forget a pending note once written; an unknown ``ref`` is a no-op."""
        with self._lock:
            self._check_open()
            notes = self._pending.get((team_id, candidate_id))
            if notes is not None:
                notes.pop(ref, None)
                if not notes:
                    del self._pending[(team_id, candidate_id)]

    def begin_effect(self, key: str, *, team_id: str, kind: str) -> EffectRecord:
        """Record an effect's intent; return the existing entry unchanged if ``key`` is known."""
        with self._lock:
            self._check_open()
            existing = self._effects.get(key)
            if existing is not None:
                return existing
            now = self._now()
            record = EffectRecord(
                key=key,
                team_id=team_id,
                kind=str(kind),
                status=EffectStatus.INTENDED,
                pinpoint_id=None,
                created_at=now,
                updated_at=now,
            )
            self._effects[key] = record
            return record

    def complete_effect(self, key: str, pinpoint_id: str | None) -> None:
        """Mark the effect done with Pinpoint's id (a known id is kept if this one is None)."""
        with self._lock:
            self._check_open()
            record = self._effects.get(key)
            if record is None:
                raise UnknownEffectError(key)
            self._effects[key] = replace(
                record,
                status=EffectStatus.DONE,
                pinpoint_id=pinpoint_id if pinpoint_id is not None else record.pinpoint_id,
                updated_at=self._now(),
            )

    def mark_done(self, key: str, *, team_id: str, kind: str,
                  pinpoint_id: str | None = None) -> None:
        """Record an effect as done at once (intent and completion together)."""
        self.begin_effect(key, team_id=team_id, kind=kind)
        self.complete_effect(key, pinpoint_id)

    def discard_effect(self, key: str) -> None:
        """Forget an ``INTENDED`` effect Pinpoint did not apply; a no-op for DONE or unknown."""
        with self._lock:
            self._check_open()
            record = self._effects.get(key)
            if record is not None and record.status is EffectStatus.INTENDED:
                del self._effects[key]

    def get_effect(self, key: str) -> EffectRecord | None:
        """Return the ledger entry for ``key``, if any."""
        with self._lock:
            self._check_open()
            return self._effects.get(key)

    def intended_effects(self, team_id: str | None = None) -> list[EffectRecord]:
        """Return the intents without a done mark, oldest first, for one team or all."""
        with self._lock:
            self._check_open()
            return [
                record
                for record in self._effects.values()
                if record.status is EffectStatus.INTENDED
                and (team_id is None or record.team_id == team_id)
            ]

    def remember_redrive(self, dlq_topic: str, partition: int, offset: int,
                         replay_id: str) -> bool:
        """Remember a redriven dead letter; False (the first replay id kept) if already known."""
        with self._lock:
            self._check_open()
            where = (dlq_topic, partition, offset)
            if where in self._redriven:
                return False
            self._redriven[where] = replay_id
            return True

    def redriven(self, dlq_topic: str, partition: int, offset: int) -> str | None:
        """The replay id the dead letter was redriven under, or None."""
        with self._lock:
            self._check_open()
            return self._redriven.get((dlq_topic, partition, offset))

    def close(self) -> None:
        """Mark the store closed; a second call is a no-op."""
        with self._lock:
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if TYPE_CHECKING:
    _conforms: type[StateStore] = InMemoryStateStore
