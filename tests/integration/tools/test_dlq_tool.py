"""``pinpoint-sync dlq`` end to end: list, show, redrive once after the cause is fixed, cap."""

from __future__ import annotations

import pytest

from tests.integration.tools.conftest import cli, topic_ends
from tests.integration.tools.test_replay_tool import journeys, settings
from tests.integration.worker.conftest import Stack, wait_event_ids
from tests.integration.worker.test_worker_large_dead_letters import invalid_event, produce_large
from worker.kafka.topics import TopicSpec, ensure_topics
from worker.simulator.specs import FaultConfig

pytestmark = pytest.mark.integration


async def test_redrive_after_the_fix_applies_once_and_a_second_redrive_sends_nothing(
        stack: Stack) -> None:
    """Pinpoint refusing the requests as invalid: the events are dead-lettered; listed, shown;
    a redrive with a cap of one parks them; once the cause is fixed the redrive applies each
    once, and the same redrive again sends nothing."""
    team = "outage"
    stack.tenant(team, "key-outage")
    stack.settings(settings(team, 1, ["email"]))
    stack.sim.set_faults(FaultConfig(error_rate=1.0, error_status=422), tenant=team)
    await stack.start_worker()
    events = journeys(team, 3, 24, "email")
    stack.produce(events)
    outcomes = stack.reader(stack.outcomes_topic)
    await wait_event_ids(outcomes, [e.event_id for e in events])

    listed = await cli(stack, "dlq", "list", "--team", team, "--json")
    assert listed.code == 0, listed.err
    rows = listed.json()["dead_letters"]
    assert len(rows) == 6
    assert {r["reason"] for r in rows} == {"pinpoint_invalid"}
    assert {r["attempts"] for r in rows} == {1}
    table = await cli(stack, "dlq", "list", "--reason", "pinpoint_invalid")
    assert "P:OFFSET" in table.out
    assert "6 dead letter(s)" in table.out
    shown = await cli(stack, "dlq", "show", f"{rows[0]['partition']}:{rows[0]['offset']}")
    assert shown.code == 0, shown.err
    assert "dlq.reason: pinpoint_invalid" in shown.out
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


async def test_a_digest_dead_letter_is_listed_as_such_and_never_redriven(stack: Stack) -> None:
    """A dead letter too large for its topic arrives as a digest: `dlq list` marks it and
    names the replay command of its source offsets; `dlq redrive` sends it nowhere (exit 1)
    while the whole dead letter beside it is still to send."""
    small_dlq = stack.names("small-dlq")
    ensure_topics(stack.options, {small_dlq: TopicSpec(
        partitions=1, configs={"max.message.bytes": "100000"})})
    key = b"quiet:cand-1"
    outcomes = stack.reader(stack.outcomes_topic)
    await stack.start_worker(dlq_topic=small_dlq)
    produce_large(stack, [(key, invalid_event(300_000)), (key, invalid_event(1_000))])
    await stack.wait_outcomes(outcomes, 2, timeout=60)
    env = {"PINPOINT_SYNC_DLQ_TOPIC": small_dlq}

    listed = await cli(stack, "dlq", "list", "--json", **env)
    assert listed.code == 0, listed.err
    rows = sorted(listed.json()["dead_letters"], key=lambda r: r["offset"])
    assert [r["digest"] for r in rows] == [True, False]
    digest = rows[0]
    source = stack.end_offsets()
    [(partition, end)] = [(p, o) for p, o in source.items() if o]
    assert digest["replay"] == (f"pinpoint-sync replay --offsets {partition}:{end - 2}-"
                                f"{end - 2}")
    table = await cli(stack, "dlq", "list", **env)
    assert "KIND" in table.out.splitlines()[0]
    assert [line.split()[6] for line in table.out.splitlines()[1:3]] == ["digest", "event"]
    replay_ends = topic_ends(stack)[stack.replay_topic]
    dry = await cli(stack, "dlq", "redrive", "--json", **env)
    assert dry.code == 1, dry.err
    report = dry.json()
    assert [r["offset"] for r in report["digests"]] == [digest["offset"]]
    assert [r["offset"] for r in report["to_send"]] == [rows[1]["offset"]]
    text = await cli(stack, "dlq", "redrive", "--apply", "--timeout", "20", **env)
    assert "not redrivable" in text.out
    assert "replay --offsets" in text.out
    sent = topic_ends(stack)[stack.replay_topic]
    assert sum(sent.values()) - sum(replay_ends.values()) == 1
