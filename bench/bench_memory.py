"""Peak resident memory of the worker while it works through a backlog of 1,000,000 events.

DESIGN 7: resident size stays under 300 MB while working through a 1,000,000-event backlog.

Method: the whole backlog (default 1,000,000 events; ``--quick`` 200,000) is produced first, on
6 partitions, over N/5 candidates, built from pre-serialised templates with varied ids; then the
worker starts as ``python -m worker run`` (default limits: ``MAX_BUFFERED=20000``,
``PARTITION_BUFFER=2000``, ``MAX_INFLIGHT=256``) and works through it. The events belong to a team
whose integration is inactive (the fastest path, so the run takes about a minute; every event's
envelope is still read and an outcome record published and acknowledged for it). Its VmRSS is
sampled from ``/proc/<pid>/status`` every 0.2 s, and its VmHWM (the kernel's own peak) is read
before it is stopped, once its committed offsets reach the end of the backlog.

Run: ``.venv/bin/python bench/bench_memory.py [--quick] [--events N]``.
"""

from __future__ import annotations

import argparse
import shutil
import time

from common import (
    RUN_ROOT,
    EventFactory,
    Names,
    WorkerProcess,
    kafka_bootstrap,
    make_topics,
    memory_kb,
    produce_events,
    publish,
    say,
    settings_doc,
    verdict,
    wait_committed,
    worker_settings,
)

TARGET_MB = 300
PARTITIONS = 6
KINDS = ("candidate.added", "outreach.sent", "outreach.sent", "candidate.replied",
         "candidate.interested")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 events")
    parser.add_argument("--events", type=int, help="backlog size (default 1,000,000)")
    args = parser.parse_args()
    n = args.events or (200_000 if args.quick else 1_000_000)
    names = Names("memory")
    run_dir = RUN_ROOT / f"memory-{names.token}"
    with kafka_bootstrap("memory") as bootstrap:
        topics = make_topics(bootstrap, names, PARTITIONS)
        publish(bootstrap, topics["settings"], [settings_doc("team-off", active=False)])
        seconds = produce_events(bootstrap, topics["events"], EventFactory("team-off", KINDS), n,
                                 max(n // 5, 1), KINDS)
        say(f"backlog: {n:,} events produced in {seconds:.0f} s "
            f"({n / seconds:,.0f}/s, {PARTITIONS} partitions)")
        worker = WorkerProcess(worker_settings(bootstrap, topics, names("worker"), run_dir),
                               run_dir)
        try:
            worker.wait_ready()
            ready_rss = memory_kb(worker.pid).get("VmRSS", 0)
            t0 = time.time()
            progress = wait_committed(bootstrap, names("worker"), topics["events"], n, worker,
                                      timeout=max(900, n / 300), every=1.0, report_every=30)
            hwm = memory_kb(worker.pid).get("VmHWM", 0)
        finally:
            code = worker.stop()
    shutil.rmtree(run_dir, ignore_errors=True)

    peak_mb = max(worker.peak_rss_kb, hwm) / 1024
    samples = [rss for _, rss in worker.samples]
    finished = progress.done_at is not None
    took = (progress.done_at or time.time()) - t0
    say(f"worker: ready at {ready_rss / 1024:.0f} MB; {progress.committed:,} of {n:,} committed "
        f"in {took:.0f} s ({progress.committed / took:,.0f} events/s); exit code {code}")
    if samples:
        tenth = max(len(samples) // 10, 1)
        curve = ", ".join(f"{s / 1024:.0f}" for s in samples[::tenth])
        say(f"VmRSS samples (MB, every {tenth * 0.2:.0f} s): {curve}")
    ok = finished and peak_mb < TARGET_MB
    say(f"memory: peak resident (VmHWM) {peak_mb:.0f} MB over a {n:,}-event backlog "
        f"target < {TARGET_MB} MB: {verdict(ok)}" + ("" if finished else " (did not finish)"))
    return 0 if ok else 1


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    say(f"(bench_memory took {time.monotonic() - t0:.0f} s)")
    raise SystemExit(rc)
