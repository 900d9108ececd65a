"""Fixtures shared by the state-store tests: a controllable clock and both implementations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.store import InMemoryStateStore, SqliteStateStore, StateStore


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


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    made: StateStore
    if request.param == "memory":
        made = InMemoryStateStore(clock=clock)
    else:
        made = SqliteStateStore(tmp_path / "state" / "store.db", clock=clock)
    with made:
        yield made
