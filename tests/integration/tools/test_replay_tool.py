"""``pinpoint-sync replay`` end to end: dry runs change nothing, applies write each effect once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import PostgresServer
from tests.integration.tools.conftest import cli, now_ms, topic_ends
from tests.integration.worker.conftest import (
    Expected,
    Stack,
    assert_exactly_once,
    marker_of,
    wait_event_ids,
)
from worker.core.notes import note_ref
from worker.store.errors import StateStoreError
from worker.store.factory import make_state_store
from worker.tools.sample import CampaignGenerator, SampleEvent
from worker.tools.stack import settings_document

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def journeys(team: str, n: int, seed: int, *steps: str) -> list[SampleEvent]:
    """``n`` candidates, each added then sent the outreach ``steps`` (channels), in order."""
    gen = CampaignGenerator(seed=seed)
    events: list[SampleEvent] = []
    for i in range(n):
        cand = gen.candidate(team, i)
        at = T0 + timedelta(minutes=i)
        events.append(gen.event(cand, "candidate.added", at=at))
        for number, channel in enumerate(steps, start=1):
            step: dict[str, Any] = {"number": number, "channel": channel}
            if channel == "email":
                step |= {"subject": "Hello", "body": "A role you may like"}
            events.append(gen.event(cand, "outreach.sent", at=at + timedelta(hours=number),
                                    step=step))
    return events


def channel(event: SampleEvent) -> str | None:
    import json  # noqa: PLC0415

    body = json.loads(event.value)
    return body["data"].get("step", {}).get("channel")


def settings(team: str, version: int, notes: list[str], *, active: bool = True) -> dict[str, Any]:
    return settings_document(team, version=version, active=active,
                             general={"create_notes_upon": notes},
                             sync={"sync_upon": "added", "only_notes_on_synced": False})


async def processed(stack: Stack, events: list[SampleEvent]) -> None:
    reader = stack.reader(stack.outcomes_topic)
    await wait_event_ids(reader, [e.event_id for e in events])


async def test_dry_run_changes_nothing_and_lists_exactly_what_a_settings_change_changes(
        stack: Stack) -> None:
    """After sms notes are selected, the dry run lists exactly the sms events (skipped → noted,
    one note each) and leaves the group's offsets, the simulator, the store file and every
    topic as they were."""
    team = "dry"
    stack.tenant(team, "key-dry")
    stack.settings(settings(team, 1, ["email"]))
    worker = await stack.start_worker()
    start = now_ms()
    events = journeys(team, 6, 21, "email", "sms")
    stack.produce(events)
    await processed(stack, events)
    await stack.stop_worker(worker)
    stack.settings(settings(team, 2, ["email", "sms"]))
    groups, ends = stack.group_offsets(), topic_ends(stack)
    requests = list(stack.sim.tenant(team).requests)
    store_bytes = (stack.tmp / "state.db").read_bytes()

    ran = await cli(stack, "replay", "--from", str(start), "--to", str(now_ms() + 1), "--json")

    assert ran.code == 0, ran.err
    report = ran.json()
    sms = {e.event_id for e in events if channel(e) == "sms"}
    assert {e["event_id"] for e in report["events"]} == sms
    assert {(e["original"], e["now"]) for e in report["events"]} == {
        ("skipped/note_type_not_selected", "noted")}
    assert all(e["to_write"] == {"records": 0, "notes": 1, "updates": 0}
               for e in report["events"])
    assert report["changes"] == [{"from": "skipped/note_type_not_selected", "to": "noted",
                                  "events": 6, "records": 0, "notes": 6, "updates": 0,
                                  "kept_for_backfill": 0}]
    assert (report["selected"], report["originals_found"]) == (18, 18)
    assert stack.group_offsets() == groups
    assert topic_ends(stack) == ends
    assert list(stack.sim.tenant(team).requests) == requests
    assert (stack.tmp / "state.db").read_bytes() == store_bytes
    text = await cli(stack, "replay", "--from", str(start), "--to", str(now_ms() + 1))
    assert "skipped/note_type_not_selected → noted: 6 events, 6 notes to write" in text.out


async def test_apply_twice_while_live_events_flow_writes_each_note_once(stack: Stack) -> None:
    """A replay applied while the live worker processes new events of the same candidates,
    then applied again, leaves one record per candidate and each note exactly once; the
    second run publishes nothing."""
    team = "twice"
    stack.tenant(team, "key-twice")
    stack.settings(settings(team, 1, ["email"]))
    await stack.start_worker()
    start = now_ms()
    events = journeys(team, 8, 22, "email", "sms")
    stack.produce(events)
    await processed(stack, events)
    end = now_ms() + 1
    stack.settings(settings(team, 2, ["email", "sms", "linkedin_inmail"]))
    await asyncio.sleep(0.5)
    gen = CampaignGenerator(seed=99)  # other event ids, the same candidates (keys)
    cands = [gen.candidate(team, i) for i in range(8)]
    live = [gen.event(c, "outreach.sent", at=T0 + timedelta(days=1),
                      step={"number": 3, "channel": "linkedin_inmail"}) for c in cands]
    replay = asyncio.ensure_future(cli(stack, "replay", "--from", str(start), "--to", str(end),
                                       "--apply", "--json", "--timeout", "90"))
    await asyncio.sleep(1.0)
    stack.produce(live)
    first = await replay
    assert first.code == 0, first.err
    summary = first.json()
    assert (summary["published"], summary["events"], summary["missing"]) == (24, 24, 0)
    await processed(stack, live)

    def noted() -> Counter[str | None]:
        return Counter(marker_of(c["body_text"])
                       for c in stack.sim.tenant(team).snapshot()["comments"])

    wanted = {note_ref(team, e.event_id) for e in events + live if channel(e) is not None}
    assert set(noted()) == wanted
    assert max(noted().values()) == 1
    snapshot = stack.sim.tenant(team).snapshot()
    again = await cli(stack, "replay", "--from", str(start), "--to", str(end), "--apply",
                      "--json", "--timeout", "60")
    assert again.code == 0, again.err
    assert (again.json()["published"], again.json()["already_published"]) == (0, 24)
    assert stack.sim.tenant(team).snapshot() == snapshot
    records = Counter(r["external_system_reference"] for r in snapshot["job_seekers"])
    assert len(records) == 8
    assert set(records.values()) == {1}


async def test_backfill_of_a_newly_activated_team(stack: Stack) -> None:
    """A team activated after its events went by: the dry run shows them skipped as inactive
    and what syncing them would write; the apply writes exactly that, once, in order."""
    team = "fresh"
    stack.tenant(team, "key-fresh")
    stack.settings(settings(team, 1, ["email"], active=False))
    await stack.start_worker()
    start = now_ms()
    events = journeys(team, 5, 23, "email")
    stack.produce(events)
    await processed(stack, events)
    assert stack.sim.tenant(team).snapshot()["job_seekers"] == []
    stack.settings(settings(team, 2, ["email"]))
    end = now_ms() + 1

    dry = await cli(stack, "replay", "--from", str(start), "--to", str(end), "--team", team,
                    "--json")
    assert dry.code == 0, dry.err
    changes = {(c["from"], c["to"]): (c["events"], c["records"], c["notes"])
               for c in dry.json()["changes"]}
    assert changes == {("skipped/integration_inactive", "synced"): (5, 5, 0),
                       ("skipped/integration_inactive", "noted"): (5, 0, 5)}

    ran = await cli(stack, "replay", "--from", str(start), "--to", str(end), "--team", team,
                    "--apply", "--json", "--timeout", "90")
    assert ran.code == 0, ran.err
    assert ran.json()["verdicts"] == {"synced": 5, "noted": 5}
    expected = Expected(set(), {})
    for e in events:
        ref = f"sourcewhale:{team}:{e.candidate_id}"
        expected.records.add(ref)
        expected.notes.setdefault(ref, [])
        if channel(e) == "email":
            expected.notes[ref].append(note_ref(team, e.event_id))
    assert assert_exactly_once(stack.sim, {team: expected}) == {team: 5}


async def test_bad_arguments_and_configuration_exit_2(stack: Stack) -> None:
    """A bad range, --from after --to, an unknown team, a missing store and an unreachable
    broker each exit 2 with one line saying so."""
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["replay", "--from", "2026-11-03T00:00:00Z", "--to", "2026-11-02T00:00:00Z"], {},
         "--from is after --to"),
        (["replay", "--offsets", "0:9-3"], {}, "FROM is after TO"),
        (["replay", "--offsets", "0:0-999999"], {}, "outside partition 0"),
        (["replay", "--from", "yesterday", "--to", "1"], {}, "bad time"),
        (["replay", "--offsets", "0:0-0", "--team", "nobody"], {}, "unknown team"),
        (["replay", "--offsets", "0:0-0"], {}, "no state store"),
        (["dlq", "redrive"], {}, "no state store"),
        (["dlq", "list"], {"PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, "Kafka"),
    ]
    stack.produce([(b"t:c", b"{}")])
    for args, env, says in cases:
        ran = await cli(stack, *args, **env)
        assert ran.code == 2, (args, ran.out, ran.err)
        assert says in ran.err, (args, ran.err)
        assert len(ran.err.strip().splitlines()) == 1, ran.err


def _table_digests(url: str, password: str | None) -> dict[str, str]:
    """Every table of the store's schema, its rows hashed (equal digests: nothing written)."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url, password=password, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY 1").fetchall()]
        return {name: str(conn.execute(
            f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)),"
            f" '') FROM {name} t").fetchone()) for name in names}


async def test_dry_run_on_postgres_reads_its_state_and_writes_nothing(
        stack: Stack, postgres_schema: str, postgres_server: PostgresServer) -> None:
    """With STATE_URL on PostgreSQL the dry run reads the ledger and candidate states from it
    (only the newly selected notes are listed, no record) and leaves every table as it was;
    the store it opens refuses a write."""
    team = "pgdry"
    password = postgres_server.password
    stack.tenant(team, "key-pgdry")
    stack.settings(settings(team, 1, ["email"]))
    worker = await stack.start_worker(state_url=postgres_schema, state_password=password)
    start = now_ms()
    events = journeys(team, 4, 23, "email", "sms")
    stack.produce(events)
    await processed(stack, events)
    await stack.stop_worker(worker)
    stack.settings(settings(team, 2, ["email", "sms"]))
    before = _table_digests(postgres_schema, password)
    assert "effects" in before

    env = {"PINPOINT_SYNC_STATE_URL": postgres_schema}
    if password is not None:
        env["PINPOINT_SYNC_STATE_PASSWORD"] = password
    ran = await cli(stack, "replay", "--from", str(start), "--to", str(now_ms() + 1), "--json",
                    **env)

    assert ran.code == 0, ran.err
    report = ran.json()
    assert {e["event_id"] for e in report["events"]} == {
        e.event_id for e in events if channel(e) == "sms"}
    assert report["to_write"] == {"records": 0, "notes": 4, "updates": 0}
    assert _table_digests(postgres_schema, password) == before
    config = stack.config(state_url=postgres_schema, state_password=password)
    store = make_state_store(config, read_only=True)
    async with store:
        with pytest.raises(StateStoreError, match="read-only"):
            await store.remember_redrive(stack.dlq_topic, 0, 0, "r")
    assert _table_digests(postgres_schema, password) == before
