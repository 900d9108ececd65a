"""What only the SQLite store promises: durability, reopening, migrations, refusals, and claims
that stay exclusive across processes sharing the file."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import worker
from worker.core.decision import CandidateState, NoteDraft
from worker.core.enums import DestinationKind
from worker.store import (
    SCHEMA_VERSION,
    EffectStatus,
    NotADatabaseError,
    SchemaTooNewError,
    SqliteStateStore,
)
from worker.store.migrations import SQLITE_MIGRATIONS

pytestmark = pytest.mark.unit

REPO_ROOT = Path(worker.__file__).resolve().parent.parent


async def _fill(store: SqliteStateStore) -> None:
    await store.mark_synced("t1", "c1", pinpoint_candidate_id="pc-1",
                            record_kind=DestinationKind.APPLICATION, record_id="app-1")
    await store.add_pending_note("t1", "c2",
                                 NoteDraft(ref="r1", text="Replied: yes", event_id="e1"))
    await store.add_pending_note("t1", "c2",
                                 NoteDraft(ref="r0", text="Sent step 1", event_id="e0"))
    await store.claim_effect("e1:create", team_id="t1", kind="create_application", fence=None,
                             attempt_window_s=30)
    await store.complete_effect("e1:create", "app-1", fence=None)
    await store.claim_effect("e2:note", team_id="t1", kind="write_comment", fence=None,
                             attempt_window_s=30)


async def _check_filled(store: SqliteStateStore) -> None:
    assert await store.load_candidate("t1", "c1") == CandidateState(
        synced=True, pinpoint_candidate_id="pc-1", record_kind=DestinationKind.APPLICATION,
        record_id="app-1",
    )
    assert (await store.load_candidate("t1", "c2")).pending_notes == (
        NoteDraft(ref="r1", text="Replied: yes", event_id="e1"),
        NoteDraft(ref="r0", text="Sent step 1", event_id="e0"),
    )
    done = await store.get_effect("e1:create")
    assert done is not None
    assert (done.status, done.pinpoint_id) == (EffectStatus.DONE, "app-1")
    assert [r.key for r in await store.intended_effects()] == ["e2:note"]


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    """Mappings, pending notes and the ledger are all there after close and reopen."""
    path = tmp_path / "state.db"
    async with SqliteStateStore(path) as store:
        await _fill(store)
    async with SqliteStateStore(path) as store:
        await _check_filled(store)


async def test_writes_survive_sigkill(tmp_path: Path) -> None:
    """Writes that returned are on disk even when the process is killed right after them."""
    path = tmp_path / "state.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        from worker.store import SqliteStateStore
        from test_store_sqlite import _fill
        async def main():
            store = await SqliteStateStore({str(path)!r}).open()
            await _fill(store)
            os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    async with SqliteStateStore(path) as store:
        await _check_filled(store)


async def test_synchronous_is_full_and_journal_is_wal(tmp_path: Path) -> None:
    """Intents are durable before the call: the connection runs synchronous=FULL, in WAL."""
    path = tmp_path / "state.db"
    async with SqliteStateStore(path) as store:
        assert await store.synchronous_mode() == 2  # FULL
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


async def test_creates_parent_directories_and_migrates_an_empty_file(tmp_path: Path) -> None:
    """A path whose directories do not exist yet is created; an empty file is a new database."""
    path = tmp_path / "a" / "b" / "state.db"
    async with SqliteStateStore(path):
        pass
    assert path.is_file()
    empty = tmp_path / "empty.db"
    empty.touch()
    async with SqliteStateStore(empty) as store:
        await _fill(store)
        await _check_filled(store)


async def test_adopts_a_file_from_before_schema_migrations(tmp_path: Path) -> None:
    """A file of schema 1 (user_version only) keeps its data and gets the later migrations."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in SQLITE_MIGRATIONS[0][2]:
        conn.execute(statement)
    conn.execute("INSERT INTO effects VALUES ('old', 't1', 'write_comment', 'intended', NULL,"
                 " '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00')")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    async with SqliteStateStore(path) as store:
        assert (await store.status()).schema_version == SCHEMA_VERSION
        old = await store.get_effect("old")
        assert old is not None
        assert (old.status, old.attempt_until, old.attempts) == (EffectStatus.INTENDED, None, 1)
        # An intent of schema 1 has no window: the next claim reconciles it.
        got = await store.claim_effect("old", team_id="t1", kind="write_comment", fence=None,
                                       attempt_window_s=30)
        assert got.status == "reclaimed"
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    """A file with a schema version above the code's is refused with both versions named."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError) as caught:
        await SqliteStateStore(path).open()
    assert caught.value.found == SCHEMA_VERSION + 1
    assert caught.value.supported == SCHEMA_VERSION
    assert "newer release" in str(caught.value)


async def test_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A file that is not SQLite gives a clear error naming the path and the setting."""
    path = tmp_path / "state.db"
    path.write_bytes(b"this is a text file, not a database\n" * 100)
    with pytest.raises(NotADatabaseError, match="PINPOINT_SYNC_STATE_URL"):
        await SqliteStateStore(path).open()


async def test_the_event_loop_runs_while_the_store_waits(tmp_path: Path) -> None:
    """A write waiting on another process's lock does not block the event loop."""
    path = tmp_path / "state.db"
    async with SqliteStateStore(path):
        pass
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async with SqliteStateStore(path, busy_timeout=5) as store:
        ticker = asyncio.create_task(tick())
        write = asyncio.create_task(store.mark_done("k", team_id="t", kind="event", fence=None))
        await asyncio.sleep(0.3)
        assert not write.done()
        blocker.execute("COMMIT")
        await write
        ticker.cancel()
    blocker.close()
    assert ticks >= 10


_RACER = """
import asyncio, json, sys
sys.path.insert(0, {root!r})
from worker.store import SqliteStateStore
async def main():
    async with SqliteStateStore({path!r}) as store:
        print(json.dumps([
            (await store.claim_effect(f"k{{i}}", team_id="t", kind="x", fence=None,
                                      attempt_window_s=60)).status.value
            for i in range(60)
        ]))
asyncio.run(main())
"""


async def test_two_processes_racing_get_one_new_winner_per_key(tmp_path: Path) -> None:
    """Two processes claiming the same keys on one file: exactly one NEW per key."""
    path = tmp_path / "state.db"
    async with SqliteStateStore(path):
        pass
    script = _RACER.format(root=str(REPO_ROOT), path=str(path))
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", script,
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [err.decode() for _, err in outs]
    one, two = (json.loads(out) for out, _ in outs)
    for key, (a, b) in enumerate(zip(one, two, strict=True)):
        assert sorted([a, b]) == ["busy", "new"], key


async def test_repr_names_path_and_state(tmp_path: Path) -> None:
    """The repr says which file and whether the store is open."""
    store = SqliteStateStore(tmp_path / "s.db")
    await store.open()
    assert "open" in repr(store)
    await store.close()
    assert "closed" in repr(store)


async def test_calls_committed_together_fail_alone(tmp_path: Path) -> None:
    """Concurrent calls share transactions, yet one that fails is rolled back alone: the
    others' writes are all there, after a reopen too."""
    path = tmp_path / "state.db"
    async with SqliteStateStore(path) as store:
        results = await asyncio.gather(
            *(store.mark_done(f"k{i}", team_id="t", kind="event", fence=None)
              for i in range(100)),
            store.complete_effect("never-claimed", "x", fence=None),
            *(store.claim_effect(f"c{i}", team_id="t", kind="x", fence=None,
                                 attempt_window_s=5) for i in range(100)),
            return_exceptions=True,
        )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert [type(f).__name__ for f in failures] == ["UnknownEffectError"]
    async with SqliteStateStore(path) as store:
        counts = (await store.status()).counts
        assert (counts["effects_done"], counts["effects_intended"]) == (100, 100)
        assert await store.get_effect("never-claimed") is None
