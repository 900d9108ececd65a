"""The state store the configuration names (``PINPOINT_SYNC_STATE_URL`` / ``STATE_PATH``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.store.sqlite import SqliteStateStore

if TYPE_CHECKING:
    from worker.config import WorkerConfig
    from worker.store.base import StateStore
    from worker.store.sql import SqlStateStore


def make_state_store(cfg: WorkerConfig, *, migrate: bool = True) -> SqlStateStore:
    """The configured store, not yet opened (``await store.open()`` or ``async with``)."""
    if cfg.state_backend == "postgresql":
        from worker.store.postgres import PostgresStateStore  # noqa: PLC0415

        return PostgresStateStore(cfg.state_postgres_url, password=cfg.state_store_password(),
                                  migrate=migrate)
    return SqliteStateStore(cfg.state_sqlite_path, migrate=migrate)


async def open_state_store(cfg: WorkerConfig) -> StateStore:
    """Open (and migrate) the configured store."""
    return await make_state_store(cfg).open()
