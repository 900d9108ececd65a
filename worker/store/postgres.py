"""The shared state store: PostgreSQL, for workers on several hosts.

psycopg 3's asynchronous connections from a `psycopg_pool.AsyncConnectionPool`: the event loop
never waits on the server, and a handful of connections serve a worker's concurrent lanes. Each
write is one transaction at READ COMMITTED (reads run in autocommit); the rows that decide a
claim or a fence are locked (see `worker.store.sql`), so no stronger isolation is needed. A
deadlock or serialisation failure (possible between concurrent claims) is retried a few times.

Migrations run at open on a connection of their own, in one transaction holding an advisory
lock, so workers starting together migrate once. The password is never part of a message:
locations are shown without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from worker.store.errors import (
    SchemaTooNewError,
    StateStoreError,
    StoreClosedError,
    StoreUnavailableError,
)
from worker.store.migrations import POSTGRES_MIGRATIONS, SCHEMA_VERSION
from worker.store.sql import Dialect, Row, SqlStateStore, Tx, utc_now

if TYPE_CHECKING:
    from worker.store.base import StateStore

__all__ = ["PostgresStateStore", "redacted_location"]

T = TypeVar("T")

POSTGRES = Dialect(
    name="postgresql", for_update=" FOR UPDATE", for_share=" FOR SHARE",
    same="IS NOT DISTINCT FROM", effects_order="seq", timestamps_as_text=False,
)

_MIGRATION_LOCK = 0x70696E70  # "pinp": the advisory lock key of migrations
_RETRIED = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def _pg(sql: str) -> str:
    """``?`` placeholders (the shared SQL's) as psycopg's ``%s``."""
    return sql.replace("?", "%s")


def redacted_location(conninfo: str) -> str:
    """``user@host:port/dbname`` of a connection string, never its password."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable connection string>"
    user = str(parts.get("user") or "")
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or "5432")
    db = str(parts.get("dbname") or "")
    return f"{user + '@' if user else ''}{host}:{port}/{db}"


class _PgTx:
    def __init__(self, cursor: psycopg.AsyncCursor[Row]) -> None:
        self._cur = cursor

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        await self._cur.execute(_pg(sql), params)
        return self._cur.rowcount

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        await self._cur.execute(_pg(sql), params)
        return await self._cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        await self._cur.execute(_pg(sql), params)
        return await self._cur.fetchall()


class PostgresStateStore(SqlStateStore):
    """`StateStore` on a PostgreSQL database (15 or later).

    ``conninfo`` is a libpq connection string or ``postgresql://`` URL; ``password``, when
    given, is passed apart from it (libpq's ``PGPASSFILE`` applies otherwise).
    """

    dialect = POSTGRES

    def __init__(
        self,
        conninfo: str,
        *,
        password: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        min_size: int = 1,
        max_size: int = 8,
        connect_timeout_s: float = 10.0,
        migrate: bool = True,
    ) -> None:
        super().__init__(clock=clock)
        self._conninfo = make_conninfo(conninfo, application_name="pinpoint-sync")
        self._password = password
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout_s = connect_timeout_s
        self._migrate_at_open = migrate
        self._pool: AsyncConnectionPool | None = None
        self._closed = False

    def _location(self) -> str:
        return redacted_location(self._conninfo)

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"autocommit": True,
                                  "connect_timeout": max(1, int(self._connect_timeout_s))}
        if self._password is not None:
            kwargs["password"] = self._password
        return kwargs

    # -- opening ------------------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[Row]:
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo,
                                                         **self._connect_kwargs())
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(
                f"cannot connect to the state store at {self._location()}: "
                f"{str(exc).strip()}"
            ) from exc

    async def open(self) -> Self:
        """Connect (a clear error if the server refuses), migrate, then open the pool."""
        if self._closed:
            raise StoreClosedError(f"state store {self._location()} is closed")
        if self._pool is not None:
            return self
        conn = await self._connect()
        try:
            await self._check_version(conn)
            if self._migrate_at_open:
                await self._migrate_on(conn)
        finally:
            await conn.close()
        pool = AsyncConnectionPool(
            self._conninfo, min_size=self._min_size, max_size=self._max_size,
            kwargs=self._connect_kwargs(), open=False, name="pinpoint-sync-state",
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout_s)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreUnavailableError(
                f"cannot open connections to the state store at {self._location()}"
            ) from exc
        self._pool = pool
        return self

    @staticmethod
    async def _applied(conn: psycopg.AsyncConnection[Row]) -> int:
        cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        row = await cur.fetchone()
        if row is None or not row[0]:
            return 0
        cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        row = await cur.fetchone()
        return 0 if row is None else int(row[0])

    async def _check_version(self, conn: psycopg.AsyncConnection[Row]) -> int:
        found = await self._applied(conn)
        if found > SCHEMA_VERSION:
            raise SchemaTooNewError(self._location(), found, SCHEMA_VERSION)
        return found

    async def _migrate_on(self, conn: psycopg.AsyncConnection[Row]) -> list[int]:
        if await self._check_version(conn) >= SCHEMA_VERSION:
            return []
        done: list[int] = []
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                )
                applied = await self._check_version(conn)  # again, under the lock
                for version, name, statements in POSTGRES_MIGRATIONS[applied:]:
                    for statement in statements:
                        await conn.execute(statement.encode())
                    await conn.execute(
                        "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                        (version, name, self._clock()),
                    )
                    done.append(version)
        except psycopg.Error as exc:
            raise StateStoreError(
                f"cannot migrate the state store at {self._location()}: {exc}"
            ) from exc
        return done

    async def migrate(self) -> list[int]:
        """Apply the missing migrations now; returns the versions applied."""
        conn = await self._connect()
        try:
            return await self._migrate_on(conn)
        finally:
            await conn.close()

    async def _schema_version(self) -> int:
        pool = self._open_pool()
        async with pool.connection() as conn:
            return await self._applied(conn)

    # -- plumbing -----------------------------------------------------------------------------

    def _open_pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            state = "closed" if self._closed else "not open"
            raise StoreClosedError(f"state store {self._location()} is {state}")
        return self._pool

    async def _run(self, op: Callable[[Tx], Awaitable[T]], *, write: bool) -> T:
        pool = self._open_pool()
        for attempt in range(5):
            try:
                async with pool.connection() as conn:
                    if not write:
                        # Reads run in autocommit: no BEGIN and COMMIT round trips on the hot
                        # path (each read is one statement, or reads whose rows one lane owns).
                        async with conn.cursor() as cursor:
                            return await op(_PgTx(cursor))
                    async with conn.transaction(), conn.cursor() as cursor:
                        return await op(_PgTx(cursor))
            except _RETRIED:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
            except PoolTimeout as exc:
                raise StoreUnavailableError(
                    f"no connection to the state store at {self._location()} in time"
                ) from exc
            except psycopg.OperationalError as exc:
                raise StoreUnavailableError(
                    f"state store at {self._location()}: {str(exc).strip()}"
                ) from exc
            except psycopg.Error as exc:
                raise StateStoreError(f"state store at {self._location()}: {exc}") from exc
        raise AssertionError("unreachable")

    # -- lifecycle ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the pool; a second call is a no-op."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else ("closed" if self._closed else "new")
        return f"<PostgresStateStore {self._location()} ({state})>"


if TYPE_CHECKING:
    _conforms: type[StateStore] = PostgresStateStore
