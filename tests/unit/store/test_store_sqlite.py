"""What only the SQLite store promises: durability, reopening, migrations and refusals."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
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
    StateStoreError,
)

pytestmark = pytest.mark.unit

REPO_ROOT = Path(worker.__file__).resolve().parent.parent


def _fill(store: SqliteStateStore) -> None:
    store.mark_synced(
        "t1",
        "c1",
        pinpoint_candidate_id="pc-1",
        record_kind=DestinationKind.APPLICATION,
        record_id="app-1",
    )
    store.add_pending_note("t1", "c2", NoteDraft(ref="r1", text="Replied: yes", event_id="e1"))
    store.add_pending_note("t1", "c2", NoteDraft(ref="r0", text="Sent step 1", event_id="e0"))
    store.begin_effect("e1:create", team_id="t1", kind="create_application")
    store.complete_effect("e1:create", "app-1")
    store.begin_effect("e2:note", team_id="t1", kind="write_comment")


def _check_filled(store: SqliteStateStore) -> None:
    assert store.load_candidate("t1", "c1") == CandidateState(
        synced=True,
        pinpoint_candidate_id="pc-1",
        record_kind=DestinationKind.APPLICATION,
        record_id="app-1",
    )
    assert store.load_candidate("t1", "c2").pending_notes == (
        NoteDraft(ref="r1", text="Replied: yes", event_id="e1"),
        NoteDraft(ref="r0", text="Sent step 1", event_id="e0"),
    )
    done = store.get_effect("e1:create")
    assert done is not None
    assert (done.status, done.pinpoint_id) == (EffectStatus.DONE, "app-1")
    assert [r.key for r in store.intended_effects()] == ["e2:note"]


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    """Mappings, pending notes and the ledger are all there after close and reopen."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        _fill(store)
    with SqliteStateStore(path) as store:
        _check_filled(store)


def test_writes_survive_sigkill(tmp_path: Path) -> None:
    """Writes that returned are on disk even when the process is killed right after them."""
    path = tmp_path / "state.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        from worker.store import SqliteStateStore
        from test_store_sqlite import _fill
        store = SqliteStateStore({str(path)!r})
        _fill(store)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    with SqliteStateStore(path) as store:
        _check_filled(store)


def test_creates_parent_directories(tmp_path: Path) -> None:
    """A path whose directories do not exist yet is created."""
    path = tmp_path / "a" / "b" / "state.db"
    with SqliteStateStore(path):
        pass
    assert path.is_file()


def test_database_runs_in_wal_mode(tmp_path: Path) -> None:
    """The file is switched to write-ahead logging and carries the current schema version."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path):
        pass
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_migrates_an_empty_file(tmp_path: Path) -> None:
    """An existing empty file is taken as a new database and given the schema."""
    path = tmp_path / "state.db"
    path.touch()
    with SqliteStateStore(path) as store:
        _fill(store)
        _check_filled(store)


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    """A file with a schema version above the code's is refused with both versions named."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError) as caught:
        SqliteStateStore(path)
    assert caught.value.found == SCHEMA_VERSION + 1
    assert caught.value.supported == SCHEMA_VERSION
    assert "newer release" in str(caught.value)


def test_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A file that is not SQLite gives a clear error naming the path and the setting."""
    path = tmp_path / "state.db"
    path.write_bytes(b"this is a text file, not a database\n" * 100)
    with pytest.raises(NotADatabaseError, match="PINPOINT_SYNC_STATE_PATH"):
        SqliteStateStore(path)


def test_two_stores_on_one_file_share_state(tmp_path: Path) -> None:
    """Two connections on the same file see each other's writes and can write concurrently."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as one, SqliteStateStore(path) as two:

        def write(store: SqliteStateStore, prefix: str) -> None:
            for i in range(100):
                store.begin_effect(f"{prefix}{i}", team_id=prefix, kind="write_comment")

        threads = [
            threading.Thread(target=write, args=(one, "a")),
            threading.Thread(target=write, args=(two, "b")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(one.intended_effects("b")) == 100
        assert len(two.intended_effects("a")) == 100


def test_repr_names_path_and_state(tmp_path: Path) -> None:
    """The repr says which file and whether the store is open."""
    store = SqliteStateStore(tmp_path / "s.db")
    assert "open" in repr(store)
    store.close()
    assert "closed" in repr(store)


def test_redrives_survive_reopening(tmp_path: Path) -> None:
    """What was redriven is kept in the file: a store opened again still knows it."""
    path = tmp_path / "store.db"
    with SqliteStateStore(path) as first:
        assert first.remember_redrive("dlq", 2, 40, "r1")
    with SqliteStateStore(path) as again:
        assert again.redriven("dlq", 2, 40) == "r1"
        assert not again.remember_redrive("dlq", 2, 40, "r2")


def test_read_only_store_reads_and_changes_nothing(tmp_path: Path) -> None:
    """A store opened read-only reads what the worker wrote, refuses writes, leaves the file
    as it was, and refuses a file that does not exist (it is never created)."""
    path = tmp_path / "store.db"
    with SqliteStateStore(path) as store:
        store.mark_done("event:t:e1", team_id="t", kind="event")
    before = path.read_bytes()
    with SqliteStateStore(path, read_only=True) as reader:
        effect = reader.get_effect("event:t:e1")
        assert effect is not None
        assert effect.status.value == "done"
        with pytest.raises(sqlite3.OperationalError):
            reader.mark_done("event:t:e2", team_id="t", kind="event")
    assert path.read_bytes() == before
    with pytest.raises(StateStoreError):
        SqliteStateStore(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()
