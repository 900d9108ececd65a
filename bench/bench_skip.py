"""Skip-path throughput: the worker against a raw kafka-python consumer on the same topic.

DESIGN 7: events the policy skips must flow at >= 0.6 of the raw kafka-python consume rate on the
same broker, in the same run.

Method: N events (default 200,000; ``--quick`` 50,000) of one team whose integration is inactive,
on a topic of 6 partitions, spread over N/5 candidates. The raw consumer (a group member: poll,
``json.loads`` every value, commit every second and at the end) reads the topic to its end before
and after the worker; the faster of its two passes is the ceiling. The worker runs as
``python -m worker run`` (its own process, configured by ``PINPOINT_SYNC_*``); for every event it
parses, resolves, decides, publishes an outcome record (acknowledged by the broker: that is part
of its job), and commits contiguous offsets (an inactive team needs no state store). Its rate
is measured from its first to its last outcome record (the records' broker timestamps), and also
up to the moment its committed offsets reach the end (polled every 0.25 s from outside).

Run: ``.venv/bin/python bench/bench_skip.py [--quick] [--events N]``.
"""

from __future__ import annotations

import argparse
import shutil
import time

from common import (
    BROKER_PID,
    RUN_ROOT,
    EventFactory,
    Names,
    WorkerProcess,
    cpu_seconds,
    crc_implementation,
    kafka_bootstrap,
    make_topics,
    produce_events,
    publish,
    raw_consume,
    read_outcomes,
    say,
    settings_doc,
    verdict,
    wait_committed,
    worker_settings,
)

TARGET = 0.6
PARTITIONS = 6
KINDS = ("candidate.added", "outreach.sent", "outreach.sent", "candidate.replied",
         "candidate.interested")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 events")
    parser.add_argument("--events", type=int, help="number of events (default 200,000)")
    args = parser.parse_args()
    n = args.events or (50_000 if args.quick else 200_000)
    names = Names("skip")
    say(f"kafka-python CRC-32C: {crc_implementation()}")
    run_dir = RUN_ROOT / f"skip-{names.token}"
    with kafka_bootstrap("skip") as bootstrap:
        topics = make_topics(bootstrap, names, PARTITIONS)
        publish(bootstrap, topics["settings"], [settings_doc("team-off", active=False)])
        factory = EventFactory("team-off", KINDS)
        seconds = produce_events(bootstrap, topics["events"], factory, n, max(n // 5, 1), KINDS)
        say(f"produced {n:,} events ({PARTITIONS} partitions, {max(n // 5, 1):,} candidates) "
            f"in {seconds:.1f} s")

        raw1 = raw_consume(bootstrap, topics["events"], names("raw1"), n)
        say(f"raw consumer, pass 1: {raw1.records:,} records in {raw1.seconds:.2f} s = "
            f"{raw1.rate:,.0f} records/s")

        settings = worker_settings(bootstrap, topics, names("worker"), run_dir,
                                   commit_interval_s=1.0)
        worker = WorkerProcess(settings, run_dir)
        broker_cpu0 = cpu_seconds(BROKER_PID[0]) if BROKER_PID else None
        try:
            worker.wait_ready()
            cpu0 = cpu_seconds(worker.pid) or 0.0
            progress = wait_committed(bootstrap, names("worker"), topics["events"], n, worker,
                                      timeout=max(600, n / 200))
            cpu1 = cpu_seconds(worker.pid) or 0.0
        finally:
            code = worker.stop()
        broker_cpu = (cpu_seconds(BROKER_PID[0]) or 0) - broker_cpu0 if broker_cpu0 else None
        stats = read_outcomes(bootstrap, topics["outcomes"], n)
        raw2 = raw_consume(bootstrap, topics["events"], names("raw2"), n)
        say(f"raw consumer, pass 2: {raw2.records:,} records in {raw2.seconds:.2f} s = "
            f"{raw2.rate:,.0f} records/s")
    shutil.rmtree(run_dir, ignore_errors=True)

    if progress.done_at is None or stats.count < n:
        say(f"worker did not finish: {progress.committed:,} committed, {stats.count:,} outcomes")
        say(f"skip path: FAIL (target >= {TARGET} of raw)")
        return 1
    raw = max(raw1.rate, raw2.rate)
    span_out = stats.last_ts - stats.first_ts
    span_commit = progress.done_at - stats.first_ts
    rate_out = stats.rate
    rate_commit = n / span_commit
    say(f"worker: outcomes {', '.join(f'{k}={v:,}' for k, v in sorted(stats.outcomes.items()))}")
    say(f"worker: first..last outcome {span_out:.2f} s = {rate_out:,.0f} events/s; "
        f"first outcome..all committed {span_commit:.2f} s = {rate_commit:,.0f} events/s")
    say(f"worker CPU: {cpu1 - cpu0:.1f} s for {n:,} events = "
        f"{(cpu1 - cpu0) / n * 1e6:.0f} us/event (exit code {code})"
        + (f"; broker CPU meanwhile {broker_cpu:.1f} s" if broker_cpu is not None else ""))
    ratio_out = rate_out / raw
    ratio_commit = rate_commit / raw
    ok = ratio_commit >= TARGET
    say(f"skip path: worker/raw = {ratio_out:.2f} (to last outcome), {ratio_commit:.2f} "
        f"(to committed end; raw {raw:,.0f}/s) target >= {TARGET}: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    say(f"(bench_skip took {time.monotonic() - t0:.0f} s)")
    raise SystemExit(rc)
