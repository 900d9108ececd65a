"""The worker end to end on the PostgreSQL state store: two workers sharing it through a
rebalance write every record and note exactly once."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import PostgresServer
from tests.integration.worker.conftest import (
    Stack,
    assert_exactly_once,
    expect_push_on_first_event,
    stack,  # noqa: F401 (the fixture)
    wait_event_ids,
)
from tests.integration.worker.test_worker_lifecycle_e2e import NOTES, campaign, progressed
from worker.simulator.specs import FaultConfig
from worker.store.postgres import PostgresStateStore
from worker.tools.stack import settings_document

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("stack", [4], indirect=True)
async def test_two_workers_on_one_postgres_store_apply_each_effect_once(
    stack: Stack, postgres_schema: str, postgres_server: PostgresServer,  # noqa: F811
) -> None:
    """Two workers with STATE_URL on one PostgreSQL schema; the first leaves mid-run and the
    second finishes: each record and note exactly once, the ledger left with no intent."""
    stack.tenant("pg", "pg-secret")
    stack.settings(settings_document("pg", general={"create_notes_upon": NOTES}))
    stack.sim.set_faults(FaultConfig(latency_ms=20, jitter_ms=20), tenant="pg")
    events = campaign("pg", 30, seed=43)
    outcomes = stack.reader(stack.outcomes_topic)
    config = {"state_url": postgres_schema, "state_password": postgres_server.password,
              "max_inflight": 4, "max_inflight_per_team": 4, "revoke_timeout_s": 5}
    first = await stack.start_worker(**config)
    stack.produce(events)
    await progressed(outcomes, 0, len(events) // 6, len(events))
    second = await stack.start_worker(**config)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not (first.scheduler.partitions() and second.scheduler.partitions()):
        assert loop.time() < deadline, "the second worker got no partitions"
        await asyncio.sleep(0.05)
    assert await stack.stop_worker(first) == 0
    await wait_event_ids(outcomes, [e.event_id for e in events], timeout=90)
    assert await stack.stop_worker(second) == 0
    checked = assert_exactly_once(stack.sim, expect_push_on_first_event(events, NOTES))
    assert checked["pg"] > 50
    async with PostgresStateStore(postgres_schema, password=postgres_server.password) as store:
        assert await store.intended_effects() == []
        counts = (await store.status()).counts
    assert counts["effects_done"] > len(events)
    assert counts["candidates"] == 30
