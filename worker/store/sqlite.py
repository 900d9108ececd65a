"""The embedded state store: one local SQLite file, shared by the processes of one host.

Durability: WAL mode with ``synchronous=FULL``, no call answered before its commit, so a write
that returned survives a crash of the process, of the operating system and a power loss (an
intent is on disk before the API call it precedes). Writers are serialised by ``BEGIN
IMMEDIATE`` with a busy timeout, so several processes (workers of one host, a replay tool) can
share the file and still get exactly one ``NEW`` claim per key.

The event loop is never blocked: the connection is owned by a single-thread executor and each
call runs its whole transaction there; calls queued meanwhile are committed together (group
commit, each in a savepoint), so concurrent writers share the sync to disk. The shared logic
(`SqlStateStore`) is written as coroutines over a `Tx`; here the `Tx` calls SQLite directly,
never suspends, and the coroutine is driven to its end on the store's thread (`_drive`).

Migrations are applied at open under an exclusive transaction (``schema_migrations`` records
them; a file written before that table existed is recognised by its ``user_version``). A file
written by a newer release is refused.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from worker.store.errors import (
    NotADatabaseError,
    SchemaTooNewError,
    StateStoreError,
    StoreClosedError,
)
from worker.store.migrations import SCHEMA_VERSION, SQLITE_MIGRATIONS
from worker.store.sql import Dialect, Row, SqlStateStore, Tx, utc_now

if TYPE_CHECKING:
    from worker.store.base import StateStore

__all__ = ["SCHEMA_VERSION", "SqliteStateStore"]

T = TypeVar("T")

SQLITE = Dialect(
    name="sqlite", for_update="", for_share="", same="IS", effects_order="rowid",
    timestamps_as_text=True,
)


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (its awaits are plain calls) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a store transaction suspended on the store's thread")


_MAX_BATCH = 256
"""Operations committed together at most (bounds the latency a batch adds)."""


@dataclass(slots=True)
class _Queued:
    op: Callable[[Tx], Awaitable[Any]]
    write: bool
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled; the operation ran all the same
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()


class SqliteStateStore(SqlStateStore):
    """`StateStore` on a local SQLite file (created with its parent directories if missing).

    ``await store.open()`` (or ``async with``) opens and migrates it; ``migrate=False`` opens
    without migrating (``store status`` of an older file).
    """

    dialect = SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
        migrate: bool = True,
    ) -> None:
        super().__init__(clock=clock)
        self._path = str(path)
        self._busy_timeout = busy_timeout
        self._migrate_at_open = migrate
        self._executor: ThreadPoolExecutor | None = None
        self._queue: deque[_Queued] = deque()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    @property
    def path(self) -> str:
        """The database file's path."""
        return self._path

    def _location(self) -> str:
        return self._path

    # -- opening ------------------------------------------------------------------------------

    async def open(self) -> Self:
        """Open the file, set WAL and ``synchronous=FULL``, apply missing migrations."""
        if self._closed:
            raise StoreClosedError(f"state store {self._path!r} is closed")
        if self._executor is None:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-store")
            try:
                await asyncio.get_running_loop().run_in_executor(executor, self._open_sync)
            except BaseException:
                executor.shutdown(wait=False)
                raise
            self._executor = executor
        return self

    def _open_sync(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL and migrating need locks that SQLite may refuse at once, without
        # its busy handler, while another process does the same: retry until the busy timeout.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                self._prepare_once(conn)
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", None) in (
                    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if busy and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                raise StateStoreError(f"cannot open state store {self._path!r}: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
                    raise NotADatabaseError(
                        f"state store {self._path!r} is not an SQLite database ({exc}); "
                        "check PINPOINT_SYNC_STATE_URL / PINPOINT_SYNC_STATE_PATH"
                    ) from exc
                raise StateStoreError(f"cannot open state store {self._path!r}: {exc}") from exc
            return

    def _prepare_once(self, conn: sqlite3.Connection) -> None:
        self._refuse_newer(self._user_version(conn))
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        if self._migrate_at_open:
            self._migrate(conn)

    @staticmethod
    def _user_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _refuse_newer(self, found: int) -> None:
        if found > SCHEMA_VERSION:
            raise SchemaTooNewError(self._path, found, SCHEMA_VERSION)

    @staticmethod
    def _applied(conn: sqlite3.Connection) -> int:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if exists is None:
            return 0
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def _migrate(self, conn: sqlite3.Connection) -> list[int]:
        """Apply the missing migrations in one exclusive transaction; returns those applied."""
        if self._applied(conn) >= SCHEMA_VERSION:
            return []
        conn.execute("BEGIN EXCLUSIVE")
        try:
            # Read again under the lock: another process may have migrated meanwhile.
            legacy = self._user_version(conn)
            self._refuse_newer(legacy)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            applied = self._applied(conn)
            now = SQLITE.ts(self._clock())
            if applied == 0 and legacy > 0:
                # A file from before schema_migrations: user_version says what it has.
                for version, name, _ in SQLITE_MIGRATIONS[:legacy]:
                    conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                                 (version, name, now))
                applied = legacy
            self._refuse_newer(applied)
            done: list[int] = []
            for version, name, statements in SQLITE_MIGRATIONS[applied:]:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                             (version, name, now))
                done.append(version)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return done

    async def migrate(self) -> list[int]:
        """Apply the missing migrations now; returns the versions applied."""
        return await self._call(self._migrate)

    async def _schema_version(self) -> int:
        return await self._call(self._applied)

    async def synchronous_mode(self) -> int:
        """``PRAGMA synchronous`` of the connection (2 is FULL)."""
        def read(conn: sqlite3.Connection) -> int:
            return int(conn.execute("PRAGMA synchronous").fetchone()[0])

        return await self._call(read)

    # -- plumbing -----------------------------------------------------------------------------

    def _open_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            state = "closed" if self._closed else "not open"
            raise StoreClosedError(f"state store {self._path!r} is {state}")
        return self._conn

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        executor = self._executor
        if executor is None:
            self._open_conn()
            raise AssertionError("unreachable")

        def run() -> T:
            try:
                return fn(self._open_conn())
            except sqlite3.Error as exc:
                raise StateStoreError(f"state store {self._path!r}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(executor, run)

    async def _run(self, op: Callable[[Tx], Awaitable[T]], *, write: bool) -> T:
        """Queue ``op`` for the store's thread and wait until its transaction committed.

        Group commit: the thread takes every operation queued by then and runs them in one
        transaction, each inside its own savepoint (an operation that fails is rolled back
        alone), so concurrent writers share one sync to disk instead of paying one each.
        No caller hears of its result before the COMMIT that makes it durable.
        """
        executor = self._executor
        if executor is None:
            self._open_conn()
            raise AssertionError("unreachable")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Queued(op, write, future, loop))
        executor.submit(self._drain)
        result: T = await future
        return result

    def _drain(self) -> None:
        """On the store's thread: run what is queued, in batches, one transaction each."""
        while self._queue:
            batch: list[_Queued] = []
            while self._queue and len(batch) < _MAX_BATCH:
                batch.append(self._queue.popleft())
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Queued]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn = self._open_conn()
            conn.execute("BEGIN IMMEDIATE" if any(q.write for q in batch) else "BEGIN")
            try:
                for queued in batch:
                    conn.execute("SAVEPOINT op")
                    try:
                        value: Any = _drive(queued.op(_SqliteTx(conn)))  # type: ignore[arg-type]
                    except Exception as exc:  # noqa: BLE001 - handed to its caller
                        conn.execute("ROLLBACK TO op")
                        conn.execute("RELEASE op")
                        outcomes.append((False, self._translate(exc)))
                    else:
                        conn.execute("RELEASE op")
                        outcomes.append((True, value))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: each caller hears it
            failure = self._translate(exc)
            outcomes = [(False, failure)] * len(batch)
        for queued, (ok, value) in zip(batch, outcomes, strict=True):
            queued.loop.call_soon_threadsafe(_settle, queued.future, ok, value)

    def _translate(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.Error):
            translated = StateStoreError(f"state store {self._path!r}: {exc}")
            translated.__cause__ = exc
            return translated
        return exc

    # -- lifecycle ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the database; a second call is a no-op."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await asyncio.get_running_loop().run_in_executor(executor, shut)
        finally:
            executor.shutdown(wait=True)

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else ("closed" if self._closed else "new")
        return f"<SqliteStateStore {self._path!r} ({state})>"


if TYPE_CHECKING:
    _conforms: type[StateStore] = SqliteStateStore
