"""Fixtures of the state-store tests: a controllable clock and each real store, opened fresh."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import PostgresServer
from worker.store.postgres import PostgresStateStore
from worker.store.sql import SqlStateStore
from worker.store.sqlite import SqliteStateStore


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StoreMaker = Callable[..., SqlStateStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreMaker:
    """Makes unopened stores of one backend, all on the same database of this test."""
    if request.param == "sqlite":
        path = tmp_path / "state" / "store.db"

        def sqlite(**kwargs: object) -> SqlStateStore:
            return SqliteStateStore(path, **kwargs)  # type: ignore[arg-type]

        return sqlite
    url: str = request.getfixturevalue("postgres_schema")
    server: PostgresServer = request.getfixturevalue("postgres_server")

    def postgresql(**kwargs: object) -> SqlStateStore:
        return PostgresStateStore(url, password=server.password, **kwargs)  # type: ignore[arg-type]

    return postgresql


@pytest.fixture
async def store(make_store: StoreMaker, clock: FakeClock) -> AsyncIterator[SqlStateStore]:
    """An opened, migrated store on a fresh database, on the fake clock."""
    async with make_store(clock=clock) as opened:
        yield opened
