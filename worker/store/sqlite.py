"""The embedded state store: one local SQLite file per worker.

Durability: the database runs in WAL mode with ``synchronous=NORMAL`` and every write is its own
transaction, so a write that returned survives a crash or SIGKILL of the process (an operating
system crash or power loss may lose the last few commits, which the effect ledger's
reconciliation then covers). A busy timeout lets a second process (a replay tool, a diagnosis
session) use the same file safely, though normally one worker owns one file.

The schema is versioned with ``PRAGMA user_version``: opening a file applies the forward
migrations it lacks, in one transaction; a file written by a newer release is refused.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from worker.core.decision import CandidateState, NoteDraft
from worker.core.enums import DestinationKind
from worker.store.base import EffectRecord, EffectStatus, StateStore
from worker.store.errors import (
    NotADatabaseError,
    SchemaTooNewError,
    StateStoreError,
    StoreClosedError,
    UnknownEffectError,
)

__all__ = ["SCHEMA_VERSION", "SqliteStateStore"]

# Each entry migrates the schema from version ``i`` to ``i + 1``. Never edit a released entry:
# append a new one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE candidates (
            team_id               TEXT NOT NULL,
            candidate_id          TEXT NOT NULL,
            synced                INTEGER NOT NULL DEFAULT 0,
            pinpoint_candidate_id TEXT,
            record_kind           TEXT,
            record_id             TEXT,
            updated_at            TEXT NOT NULL,
            PRIMARY KEY (team_id, candidate_id)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE pending_notes (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id      TEXT NOT NULL,
            candidate_id TEXT NOT NULL,
            ref          TEXT NOT NULL,
            text         TEXT NOT NULL,
            event_id     TEXT NOT NULL,
            created_at   TEXT NOT NULL,
            UNIQUE (team_id, candidate_id, ref)
        )
        """,
        """
        CREATE TABLE effects (
            key         TEXT PRIMARY KEY,
            team_id     TEXT NOT NULL,
            kind        TEXT NOT NULL,
            status      TEXT NOT NULL,
            pinpoint_id TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        )
        """,
        "CREATE INDEX effects_intended ON effects (team_id) WHERE status = 'intended'",
    ),
    (
        """
        CREATE TABLE redrives (
            dlq_topic   TEXT NOT NULL,
            partition   INTEGER NOT NULL,
            "offset"    INTEGER NOT NULL,
            replay_id   TEXT NOT NULL,
            redriven_at TEXT NOT NULL,
            PRIMARY KEY (dlq_topic, partition, "offset")
        ) WITHOUT ROWID
        """,
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this code writes and the newest it can open."""

_SELECT_EFFECTS = (
    "SELECT key, team_id, kind, status, pinpoint_id, created_at, updated_at FROM effects"
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqliteStateStore:
    """`StateStore` on a local SQLite file (created with its parent directories if missing)."""

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 10.0,
        clock: Callable[[], datetime] = _utc_now,
        read_only: bool = False,
    ) -> None:
        """``read_only``: open an existing file for reading only (the replay tool's dry run):
        nothing is created or migrated, and any write fails."""
        self._path = str(path)
        self._clock = clock
        self._lock = threading.Lock()
        if read_only:
            if not Path(self._path).is_file():
                raise StateStoreError(f"no state store at {self._path!r}")
            conn = sqlite3.connect(
                f"{Path(self._path).resolve().as_uri()}?mode=ro", uri=True,
                timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                self._refuse_newer(self._user_version(conn))
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StateStoreError(f"cannot read state store {self._path!r}: {exc}") from exc
            except BaseException:
                conn.close()
                raise
            self._conn: sqlite3.Connection | None = conn
            return
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self._path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @property
    def path(self) -> str:
        """The database file's path."""
        return self._path

    # -- opening ---------------------------------------------------------------------------

    def _prepare(self, conn: sqlite3.Connection) -> None:
        try:
            found = self._user_version(conn)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
                raise NotADatabaseError(
                    f"state store {self._path!r} is not an SQLite database ({exc}); "
                    "check PINPOINT_SYNC_STATE_PATH"
                ) from exc
            raise StateStoreError(f"cannot open state store {self._path!r}: {exc}") from exc
        self._refuse_newer(found)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if found < SCHEMA_VERSION:
            self._migrate(conn)

    @staticmethod
    def _user_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _refuse_newer(self, found: int) -> None:
        if found > SCHEMA_VERSION:
            raise SchemaTooNewError(self._path, found, SCHEMA_VERSION)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            found = self._user_version(conn)
            self._refuse_newer(found)
            for statements in _MIGRATIONS[found:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- plumbing --------------------------------------------------------------------------

    def _open_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosedError(f"state store {self._path!r} is closed")
        return self._conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._open_conn()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read statement in autocommit mode: atomic on its own, and without the BEGIN and
        COMMIT round trips (reads are on the hot path of every event)."""
        with self._lock:
            yield self._open_conn()

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat()

    @staticmethod
    def _effect(row: tuple[str, str, str, str, str | None, str, str]) -> EffectRecord:
        key, team_id, kind, status, pinpoint_id, created_at, updated_at = row
        return EffectRecord(
            key=key,
            team_id=team_id,
            kind=kind,
            status=EffectStatus(status),
            pinpoint_id=pinpoint_id,
            created_at=datetime.fromisoformat(created_at),
            updated_at=datetime.fromisoformat(updated_at),
        )

    # -- candidates ------------------------------------------------------------------------

    def load_candidate(self, team_id: str, candidate_id: str) -> CandidateState:
        """Return the candidate's sync state, mapping and pending notes (insertion order)."""
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT synced, pinpoint_candidate_id, record_kind, record_id FROM candidates"
                " WHERE team_id = ? AND candidate_id = ?",
                (team_id, candidate_id),
            ).fetchone()
            notes = conn.execute(
                "SELECT ref, text, event_id FROM pending_notes"
                " WHERE team_id = ? AND candidate_id = ? ORDER BY seq",
                (team_id, candidate_id),
            ).fetchall()
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
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO candidates (team_id, candidate_id, synced, pinpoint_candidate_id,"
                " record_kind, record_id, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?)"
                " ON CONFLICT (team_id, candidate_id) DO UPDATE SET synced = 1,"
                " pinpoint_candidate_id = excluded.pinpoint_candidate_id,"
                " record_kind = excluded.record_kind, record_id = excluded.record_id,"
                " updated_at = excluded.updated_at",
                (
                    team_id,
                    candidate_id,
                    pinpoint_candidate_id,
                    DestinationKind(record_kind).value,
                    record_id,
                    self._now(),
                ),
            )

    def add_pending_note(self, team_id: str, candidate_id: str, note: NoteDraft) -> None:
        """Keep a backfill note; a ``ref`` already pending for the candidate is a no-op."""
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO pending_notes (team_id, candidate_id, ref, text, event_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (team_id, candidate_id, ref) DO NOTHING",
                (team_id, candidate_id, note.ref, note.text, note.event_id, self._now()),
            )

    def remove_pending_note(self, team_id: str, candidate_id: str, ref: str) -> None:
        """Forget a pending note once written; an unknown ``ref`` is a no-op."""
        with self._transaction(write=True) as conn:
            conn.execute(
                "DELETE FROM pending_notes WHERE team_id = ? AND candidate_id = ? AND ref = ?",
                (team_id, candidate_id, ref),
            )

    # -- effect ledger ---------------------------------------------------------------------

    def begin_effect(self, key: str, *, team_id: str, kind: str) -> EffectRecord:
        """Record an effect's intent; return the existing entry unchanged if ``key`` is known."""
        now = self._now()
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO effects (key, team_id, kind, status, pinpoint_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, NULL, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, team_id, str(kind), EffectStatus.INTENDED.value, now, now),
            )
            row = conn.execute(_SELECT_EFFECTS + " WHERE key = ?", (key,)).fetchone()
        return self._effect(row)

    def complete_effect(self, key: str, pinpoint_id: str | None) -> None:
        """Mark the effect done with Pinpoint's id (a known id is kept if this one is None)."""
        with self._transaction(write=True) as conn:
            cursor = conn.execute(
                "UPDATE effects SET status = ?, pinpoint_id = COALESCE(?, pinpoint_id),"
                " updated_at = ? WHERE key = ?",
                (EffectStatus.DONE.value, pinpoint_id, self._now(), key),
            )
            if cursor.rowcount == 0:
                raise UnknownEffectError(key)

    def mark_done(self, key: str, *, team_id: str, kind: str,
                  pinpoint_id: str | None = None) -> None:
        """Record an effect as done in one transaction (intent and completion at once)."""
        now = self._now()
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO effects (key, team_id, kind, status, pinpoint_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
                " pinpoint_id = COALESCE(excluded.pinpoint_id, effects.pinpoint_id),"
                " updated_at = excluded.updated_at",
                (key, team_id, str(kind), EffectStatus.DONE.value, pinpoint_id, now, now),
            )

    def discard_effect(self, key: str) -> None:
        """Forget an ``INTENDED`` effect Pinpoint did not apply; a no-op for DONE or unknown."""
        with self._transaction(write=True) as conn:
            conn.execute(
                "DELETE FROM effects WHERE key = ? AND status = ?",
                (key, EffectStatus.INTENDED.value),
            )

    def get_effect(self, key: str) -> EffectRecord | None:
        """Return the ledger entry for ``key``, if any."""
        with self._reading() as conn:
            row = conn.execute(_SELECT_EFFECTS + " WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._effect(row)

    def intended_effects(self, team_id: str | None = None) -> list[EffectRecord]:
        """Return the intents without a done mark, oldest first, for one team or all."""
        query = _SELECT_EFFECTS + " WHERE status = ?"
        params: tuple[str, ...] = (EffectStatus.INTENDED.value,)
        if team_id is not None:
            query += " AND team_id = ?"
            params += (team_id,)
        with self._transaction(write=False) as conn:
            rows = conn.execute(query + " ORDER BY rowid", params).fetchall()
        return [self._effect(row) for row in rows]

    # -- redriven dead letters --------------------------------------------------------------

    def remember_redrive(self, dlq_topic: str, partition: int, offset: int,
                         replay_id: str) -> bool:
        """Remember a redriven dead letter; False (the first replay id kept) if already known."""
        with self._transaction(write=True) as conn:
            cursor = conn.execute(
                'INSERT INTO redrives (dlq_topic, partition, "offset", replay_id, redriven_at)'
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (dlq_topic, partition, offset, replay_id, self._now()),
            )
            return cursor.rowcount == 1

    def redriven(self, dlq_topic: str, partition: int, offset: int) -> str | None:
        """The replay id the dead letter was redriven under, or None."""
        with self._reading() as conn:
            row = conn.execute(
                'SELECT replay_id FROM redrives WHERE dlq_topic = ? AND partition = ?'
                ' AND "offset" = ?',
                (dlq_topic, partition, offset),
            ).fetchone()
        return None if row is None else str(row[0])

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; a second call is a no-op."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"<SqliteStateStore {self._path!r} ({state})>"


if TYPE_CHECKING:
    _conforms: type[StateStore] = SqliteStateStore
