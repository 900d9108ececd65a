"""SQLite and PostgreSQL agree: any sequence of ledger and lease operations gives the same
answers and leaves the same state on both."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

from tests.conftest import PostgresServer
from worker.store import Fence, FencedError, UnknownEffectError
from worker.store.postgres import PostgresStateStore
from worker.store.sql import SqlStateStore
from worker.store.sqlite import SqliteStateStore

from .conftest import FakeClock

pytestmark = pytest.mark.integration

_keys = st.sampled_from(["a", "b", "c"])
_parts = st.sampled_from([0, 1])
_owners = st.sampled_from(["w1", "w2"])
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), _keys, _parts, st.sampled_from([0.0, 5.0, 50.0])),
        st.tuples(st.just("complete"), _keys, _parts, st.none()),
        st.tuples(st.just("release"), _keys, _parts, st.none()),
        st.tuples(st.just("mark"), _keys, _parts, st.none()),
        st.tuples(st.just("acquire"), _owners, _parts, st.none()),
        st.tuples(st.just("tick"), st.none(), st.none(), st.sampled_from([1.0, 10.0, 60.0])),
    ),
    max_size=25,
)


async def _apply(store: SqlStateStore, leases: dict[int, Fence | None],
                 op: tuple[str, Any, Any, Any]) -> object:
    name, arg, part, extra = op
    fence = leases.get(part) if part is not None else None
    try:
        if name == "claim":
            return await store.claim_effect(arg, team_id="t", kind="k", fence=fence,
                                            attempt_window_s=extra)
        if name == "complete":
            await store.complete_effect(arg, f"id-{arg}", fence=fence)
        elif name == "release":
            await store.release_claim(arg, fence=fence)
        elif name == "mark":
            await store.mark_done(arg, team_id="t", kind="event", fence=fence)
        elif name == "acquire":
            lease = await store.acquire_lease("events", part, arg, 30)
            leases[part] = lease.fence
            return lease
    except (FencedError, UnknownEffectError) as exc:
        return type(exc).__name__
    return None


async def _run_both(operations: list[tuple[str, Any, Any, Any]], server: PostgresServer,
                    tmp: Path) -> None:
    schema = f"h_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(
            server.url, password=server.password, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
    clock = FakeClock()
    try:
        sqlite = SqliteStateStore(tmp / "s.db", clock=clock)
        postgres = PostgresStateStore(
            make_conninfo(server.url, options=f"-c search_path={schema}"),
            password=server.password, clock=clock, max_size=2)
        async with sqlite, postgres:
            leases: tuple[dict[int, Fence | None], dict[int, Fence | None]] = ({}, {})
            for op in operations:
                if op[0] == "tick":
                    clock.advance(op[3])
                    continue
                one = await _apply(sqlite, leases[0], op)
                two = await _apply(postgres, leases[1], op)
                assert one == two, op
            assert await sqlite.intended_effects() == await postgres.intended_effects()
            for key in "abc":
                assert await sqlite.get_effect(key) == await postgres.get_effect(key)
            assert (await sqlite.status()).counts == (await postgres.status()).counts
    finally:
        async with await psycopg.AsyncConnection.connect(
                server.url, password=server.password, autocommit=True) as admin:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=_operations)
def test_sqlite_and_postgres_agree(operations: list[tuple[str, Any, Any, Any]],
                                   postgres_server: PostgresServer) -> None:
    """The same operations give equal answers (claims, leases, refusals) and equal state."""
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run_both(operations, postgres_server, Path(tmp)))
