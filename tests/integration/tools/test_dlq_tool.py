"""``pinpoint-sync dlq`` end to end: list, show, redrive once after the cause is fixed, cap."""

from __future__ import annotations

import pytest

from tests.integration.tools.conftest import cli
from tests.integration.tools.test_replay_tool import journeys, settings
from tests.integration.worker.conftest import Stack, wait_event_ids
from worker.simulator.specs import FaultConfig

pytestmark = pytest.mark.integration


async def test_redrive_after_the_fix_applies_once_and_a_second_redrive_sends_nothing(
        stack: Stack) -> None:
    """Pinpoint failing: the events are dead-lettered; listed, shown; a redrive with a cap of
    one parks them; once Pinpoint works the redrive applies each once, and the same redrive
    again sends nothing."""
    team = "outage"
    stack.tenant(team, "key-outage")
    stack.settings(settings(team, 1, ["email"]))
    stack.sim.set_faults(FaultConfig(error_rate=1.0, error_status=503), tenant=team)
    await stack.start_worker()
    events = journeys(team, 3, 24, "email")
    stack.produce(events)
    outcomes = stack.reader(stack.outcomes_topic)
    await wait_event_ids(outcomes, [e.event_id for e in events])

    listed = await cli(stack, "dlq", "list", "--team", team, "--json")
    assert listed.code == 0, listed.err
    rows = listed.json()["dead_letters"]
    assert len(rows) == 6
    assert {r["reason"] for r in rows} == {"retries_exhausted"}
    assert {r["attempts"] for r in rows} == {1}
    table = await cli(stack, "dlq", "list", "--reason", "retries_exhausted")
    assert "P:OFFSET" in table.out
    assert "6 dead letter(s)" in table.out
    shown = await cli(stack, "dlq", "show", f"{rows[0]['partition']}:{rows[0]['offset']}")
    assert shown.code == 0, shown.err
    assert "dlq.reason: retries_exhausted" in shown.out
    assert '"specversion": "1.0"' in shown.out

    capped = await cli(stack, "dlq", "redrive", "--apply", "--max-attempts", "1", "--json")
    assert capped.code == 1
    assert (len(capped.json()["parked"]), capped.json()["sent"]) == (6, [])

    stack.sim.set_faults(None, tenant=team)
    dry = await cli(stack, "dlq", "redrive", "--team", team, "--json")
    assert (dry.code, len(dry.json()["to_send"])) == (0, 6)
    assert stack.sim.tenant(team).snapshot()["job_seekers"] == []
    ran = await cli(stack, "dlq", "redrive", "--team", team, "--apply", "--json",
                    "--timeout", "90")
    assert ran.code == 0, ran.err
    assert len(ran.json()["sent"]) == 6
    assert ran.json()["dead_lettered"] == 0
    state = stack.sim.tenant(team).snapshot()
    assert len(state["job_seekers"]) == 3
    assert len(state["comments"]) == 3
    again = await cli(stack, "dlq", "redrive", "--team", team, "--apply", "--json",
                      "--timeout", "30")
    assert again.code == 0, again.err
    assert (again.json()["sent"], len(again.json()["already_redriven"])) == ([], 6)
    assert stack.sim.tenant(team).snapshot() == state
