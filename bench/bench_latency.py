"""Latency hiding: the worker against a one-at-a-time consumer, with 50 ms added to every request.

DESIGN 7: with 50 ms simulated API latency and >= 1,000 distinct candidates, throughput >= 50x a
one-at-a-time consumer in the same run.

Method: the simulator runs in its own process with 50 ms added latency on every tenant request
and no rate limit (tenants ``rate_limit: null``). Each of N candidates (default 2,000; ``--quick``
1,000) has one note-worthy event (``outreach.sent`` by e-mail) under the default policy, so each
event costs four Pinpoint calls: look for a record with the candidate's external reference (the
worker never makes a second record), look the person up by e-mail, create a job seeker, write
the note. The worker (``python -m worker run``, client limiter off with ``DEFAULT_RATE_LIMIT=0``,
``MAX_INFLIGHT=512``, ``MAX_INFLIGHT_PER_TEAM=512``) processes them from its own topic for one
team; its rate runs from its first to its last outcome record. The one-at-a-time consumer reads
the first 60 events of another team's topic (``max_poll_records=1``), parses and decides each
with the pure core, makes the same calls through ``worker.pinpoint.client.PinpointClient`` one
after the other, and commits every second; its rate is extrapolated from that sample. Both
teams' results are checked in the simulator (one job seeker and one note per candidate) and the
requests per event are compared, so that both did the same work.

Run: ``.venv/bin/python bench/bench_latency.py [--quick] [--candidates N] [--latency-ms MS]
[--max-inflight N] [--max-inflight-per-team N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time

from common import (
    BROKER_PID,
    RUN_ROOT,
    EventFactory,
    Names,
    Simulator,
    WorkerProcess,
    cpu_seconds,
    kafka_bootstrap,
    make_topics,
    options,
    produce_events,
    publish,
    read_outcomes,
    say,
    settings_doc,
    verdict,
    wait_committed,
    worker_settings,
)
from kafka import KafkaConsumer

from worker.core.decision import CandidateState, PushCandidate, WriteNote, decide
from worker.core.events import parse_event
from worker.core.policy import resolve_policy
from worker.core.settings import settings_from_dict
from worker.observability.logging import configure_logging
from worker.pinpoint.client import PinpointClient
from worker.pinpoint.models import CUSTOM_PREFIX, RecordKind, RecordRef, TenantCredentials
from worker.pinpoint.ratelimit import RateLimitConfig

TARGET = 50.0
KINDS = ("outreach.sent",)
BASELINE_SAMPLE = 60
WORKER_SETTINGS = {"default_rate_limit": 0, "max_inflight": 512, "max_inflight_per_team": 512}


async def one_at_a_time(bootstrap: str, topic: str, group: str, doc: dict[str, object],
                        sim_template: str, api_key: str, count: int) -> tuple[int, float]:
    """Consume ``count`` events one by one, doing each one's Pinpoint calls in sequence."""
    settings = settings_from_dict(doc)
    tenant = TenantCredentials(str(doc["team_id"]), api_key)
    consumer = KafkaConsumer(topic, **options(bootstrap), group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             max_poll_records=1)
    client = PinpointClient(sim_template, rate_limit=RateLimitConfig(enabled=False))
    done = 0
    first: float | None = None
    next_commit = 0.0
    try:
        while done < count:
            batch = await asyncio.to_thread(consumer.poll, 500)
            for recs in batch.values():
                for rec in recs:
                    if first is None:
                        first = time.monotonic()
                        next_commit = first + 1.0
                    event = parse_event(rec.value)
                    policy = resolve_policy(settings, event.data.user_id, event.data.campaign_id)
                    decision = decide(event, policy, CandidateState())
                    record: RecordRef | None = None
                    for action in decision.actions:
                        if isinstance(action, PushCandidate):
                            # As the worker does: never a second record for this candidate.
                            existing = await client.find_record_by_external_reference(
                                tenant, action.external_ref, RecordKind.JOB_SEEKERS)
                            if existing is not None:
                                record = existing.ref
                                continue
                            person = None
                            if action.merge and action.email:
                                found = await client.find_people_by_email(tenant,
                                                                          action.email)
                                person = found[0] if found else None
                            standard = {k: v for k, v in action.fields.items()
                                        if not k.startswith(CUSTOM_PREFIX)}
                            created = await client.create_job_seeker(
                                tenant, standard, action.external_ref, candidate_id=person)
                            record = created.ref
                        elif isinstance(action, WriteNote) and record is not None:
                            await client.write_comment(tenant, record, action.note.text,
                                                       action.note.ref)
                    done += 1
            if first is not None and time.monotonic() >= next_commit:
                await asyncio.to_thread(consumer.commit)
                next_commit = time.monotonic() + 1.0
        await asyncio.to_thread(consumer.commit)
        elapsed = time.monotonic() - (first or time.monotonic())
    finally:
        await client.close()
        consumer.close()
    return done, elapsed


def tenant_summary(sim: Simulator, subdomain: str) -> dict[str, int]:
    state = sim.get(f"/_sim/tenants/{subdomain}/state")
    requests = sim.get(f"/_sim/tenants/{subdomain}/requests")
    items = requests if isinstance(requests, list) else requests.get("requests", [])
    return {"job_seekers": len(state.get("job_seekers", [])),
            "comments": len(state.get("comments", [])),
            "requests": len(items)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 candidates")
    parser.add_argument("--candidates", type=int, help="candidates (default 2,000)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--max-inflight", type=int, default=WORKER_SETTINGS["max_inflight"])
    parser.add_argument("--max-inflight-per-team", type=int,
                        default=WORKER_SETTINGS["max_inflight_per_team"])
    args = parser.parse_args()
    WORKER_SETTINGS.update(max_inflight=args.max_inflight,
                           max_inflight_per_team=args.max_inflight_per_team)
    configure_logging("console", "WARNING")
    n = args.candidates or (1_000 if args.quick else 2_000)
    names = Names("latency")
    run_dir = RUN_ROOT / f"latency-{names.token}"
    teams = {"work": "team-work", "seq": "team-seq"}
    keys = {team: f"key-{team}-{names.token}" for team in teams.values()}
    sim = Simulator([{"subdomain": t, "api_key": keys[t], "rate_limit": None}
                     for t in teams.values()], run_dir / "sim", latency_ms=args.latency_ms)
    try:
        with kafka_bootstrap("latency") as bootstrap:
            topics = make_topics(bootstrap, names, 6)
            seq_topics = make_topics(bootstrap, Names("latency-seq", names.token), 1)
            docs = {t: settings_doc(t, active=True) for t in teams.values()}
            publish(bootstrap, topics["settings"], [docs[teams["work"]]])
            produce_events(bootstrap, topics["events"], EventFactory(teams["work"], KINDS), n, n,
                           KINDS)
            produce_events(bootstrap, seq_topics["events"], EventFactory(teams["seq"], KINDS),
                           BASELINE_SAMPLE, BASELINE_SAMPLE, KINDS)
            say(f"simulator: {args.latency_ms:.0f} ms added per request, no rate limit; "
                f"{n:,} candidates for the worker, {BASELINE_SAMPLE} for the one-at-a-time "
                "consumer, one outreach.sent (email) event each")

            seq_n, seq_s = asyncio.run(one_at_a_time(
                bootstrap, seq_topics["events"], names("seq"), docs[teams["seq"]],
                sim.base_url_template, keys[teams["seq"]], BASELINE_SAMPLE))
            seq_rate = seq_n / seq_s
            say(f"one-at-a-time: {seq_n} events in {seq_s:.2f} s = {seq_rate:.2f} events/s")

            settings = worker_settings(bootstrap, topics, names("worker"), run_dir,
                                       pinpoint_base_url=sim.base_url_template,
                                       **WORKER_SETTINGS)
            (run_dir / "secrets" / f"{teams['work']}-key").write_text(keys[teams["work"]])
            worker = WorkerProcess(settings, run_dir)
            try:
                worker.wait_ready()
                cpu = {"worker": cpu_seconds(worker.pid), "simulator": cpu_seconds(sim.proc.pid)}
                if BROKER_PID:
                    cpu["broker"] = cpu_seconds(BROKER_PID[0])
                progress = wait_committed(bootstrap, names("worker"), topics["events"], n,
                                          worker, timeout=600, every=0.1)
                used = {k: (cpu_seconds(pid) or 0) - (v or 0) for (k, v), pid in zip(
                    cpu.items(), [worker.pid, sim.proc.pid, *BROKER_PID], strict=False)}
            finally:
                code = worker.stop()
            stats = read_outcomes(bootstrap, topics["outcomes"], n)
    finally:
        summaries = {t: tenant_summary(sim, t) for t in teams.values()}
        sim.stop()
    shutil.rmtree(run_dir, ignore_errors=True)

    work, seq = summaries[teams["work"]], summaries[teams["seq"]]
    say(f"simulator state: worker's tenant {json.dumps(work)}; one-at-a-time's tenant "
        f"{json.dumps(seq)}")
    say(f"requests per event: worker {work['requests'] / n:.2f}, "
        f"one-at-a-time {seq['requests'] / BASELINE_SAMPLE:.2f}")
    if progress.done_at is None or stats.count < n:
        say(f"worker did not finish: {progress.committed:,} committed, {stats.count:,} outcomes")
        say(f"latency hiding: FAIL (target >= {TARGET:.0f}x)")
        return 1
    say(f"worker: outcomes {', '.join(f'{k}={v:,}' for k, v in sorted(stats.outcomes.items()))}")
    span = stats.last_ts - stats.first_ts
    commit_span = progress.done_at - stats.first_ts
    say(f"worker: first..last outcome {span:.2f} s = {stats.rate:,.0f} events/s "
        f"({stats.rate * work['requests'] / n:,.0f} requests/s); to committed end "
        f"{commit_span:.2f} s = {n / commit_span:,.0f} events/s (exit code {code})")
    say("CPU seconds while the worker ran: "
        + ", ".join(f"{k} {v:.1f}" for k, v in used.items()))
    complete = (work["job_seekers"] == n and work["comments"] == n
                and seq["job_seekers"] == BASELINE_SAMPLE and seq["comments"] == BASELINE_SAMPLE)
    ratio = stats.rate / seq_rate
    ok = ratio >= TARGET and complete
    say(f"settings: {', '.join(f'{k.upper()}={v}' for k, v in WORKER_SETTINGS.items())}")
    say(f"latency hiding: worker/one-at-a-time = {ratio:.0f}x "
        f"({stats.rate:,.0f} vs {seq_rate:.2f} events/s; every record and note present: "
        f"{complete}) target >= {TARGET:.0f}x: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    say(f"(bench_latency took {time.monotonic() - t0:.0f} s)")
    raise SystemExit(rc)
