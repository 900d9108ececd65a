"""The state store's schema as numbered migrations, one list per database, same numbering.

Each entry is ``(version, name, statements)``; never edit a released entry: append one. Both
stores apply what is missing at start under a lock (SQLite: an exclusive transaction;
PostgreSQL: an advisory lock held by the migrating transaction), recording each in
``schema_migrations``, so several workers starting at once migrate exactly once.
"""

from __future__ import annotations

Migration = tuple[int, str, tuple[str, ...]]

SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    (1, "candidates, pending notes, effect ledger", (
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
    )),
    (2, "claims, partition leases, held events, redrive memory", (
        "ALTER TABLE effects ADD COLUMN fence_topic TEXT",
        "ALTER TABLE effects ADD COLUMN fence_partition INTEGER",
        "ALTER TABLE effects ADD COLUMN fence_epoch INTEGER",
        "ALTER TABLE effects ADD COLUMN attempt_until TEXT",
        "ALTER TABLE effects ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX effects_held_by ON effects (fence_topic, fence_partition)"
        " WHERE status = 'intended'",
        "CREATE INDEX effects_done_at ON effects (updated_at) WHERE status = 'done'",
        """
        CREATE TABLE leases (
            topic      TEXT NOT NULL,
            part       INTEGER NOT NULL,
            epoch      INTEGER NOT NULL,
            owner      TEXT,
            expires_at TEXT,
            PRIMARY KEY (topic, part)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE held_events (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id       TEXT NOT NULL,
            candidate_key TEXT NOT NULL,
            topic         TEXT NOT NULL,
            part          INTEGER NOT NULL,
            msg_offset    INTEGER NOT NULL,
            key           BLOB,
            value         BLOB,
            headers       TEXT NOT NULL,
            reason        TEXT NOT NULL,
            held_at       TEXT NOT NULL
        )
        """,
        "CREATE INDEX held_by_team ON held_events (team_id, id)",
        "CREATE INDEX held_by_candidate ON held_events (team_id, candidate_key, id)",
        """
        CREATE TABLE redrives (
            dlq_topic   TEXT NOT NULL,
            part        INTEGER NOT NULL,
            msg_offset  INTEGER NOT NULL,
            replay_id   TEXT NOT NULL,
            redriven_at TEXT NOT NULL,
            PRIMARY KEY (dlq_topic, part, msg_offset)
        ) WITHOUT ROWID
        """,
    )),
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    (1, "candidates, pending notes, effect ledger", (
        """
        CREATE TABLE candidates (
            team_id               TEXT NOT NULL,
            candidate_id          TEXT NOT NULL,
            synced                INTEGER NOT NULL DEFAULT 0,
            pinpoint_candidate_id TEXT,
            record_kind           TEXT,
            record_id             TEXT,
            updated_at            TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (team_id, candidate_id)
        )
        """,
        """
        CREATE TABLE pending_notes (
            seq          BIGSERIAL PRIMARY KEY,
            team_id      TEXT NOT NULL,
            candidate_id TEXT NOT NULL,
            ref          TEXT NOT NULL,
            text         TEXT NOT NULL,
            event_id     TEXT NOT NULL,
            created_at   TIMESTAMPTZ NOT NULL,
            UNIQUE (team_id, candidate_id, ref)
        )
        """,
        """
        CREATE TABLE effects (
            seq         BIGSERIAL NOT NULL,
            key         TEXT PRIMARY KEY,
            team_id     TEXT NOT NULL,
            kind        TEXT NOT NULL,
            status      TEXT NOT NULL,
            pinpoint_id TEXT,
            created_at  TIMESTAMPTZ NOT NULL,
            updated_at  TIMESTAMPTZ NOT NULL
        )
        """,
        "CREATE INDEX effects_intended ON effects (team_id, seq) WHERE status = 'intended'",
    )),
    (2, "claims, partition leases, held events, redrive memory", (
        "ALTER TABLE effects ADD COLUMN fence_topic TEXT",
        "ALTER TABLE effects ADD COLUMN fence_partition INTEGER",
        "ALTER TABLE effects ADD COLUMN fence_epoch BIGINT",
        "ALTER TABLE effects ADD COLUMN attempt_until TIMESTAMPTZ",
        "ALTER TABLE effects ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX effects_held_by ON effects (fence_topic, fence_partition)"
        " WHERE status = 'intended'",
        "CREATE INDEX effects_done_at ON effects (updated_at) WHERE status = 'done'",
        """
        CREATE TABLE leases (
            topic      TEXT NOT NULL,
            part       INTEGER NOT NULL,
            epoch      BIGINT NOT NULL,
            owner      TEXT,
            expires_at TIMESTAMPTZ,
            PRIMARY KEY (topic, part)
        )
        """,
        """
        CREATE TABLE held_events (
            id            BIGSERIAL PRIMARY KEY,
            team_id       TEXT NOT NULL,
            candidate_key TEXT NOT NULL,
            topic         TEXT NOT NULL,
            part          INTEGER NOT NULL,
            msg_offset    BIGINT NOT NULL,
            key           BYTEA,
            value         BYTEA,
            headers       TEXT NOT NULL,
            reason        TEXT NOT NULL,
            held_at       TIMESTAMPTZ NOT NULL
        )
        """,
        "CREATE INDEX held_by_team ON held_events (team_id, id)",
        "CREATE INDEX held_by_candidate ON held_events (team_id, candidate_key, id)",
        """
        CREATE TABLE redrives (
            dlq_topic   TEXT NOT NULL,
            part        INTEGER NOT NULL,
            msg_offset  BIGINT NOT NULL,
            replay_id   TEXT NOT NULL,
            redriven_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (dlq_topic, part, msg_offset)
        )
        """,
    )),
)

SCHEMA_VERSION = SQLITE_MIGRATIONS[-1][0]
"""The schema version this code writes and the newest it can open."""

assert POSTGRES_MIGRATIONS[-1][0] == SCHEMA_VERSION
assert [m[0] for m in SQLITE_MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
assert [m[0] for m in POSTGRES_MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
