"""``pinpoint-sync dev`` (and ``make run``): the whole local stack, a realistic campaign, a summary.

Starts a real Apache Kafka broker (from Kafka's jars; or uses the broker named by
``PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS`` or ``KAFKA_BOOTSTRAP_SERVERS``), the Pinpoint simulator
with four tenants whose settings differ, publishes their settings, runs the worker, produces a
campaign of over 1,000 events for over 200 candidates (plus a few malformed events), waits until
every event has an outcome, and prints a summary per tenant. Everything stops afterwards
unless ``--keep-running``.

The four tenants:

- ``acme``: sync upon added, a note for every activity; some candidates already exist in its
  Pinpoint (they are merged, not duplicated).
- ``globex``: sync upon replied, only notes on synced records.
- ``initech``: sync upon interested; phone and job title mandatory, phone protected; job title,
  skills and GitHub mapped to custom fields; the campaign lands as applications to a job.
- ``umbrella``: integration inactive (its events are skipped, never dead-lettered).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.config import load_config
from worker.kafka.broker import LocalKafkaBroker, free_port, port_is_open
from worker.kafka.topics import TopicSpec, ensure_topics
from worker.observability.logging import configure_logging
from worker.runtime.app import Worker
from worker.simulator import SimulatorServer
from worker.simulator.state import Record
from worker.tools.sample import CampaignGenerator, SampleEvent, interleave, malformed_events
from worker.tools.stack import TopicReader, produce, publish_settings, settings_document

TEAMS = ("acme", "globex", "initech", "umbrella")
CAMPAIGN = "camp-1"


def tenant_specs() -> list[dict[str, Any]]:
    """The simulator's tenants (rate limited like Pinpoint, a little more generously)."""
    limit = {"rate": 25.0, "burst": 50}
    return [
        {"subdomain": "acme", "api_key": "acme-live-key", "rate_limit": limit},
        {"subdomain": "globex", "api_key": "globex-live-key", "rate_limit": limit},
        {"subdomain": "initech", "api_key": "initech-live-key", "rate_limit": limit,
         "jobs": [{"id": "42", "title": "Senior Backend Engineer"}],
         "custom_fields": [{"id": "25", "name": "Job title"},
                           {"id": "26", "name": "Skills", "field_type": "text"},
                           {"id": "27", "name": "GitHub"}]},
        {"subdomain": "umbrella", "api_key": "umbrella-live-key", "rate_limit": limit},
    ]


def team_settings() -> list[dict[str, Any]]:
    """The four teams' settings documents."""
    every_note = ["email", "sms", "linkedin_inmail", "linkedin_connection_request", "phone_call",
                  "task", "replied", "interested", "not_interested", "unsubscribed"]
    return [
        settings_document("acme", general={"create_notes_upon": every_note},
                          sync={"sync_upon": "added"}),
        settings_document("globex",
                          general={"create_notes_upon": ["email", "replied", "interested"]},
                          sync={"sync_upon": "replied", "only_notes_on_synced": True}),
        settings_document(
            "initech",
            general={"create_notes_upon": ["replied", "interested", "not_interested"]},
            sync={"sync_upon": "interested", "only_notes_on_synced": True},
            fields={"mandatory": ["first_name", "last_name", "email", "phone", "custom:25"],
                    "protected": ["phone"]},
            field_mapping={"string": {"first_name": "first_name", "last_name": "last_name",
                                      "email": "email", "phone": "phone",
                                      "job_title": "custom:25"},
                           "list": {"skills": ["custom:26"]},
                           "social": {"linkedin": "linkedin_url", "github": "custom:27"}},
            destination={"campaign_jobs": {CAMPAIGN: "42"}},
        ),
        settings_document("umbrella", active=False),
    ]


def campaign(candidates_per_team: int, seed: int) -> tuple[list[SampleEvent], list[Any]]:
    """The campaign's events; a few initech candidates lack a phone (mandatory there)."""
    gen = CampaignGenerator(seed=seed)
    streams: list[list[SampleEvent]] = []
    people = []
    index = 0
    for team in TEAMS:
        for i in range(candidates_per_team):
            index += 1
            cand = gen.candidate(team, index, with_phone=not (team == "initech" and i % 10 == 0))
            if team == "initech":
                cand.snapshot["social"]["github"] = f"https://github.com/dev{index}"
            people.append(cand)
            streams.append(gen.journey(cand, steps=3, reply_rate=0.6, interested_rate=0.6))
    return list(interleave(streams, random.Random(seed))), people  # noqa: S311


def seed_existing_people(sim: SimulatorServer, people: list[Any], count: int) -> int:
    """Put some of acme's candidates in its Pinpoint already (made by hand, long ago)."""
    tenant = sim.tenant("acme")
    seeded = 0
    for cand in [p for p in people if p.team_id == "acme"][:count]:
        snap = cand.snapshot
        attributes = {"first_name": snap["first_name"], "last_name": snap["last_name"],
                      "email": snap["emails"][0]}
        person = tenant.create_candidate({**attributes, "phone": None})
        # A job seeker shows its person's attributes: Pinpoint's e-mail search finds it.
        tenant.add_record(Record(id=tenant.next_id("job_seekers"), kind="job_seekers",
                                 candidate_id=person.id, attributes=dict(attributes),
                                 external_system_reference=None))
        seeded += 1
    return seeded


@dataclass
class Summary:
    created: Counter[str]
    merged: Counter[str]
    notes: Counter[str]
    outcomes: dict[str, Counter[str]]


def summarize(outcomes: list[dict[str, Any]]) -> Summary:
    created: Counter[str] = Counter()
    merged: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    by_team: dict[str, Counter[str]] = defaultdict(Counter)
    for out in outcomes:
        team = out.get("team_id") or "?"
        by_team[team][f"{out['outcome']}/{out['reason']}"] += 1
        kinds = [a["kind"] for a in out.get("actions", []) if a["status"] == "applied"]
        if any(k.startswith("create_") for k in kinds):
            created[team] += 1
        elif out["outcome"] == "synced" and "update_candidate" in kinds:
            merged[team] += 1
        notes[team] += kinds.count("write_comment")
    return Summary(created, merged, notes, dict(by_team))


def print_summary(summary: Summary, sim: SimulatorServer, http_port: int | None,
                  produced: int, elapsed: float) -> None:
    print()
    print(f"All {produced} events processed in {elapsed:.1f}s.")
    print()
    header = f"{'tenant':<10} {'created':>8} {'merged':>7} {'notes':>6}  outcomes (reason: count)"
    print(header)
    print("-" * len(header))
    for team in (*TEAMS, "?"):
        counts = summary.outcomes.get(team)
        if not counts:
            continue
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        print(f"{team:<10} {summary.created[team]:>8} {summary.merged[team]:>7} "
              f"{summary.notes[team]:>6}  {detail}")
    print()
    print("In the simulated Pinpoint accounts:")
    for team in TEAMS:
        state = sim.tenant(team).snapshot()
        print(f"  {team:<10} {len(state['candidates']):>4} candidates, "
              f"{len(state['job_seekers']):>4} job seekers, "
              f"{len(state['applications']):>4} applications, "
              f"{len(state['comments']):>5} comments")
    print()
    if http_port:
        print(f"Metrics: http://127.0.0.1:{http_port}/metrics   health: /healthz   ready: /readyz")
    print(f"Simulator: {sim.url}/_sim/tenants/acme/state  (control API under /_sim/)")


async def run_demo(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = (os.environ.get("PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS")
                 or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    broker: LocalKafkaBroker | None = None
    if not bootstrap:
        port = args.kafka_port or (9092 if not port_is_open("127.0.0.1", 9092) else free_port())
        broker = LocalKafkaBroker(port=port, run_dir=run_dir / "kafka")
        print(f"[1/6] starting Apache Kafka on 127.0.0.1:{port} (from Kafka's jars) ...",
              flush=True)
        bootstrap = await asyncio.to_thread(broker.start)
        print(f"      ready in {broker.started_in:.1f}s; log {broker.log_file}", flush=True)
    else:
        print(f"[1/6] using the Kafka broker at {bootstrap}", flush=True)
    try:
        async with SimulatorServer(port=args.sim_port, tenants=tenant_specs(), seed=1) as sim:
            print(f"[2/6] Pinpoint simulator at {sim.url} with tenants {', '.join(TEAMS)}",
                  flush=True)
            return await _run_with(args, sim, bootstrap, run_dir)
    finally:
        if broker is not None:
            await asyncio.to_thread(broker.stop)
            print("Kafka stopped")


async def _prepare(options: dict[str, Any], topics: dict[str, str], secrets: Path) -> None:
    secrets.mkdir(exist_ok=True)
    for spec in tenant_specs():
        (secrets / f"{spec['subdomain']}-key").write_text(spec["api_key"])
    await asyncio.to_thread(ensure_topics, options, {
        topics["events"]: TopicSpec(partitions=6),
        topics["settings"]: TopicSpec(partitions=1, compacted=True),
        topics["outcomes"]: TopicSpec(partitions=3),
        topics["dlq"]: TopicSpec(partitions=1),
    })
    await asyncio.to_thread(publish_settings, options, topics["settings"], team_settings())
    print(f"[3/6] topics created ({topics['events']}, ...) and settings published", flush=True)


async def _run_with(args: argparse.Namespace, sim: SimulatorServer, bootstrap: str,
                    run_dir: Path) -> int:
    options: dict[str, Any] = {"bootstrap_servers": bootstrap.split(",")}
    suffix = f"dev-{int(time.time())}"
    topics = {
        "events": f"sourcewhale.campaign-events.{suffix}",
        "settings": f"sourcewhale.team-settings.{suffix}",
        "outcomes": f"pinpoint-sync.outcomes.{suffix}",
        "dlq": f"pinpoint-sync.dlq.{suffix}",
    }
    await _prepare(options, topics, run_dir / "secrets")
    config = load_config(
        kafka_bootstrap_servers=bootstrap, group_id=f"pinpoint-sync-{suffix}",
        events_topic=topics["events"], settings_topic=topics["settings"],
        outcomes_topic=topics["outcomes"], dlq_topic=topics["dlq"],
        pinpoint_base_url=sim.base_url_template, secrets_dir=run_dir / "secrets",
        state_path=run_dir / f"state-{suffix}.db", http_port=args.http_port,
        default_rate_limit=25.0, default_rate_burst=50,
    )
    worker = Worker(config, handle_signals=False)
    worker_task = asyncio.get_running_loop().create_task(worker.run())
    while not worker.health.ready:
        if worker_task.done():
            print("error: the worker stopped during start-up", file=sys.stderr)
            return worker_task.result() or 1
        await asyncio.sleep(0.05)
    print(f"[4/6] worker ready (metrics on http://127.0.0.1:{worker.http_port}/metrics)",
          flush=True)

    events, people = campaign(args.candidates, args.seed)
    seeded = seed_existing_people(sim, people, count=min(10, args.candidates // 5))
    bad = [*malformed_events("acme"), *malformed_events("globex")[:2]]
    reader = TopicReader(options, topics["outcomes"]).start()
    t0 = time.monotonic()
    produced = await asyncio.to_thread(produce, options, topics["events"], [*events, *bad])
    print(f"[5/6] produced {produced} events for {len(people)} candidates "
          f"({len(bad)} malformed; {seeded} acme candidates already in Pinpoint)", flush=True)
    finished = await asyncio.to_thread(reader.wait_for, produced, args.timeout,
                                       progress=_progress_printer(produced, t0))
    elapsed = time.monotonic() - t0
    reader.stop()
    if not finished:
        print(f"error: only {reader.count()} of {produced} events had an outcome "
              f"within {args.timeout}s", file=sys.stderr)
    print("[6/6] summary")
    print_summary(summarize(reader.values()), sim, worker.http_port, produced, elapsed)
    if args.keep_running:
        await _wait_for_signal()
    worker.shutdown()
    code = await worker_task
    print(f"worker stopped (exit {code})")
    return 0 if finished and code == 0 else 1


def _progress_printer(total: int, t0: float) -> Callable[[int], None]:
    tty = sys.stdout.isatty()
    last = [0.0]

    def progress(done: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < (0.2 if tty else 2.0):
            return
        last[0] = now
        line = f"      processed {done}/{total} ({now - t0:.0f}s)"
        print(f"\r{line}" if tty else line, end="" if tty and done < total else "\n",
              flush=True)

    return progress


async def _wait_for_signal() -> None:
    print("\nStill running (--keep-running): Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinpoint-sync dev", description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=60,
                        help="candidates per tenant (default 60: 240 candidates, ~1,300 events)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the sample campaign")
    parser.add_argument("--keep-running", action="store_true",
                        help="keep the broker, simulator and worker running after the summary")
    parser.add_argument("--kafka-port", type=int, default=0,
                        help="local broker port (default 9092 if free, else any free port)")
    parser.add_argument("--sim-port", type=int, default=0, help="simulator port (default: any)")
    parser.add_argument("--http-port", type=int, default=9400,
                        help="worker metrics/health port (default 9400; 0: any)")
    parser.add_argument("--run-dir", default="var/dev", help="state, secrets and broker data")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for outcomes")
    parser.add_argument("--log-format", choices=["json", "console"], default="console")
    parser.add_argument("--log-level", default="warning",
                        help="worker log level during the demo (default warning)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.http_port and port_is_open("127.0.0.1", args.http_port):
        args.http_port = 0
    configure_logging(args.log_format, args.log_level)
    try:
        return asyncio.run(run_demo(args))
    except KeyboardInterrupt:
        return 130
