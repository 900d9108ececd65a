"""Every benchmark, one after the other, then a summary table (``make bench [ARGS=--quick]``).

Each benchmark is its own script and runs here as a subprocess, its output shown as it comes:

    core      bench_core.py      parse + resolve + decide, events/s on one core
    pinpoint  bench_pinpoint.py  the simulator's capacity, the client's overhead, rate-limit use
    skip      bench_skip.py      skip path against a raw kafka-python consumer (>= 0.6)
    latency   bench_latency.py   50 ms per request: worker against one-at-a-time (>= 50x)
    memory    bench_memory.py    peak RSS through a 1,000,000-event backlog (< 300 MB)
    replay    bench_replay.py    replay dry run against a raw kafka-python consumer (>= 0.5)

One local Kafka broker is started for all of them (unless ``KAFKA_BOOTSTRAP_SERVERS`` names one)
and handed to each through ``KAFKA_BOOTSTRAP_SERVERS``. ``--quick`` is passed to the scripts that
take it. ``--only skip,latency`` runs a subset. The exit status is 0 when every benchmark met its
target.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import kafka_bootstrap, say  # noqa: E402

BENCHMARKS = {
    "core": "bench_core.py",
    "pinpoint": "bench_pinpoint.py",
    "skip": "bench_skip.py",
    "latency": "bench_latency.py",
    "memory": "bench_memory.py",
    "replay": "bench_replay.py",
}
VERDICT = re.compile(r"\b(PASS|FAIL|OK|BELOW TARGET)\b")


def run_one(name: str, script: Path, quick: bool, timeout: float) -> tuple[str, list[str], float]:
    """Run one benchmark; returns its status, its verdict lines and how long it took."""
    cmd = [sys.executable, str(script)]
    if quick and "--quick" in script.read_text(encoding="utf-8"):
        cmd.append("--quick")
    say(f"\n=== {name}: {' '.join(Path(c).name if c == str(script) else c for c in cmd[1:])}")
    t0 = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(cmd, cwd=HERE.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
            if time.monotonic() - t0 > timeout:
                proc.kill()
                break
        code = proc.wait(timeout=max(timeout - (time.monotonic() - t0), 1))
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    took = time.monotonic() - t0
    verdicts = [ln for ln in lines if VERDICT.search(ln) and "target" in ln.lower()]
    if any("FAIL" in v or "BELOW TARGET" in v for v in verdicts):
        status = "FAIL"
    elif verdicts and code == 0:
        status = "PASS"
    elif code != 0:
        status = f"ERROR (exit {code})"
    else:
        status = "no verdict"
    return status, verdicts, took


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and print a summary.")
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a quick look")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = parser.parse_args()
    chosen = list(BENCHMARKS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [c for c in chosen if c not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    say(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    results: list[tuple[str, str, list[str], float]] = []
    with kafka_bootstrap("all") as bootstrap:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        for name in chosen:
            script = HERE / BENCHMARKS[name]
            if not script.exists():
                results.append((name, "missing", [f"{script.name} not found"], 0.0))
                continue
            status, verdicts, took = run_one(name, script, args.quick, args.timeout)
            results.append((name, status, verdicts, took))

    say("\n=== summary" + (" (--quick)" if args.quick else ""))
    width = max(len(n) for n, *_ in results)
    for name, status, verdicts, took in results:
        say(f"{name:<{width}}  {status:<6} {took:6.0f} s")
        for line in verdicts or ["(no verdict line printed)"]:
            say(f"{'':<{width}}    {line.strip()}")
    failed = [n for n, s, *_ in results if s != "PASS"]
    say("all targets met" if not failed else f"not met or not run: {', '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
