"""Delivery guarantees end to end: note order, dead letters, and a team whose key is revoked."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime

import aiohttp
import pytest

from worker.simulator.specs import FaultConfig
from worker.tools.sample import CampaignGenerator, malformed_events
from worker.tools.stack import settings_document

from .conftest import Stack, assert_exactly_once, expect_push_on_first_event, wait_event_ids

pytestmark = pytest.mark.integration

ALL_NOTES = ["email", "sms", "linkedin_inmail", "linkedin_connection_request", "phone_call",
             "task", "replied", "interested", "not_interested", "unsubscribed"]


async def test_notes_keep_each_candidates_event_order(stack: Stack) -> None:
    """Many candidates, several notes each, jittery API: each record's notes in event order."""
    stack.tenant("order", "order-secret")
    stack.settings(settings_document("order", sync={"sync_upon": "added"}))
    stack.sim.set_faults(FaultConfig(latency_ms=1, jitter_ms=15), tenant="order")
    events = CampaignGenerator(seed=31).campaign(["order"], 40, steps=4, reply_rate=0.8)
    outcomes = stack.reader(stack.outcomes_topic)
    await stack.start_worker()
    stack.produce(events)
    values = await wait_event_ids(outcomes, [e.event_id for e in events])
    checked = assert_exactly_once(stack.sim, expect_push_on_first_event(events, ALL_NOTES))
    assert checked["order"] >= 4 * 40
    assert len(values) == len(events)
    verdicts = Counter((v["outcome"], v["reason"]) for v in values)
    assert set(verdicts) <= {("synced", "sync_trigger_reached"), ("noted", "note_written"),
                             ("updated", "manual_update_synced"),
                             ("skipped", "nothing_to_update")}, verdicts


async def test_bad_events_are_dead_lettered_with_headers(stack: Stack) -> None:
    """Undecodable, invalid, mis-keyed, null and Pinpoint-refused events: DLQ with headers."""
    stack.tenant("dlq", "dlq-secret")
    stack.settings(settings_document("dlq", general={"create_notes_upon": ["email"]}))
    gen = CampaignGenerator(seed=32)
    good = gen.campaign(["dlq"], 4, steps=2, reply_rate=0.0)
    mis_keyed = good[0].value  # a valid event under another candidate's key
    refused = gen.candidate("dlq", 90)
    refused.snapshot["emails"] = ["not-an-email"]  # Pinpoint answers 422: Email is invalid
    refused_event = gen.event(refused, "candidate.added", at=gen.start)
    bad: list[tuple[bytes | None, bytes | None]] = [
        *malformed_events("dlq"),
        (b"dlq:cand-someone-else", mis_keyed),
        (b"dlq:cand-null", None),
        (refused_event.key, refused_event.value),
    ]
    reasons = ["undecodable", "undecodable", "invalid_event", "invalid_event",
               "invalid_event", "invalid_event", "pinpoint_invalid"]
    # bad records first, then the good ones: the worker must go on past them
    records = [*bad, *((e.key, e.value) for e in good)]

    outcomes = stack.reader(stack.outcomes_topic)
    dlq = stack.reader(stack.dlq_topic, decode=lambda v: v)
    await stack.start_worker()
    coordinates = stack.produce_located(records)[:len(bad)]
    await wait_event_ids(outcomes, [e.event_id for e in good])
    await stack.wait_outcomes(outcomes, len(records))
    assert await asyncio.to_thread(dlq.wait_for, len(bad), 30)

    letters = {(p, int(h["dlq.source.offset"])): (k, v, h) for k, v, h in dlq.records
               for p in [int(h["dlq.source.partition"])]}
    assert len(dlq.records) == len(bad)
    for (key, value), (partition, offset), reason in zip(bad, coordinates, reasons, strict=True):
        got_key, got_value, headers = letters[(partition, offset)]
        assert (got_key, got_value) == (key, value)
        assert headers["dlq.reason"].decode() == reason
        assert headers["dlq.error"].strip()
        assert headers["dlq.source.topic"].decode() == stack.events_topic
        assert int(headers["dlq.attempts"]) >= 1
        assert datetime.fromisoformat(headers["dlq.first_failed_at"].decode()).tzinfo
    _, _, refused_headers = letters[coordinates[-1]]
    assert "Email is invalid" in refused_headers["dlq.error"].decode()
    assert "not-an-email" not in json.dumps([h["dlq.error"].decode() for _, _, h in dlq.records])

    # an outcome for every record; the good events went through
    values = outcomes.values()
    assert len(values) == len(records)
    dead = [v for v in values if v["outcome"] == "dead_lettered"]
    assert sorted(v["reason"] for v in dead) == sorted(reasons)
    assert {v["candidate_id"] for v in dead} >= {"cand-bad-1", "cand-bad-2", "cand-null"}
    assert_exactly_once(stack.sim, expect_push_on_first_event(good, ["email"]))


async def test_revoked_key_pauses_only_that_team_until_it_works(stack: Stack) -> None:
    """A key revoked mid-run parks its team (others go on); once it works, nothing is lost."""
    for team in ("teama", "teamb"):
        stack.tenant(team, f"{team}-secret")
        stack.sim.set_faults(FaultConfig(latency_ms=15, jitter_ms=10), tenant=team)
    stack.settings(*(settings_document(t, general={"create_notes_upon": ["email", "replied"]})
                     for t in ("teama", "teamb")))
    gen = CampaignGenerator(seed=33)
    events_a = gen.campaign(["teama"], 30, steps=3, reply_rate=0.5)
    events_b = gen.campaign(["teamb"], 30, steps=3, reply_rate=0.5)
    outcomes = stack.reader(stack.outcomes_topic)
    dlq = stack.reader(stack.dlq_topic, decode=lambda v: v)
    worker = await stack.start_worker(max_inflight=16, max_inflight_per_team=8)
    stack.produce(events_a[:60])

    def done(team: str) -> int:
        return sum(1 for v in outcomes.values() if v["team_id"] == team)

    async with aiohttp.ClientSession() as http:
        while done("teama") < 10:
            await asyncio.sleep(0.02)
        async with http.put(f"{stack.sim.url}/_sim/tenants/teama",
                            json={"api_key": "teama-rotated"}) as resp:
            assert resp.status == 200
        stack.produce([*events_a[60:], *events_b])
        started = asyncio.get_running_loop().time()
        await wait_event_ids(outcomes, [e.event_id for e in events_b], timeout=30)
        b_seconds = asyncio.get_running_loop().time() - started
        metrics = await stack.metrics(worker)
        assert metrics["pinpoint_sync_paused_teams"] == 1
        stuck = done("teama")
        assert stuck < len(events_a)
        await asyncio.sleep(1.0)  # several probe intervals: still parked, nothing dead-lettered
        assert done("teama") == stuck
        assert dlq.count() == 0
        assert b_seconds < 15

        (stack.secrets / "teama-key").write_text("teama-rotated")  # the rotated key arrives
        await wait_event_ids(outcomes, [e.event_id for e in events_a], timeout=30)
    metrics = await stack.metrics(worker)
    assert metrics["pinpoint_sync_paused_teams"] == 0
    assert dlq.count() == 0
    per_event = Counter(v["event_id"] for v in outcomes.values())
    assert set(per_event.values()) == {1}
    assert_exactly_once(stack.sim, expect_push_on_first_event(events_a + events_b,
                                                              ["email", "replied"]))


async def test_inactive_team_events_are_skipped_and_invalid_ones_dead_lettered(
    stack: Stack,
) -> None:
    """Teams whose integration is off (or who have no settings): their valid events are skipped
    at once (one outcome each, nothing in Pinpoint); invalid ones are dead-lettered with their
    reason as for any team, including an event whose data alone is wrong and hostile nesting
    thousands of levels deep; nothing after them is lost or left uncommitted."""
    stack.settings(settings_document("off", active=False, version=4))
    gen = CampaignGenerator(seed=44)
    good = gen.campaign(["off"], 6, steps=2, reply_rate=0.5)
    unknown_team = gen.campaign(["ghost"], 2, steps=1, reply_rate=0.0)
    sent = next(e for e in good if e.type.endswith("outreach.sent"))
    stepless = json.loads(sent.value)
    del stepless["data"]["step"]  # a valid envelope, invalid data
    deep = b'{"specversion":"1.0","x":' + b"[" * 3000 + b"]" * 3000 + b"}"
    bad: list[tuple[bytes | None, bytes | None]] = [
        *malformed_events("off"),
        (b"off:cand-someone-else", good[0].value),  # mis-keyed
        (sent.key, json.dumps(stepless).encode()),
        (b"ghost:cand-deep", deep),
        (b"off:cand-deep", deep),
    ]
    reasons = ["undecodable", "undecodable", "invalid_event", "invalid_event", "invalid_event",
               "invalid_event", "undecodable", "undecodable"]
    records = [*bad, *((e.key, e.value) for e in [*good, *unknown_team])]

    outcomes = stack.reader(stack.outcomes_topic)
    dlq = stack.reader(stack.dlq_topic, decode=lambda v: v)
    await stack.start_worker()
    stack.produce_located(records)
    await stack.wait_outcomes(outcomes, len(records))
    assert await asyncio.to_thread(dlq.wait_for, len(bad), 30)

    assert sorted(h["dlq.reason"].decode() for _, _, h in dlq.records) == sorted(reasons)
    assert any("too deep" in h["dlq.error"].decode() or "deeper" in h["dlq.error"].decode()
               for _, _, h in dlq.records)
    values = outcomes.values()
    assert len(values) == len(records)
    skipped = [v for v in values if v["outcome"] == "skipped"]
    assert {v["reason"] for v in skipped} == {"integration_inactive"}
    assert sorted(v["event_id"] for v in skipped) == sorted(
        e.event_id for e in [*good, *unknown_team])
    assert {v["policy_version"] for v in skipped if v["team_id"] == "off"} == {4}
    assert {v["policy_version"] for v in skipped if v["team_id"] == "ghost"} == {None}
    assert all(v["actions"] == [] for v in skipped)
    assert sorted(v["reason"] for v in values if v["outcome"] == "dead_lettered") == sorted(
        reasons)
    # Every offset is committed (an idle worker commits at once): nothing stalled a partition.
    async with asyncio.timeout(30):
        while await asyncio.to_thread(stack.group_offsets) != stack.end_offsets():
            await asyncio.sleep(0.2)
