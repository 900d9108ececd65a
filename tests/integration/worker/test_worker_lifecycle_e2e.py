"""The worker's lifecycle end to end: SIGKILL crashes, a shared group, rebalances, shutdown."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter

import pytest

from worker.runtime.app import Worker
from worker.simulator.specs import FaultConfig
from worker.tools.sample import CampaignGenerator, SampleEvent
from worker.tools.stack import TopicReader, settings_document

from .conftest import Stack, assert_exactly_once, expect_push_on_first_event, wait_event_ids

pytestmark = pytest.mark.integration

NOTES = ["email", "sms", "linkedin_inmail", "replied", "interested"]
# A process restarted after SIGKILL waits for the dead member's session to expire (the broker's
# minimum is 6 s); revoke and drain deadlines stay short so a rebalance cannot stall the test.
PROCESS = {"session_timeout_ms": 6000, "max_poll_interval_ms": 20000, "revoke_timeout_s": 5,
           "drain_timeout_s": 10, "pinpoint_timeout_s": 5, "pinpoint_connect_timeout_s": 2,
           "pinpoint_late_write_grace_s": 0, "retry_deadline_s": 3}


def campaign(team: str, candidates: int, seed: int) -> list[SampleEvent]:
    return CampaignGenerator(seed=seed).campaign([team], candidates, steps=4, reply_rate=0.7)


def processed(values: list[dict[str, object]]) -> int:
    return len({v["event_id"] for v in values})


async def progressed(reader: TopicReader, before: int, by: int, total: int,
                     timeout: float = 60) -> None:
    """Wait until ``by`` more events than ``before`` have an outcome (or all ``total`` have)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while processed(reader.values()) < min(before + by, total):
        assert loop.time() < deadline, "no progress"
        await asyncio.sleep(0.05)


async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(stack: Stack) -> None:
    """The worker process SIGKILLed 4 times mid-run: each record and note once, in order."""
    stack.tenant("crash", "crash-secret")
    stack.settings(settings_document("crash", general={"create_notes_upon": NOTES}))
    stack.sim.set_faults(FaultConfig(latency_ms=40, jitter_ms=40), tenant="crash")
    events = campaign("crash", 60, seed=41)
    assert len(events) >= 300
    outcomes = stack.reader(stack.outcomes_topic)
    stack.produce(events)
    rng = random.Random(41)
    kills = 0
    for _ in range(4):
        proc = stack.spawn(max_inflight=3, max_inflight_per_team=3, **PROCESS)
        await proc.wait_ready()
        await progressed(outcomes, processed(outcomes.values()), 3, len(events))
        await asyncio.sleep(rng.uniform(0.3, 1.2))
        if processed(outcomes.values()) >= len(events):
            break
        proc.kill()
        assert await proc.wait_exit(10) == -signal.SIGKILL
        kills += 1
        print(f"kill {kills}: {processed(outcomes.values())} of {len(events)} events done")
    assert kills >= 3, "the run finished before three kills: make it longer"
    assert processed(outcomes.values()) < len(events)
    final = stack.spawn(max_inflight=8, max_inflight_per_team=8, **PROCESS)
    await wait_event_ids(outcomes, [e.event_id for e in events], timeout=120)
    final.proc.send_signal(signal.SIGTERM)
    assert await final.wait_exit(30) == 0
    checked = assert_exactly_once(stack.sim, expect_push_on_first_event(events, NOTES))
    assert checked["crash"] > 150


@pytest.mark.parametrize("stack", [6], indirect=True)
async def test_two_workers_share_a_group_through_rebalances(stack: Stack) -> None:
    """Two workers, one group, 6 partitions, one state file: both work; 1→2→1 loses nothing."""
    stack.tenant("pair", "pair-secret")
    stack.settings(settings_document("pair", general={"create_notes_upon": NOTES}))
    stack.sim.set_faults(FaultConfig(latency_ms=30, jitter_ms=30), tenant="pair")
    events = campaign("pair", 60, seed=42)
    outcomes = stack.reader(stack.outcomes_topic)
    limits = {"max_inflight": 3, "max_inflight_per_team": 3, "revoke_timeout_s": 5,
              "pinpoint_timeout_s": 5, "pinpoint_late_write_grace_s": 0,
              "retry_deadline_s": 3}
    first = await stack.start_worker(**limits)
    stack.produce(events)
    await progressed(outcomes, 0, len(events) // 8, len(events))
    second = await stack.start_worker(**limits)  # joins while the first is busy

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    def holds_events(w: Worker) -> bool:
        return any(tp.topic == stack.events_topic for tp in w.scheduler.partitions())

    while not (holds_events(first) and holds_events(second)):
        assert loop.time() < deadline, "the second worker got no partitions"
        await asyncio.sleep(0.05)
    owned = [{tp.partition for tp in w.scheduler.partitions() if tp.topic == stack.events_topic}
             for w in (first, second)]
    assert owned[0].isdisjoint(owned[1])
    assert owned[0] | owned[1] == set(range(6))
    before = processed(outcomes.values())
    await progressed(outcomes, before, len(events) // 8, len(events))
    counts = []
    for w in (first, second):
        metrics = await stack.metrics(w)
        counts.append(sum(v for k, v in metrics.items()
                          if k.startswith("pinpoint_sync_events_processed_total")))
    assert all(c > 0 for c in counts), f"events processed per worker: {counts}"
    assert processed(outcomes.values()) < len(events), "the run ended before the second rebalance"

    assert await stack.stop_worker(first) == 0  # leaves mid-run: the second takes over
    await wait_event_ids(outcomes, [e.event_id for e in events], timeout=90)
    assert await stack.stop_worker(second) == 0
    assert_exactly_once(stack.sim, expect_push_on_first_event(events, NOTES))
    assert stack.group_offsets() == stack.end_offsets()


@pytest.mark.parametrize("stack", [1], indirect=True)
async def test_a_spare_worker_turns_ready_and_takes_over(stack: Stack) -> None:
    """A member that joins and gets no partition is ready, and takes over when the owner leaves."""
    stack.tenant("spare", "spare-secret")
    stack.settings(settings_document("spare", general={"create_notes_upon": NOTES}))
    events = campaign("spare", 10, seed=45)
    outcomes = stack.reader(stack.outcomes_topic)
    owner = await stack.start_worker()
    spare = await stack.start_worker(ready_within=20, holds_partitions=False)
    assert spare.health.ready
    assert not [tp for tp in spare.scheduler.partitions() if tp.topic == stack.events_topic]
    stack.produce(events[:20])
    await wait_event_ids(outcomes, [e.event_id for e in events[:20]])
    assert await stack.stop_worker(owner) == 0
    stack.produce(events[20:])
    await wait_event_ids(outcomes, [e.event_id for e in events])
    assert [tp.partition for tp in spare.scheduler.partitions()
            if tp.topic == stack.events_topic] == [0]
    assert_exactly_once(stack.sim, expect_push_on_first_event(events, NOTES))


async def test_shutdown_drains_commits_and_restart_reprocesses_nothing(stack: Stack) -> None:
    """shutdown() mid-run: exit 0, in-flight work finished and committed, no event redone."""
    stack.tenant("grace", "grace-secret")
    stack.settings(settings_document("grace", general={"create_notes_upon": NOTES}))
    stack.sim.set_faults(FaultConfig(latency_ms=20, jitter_ms=20), tenant="grace")
    events = campaign("grace", 40, seed=43)
    outcomes = stack.reader(stack.outcomes_topic)
    worker = await stack.start_worker(max_inflight=8, max_inflight_per_team=8)
    located = stack.produce_located([(e.key, e.value) for e in events])
    await progressed(outcomes, 0, 30, len(events))
    assert worker.scheduler.inflight > 0
    assert await stack.stop_worker(worker) == 0

    committed = stack.group_offsets()
    done = {v["event_id"] for v in outcomes.values()}
    assert 0 < len(done) < len(events)
    assert sum(committed.values()) > 0
    for event, (partition, offset) in zip(events, located, strict=True):
        if offset < committed.get(partition, 0):
            assert event.event_id in done, "an offset was committed before its event was done"

    restarted = await stack.start_worker(max_inflight=8, max_inflight_per_team=8)
    await wait_event_ids(outcomes, [e.event_id for e in events])
    assert await stack.stop_worker(restarted) == 0
    per_event = Counter(v["event_id"] for v in outcomes.values())
    assert set(per_event.values()) == {1}, "an event was processed twice"
    assert stack.group_offsets() == stack.end_offsets()
    assert_exactly_once(stack.sim, expect_push_on_first_event(events, NOTES))


async def test_sigterm_stops_the_process_cleanly(stack: Stack) -> None:
    """SIGTERM while work is in flight: the process drains, commits, leaves, and exits 0."""
    stack.tenant("term", "term-secret")
    stack.settings(settings_document("term", general={"create_notes_upon": NOTES}))
    stack.sim.set_faults(FaultConfig(latency_ms=30, jitter_ms=20), tenant="term")
    events = campaign("term", 30, seed=44)
    outcomes = stack.reader(stack.outcomes_topic)
    located = stack.produce_located([(e.key, e.value) for e in events])
    proc = stack.spawn(max_inflight=6, max_inflight_per_team=6, **PROCESS)
    await proc.wait_ready()
    await progressed(outcomes, 0, 20, len(events))
    proc.proc.send_signal(signal.SIGTERM)
    assert await proc.wait_exit(30) == 0
    log = proc.log()
    assert "stopped consuming" in log
    assert "worker stopped" in log
    committed = stack.group_offsets()
    done = {v["event_id"] for v in outcomes.values()}
    assert sum(committed.values()) > 0
    for event, (partition, offset) in zip(events, located, strict=True):
        if offset < committed.get(partition, 0):
            assert event.event_id in done, "an offset was committed before its event was done"


async def test_misconfiguration_exits_before_connecting(stack: Stack) -> None:
    """PINPOINT_SYNC_HTTP_PORT=abc: a clear message naming it, a non-zero exit, no connection."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc = stack.spawn(http_port="abc", kafka_bootstrap_servers="127.0.0.1:1")
    code = await proc.wait_exit(20)
    assert code != 0
    assert loop.time() - started < 15
    log = proc.log()
    assert "PINPOINT_SYNC_HTTP_PORT" in log
    assert "invalid configuration" in log
    assert "worker started" not in log
