"""Benchmark of the Pinpoint simulator and client (issue 4).

Prints, from one run:
  1. requests/s the simulator sustains here (simulator in its own process, raw aiohttp load);
  2. the client's own overhead per request (PinpointClient vs raw aiohttp, one at a time);
  3. the rate-limit test: a tenant limited to 10 req/s, burst 20; the client sends as fast as
     it may for 30 s (10 s with --quick); share of the allowed requests used, share of 429s.

Run: .venv/bin/python bench/bench_pinpoint.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.pinpoint import (
    PinpointClient,
    RateLimitConfig,
    RetryPolicy,
    TenantCredentials,
)

KEY = "bench-key"
TENANTS = [
    {"subdomain": "fast", "api_key": KEY, "rate_limit": None, "jobs": [{"title": "Engineer"}]},
    {"subdomain": "limited", "api_key": KEY, "rate_limit": {"rate": 10, "burst": 20}},
]


async def start_simulator(tmp: Path) -> tuple[asyncio.subprocess.Process, str]:
    """The simulator in a child process; returns it and its URL."""
    tenants = tmp / "tenants.json"
    tenants.write_text(json.dumps(TENANTS))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker.simulator",
        "--port",
        "0",
        "--tenants",
        str(tenants),
        stdout=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    return proc, line.strip().rsplit(" ", 1)[-1]


async def run_for(seconds: float, concurrency: int, one: Callable[[], Awaitable[None]]) -> int:
    """Run `one` in `concurrency` loops for `seconds`; return how many completed."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await one()
            done += 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done


async def simulator_throughput(url: str, seconds: float) -> dict[str, float]:
    """Requests/s with raw aiohttp at concurrency 64: GET /jobs and POST /comments."""
    base = f"{url}/tenants/fast/api/v1"
    headers = {"X-API-KEY": KEY, "Content-Type": "application/vnd.api+json"}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as s:
        body = {
            "data": {
                "type": "job_seekers",
                "attributes": {"first_name": "B", "last_name": "M", "email": "b@example.com"},
            }
        }
        async with s.post(f"{base}/job_seekers", json=body) as resp:
            seeker = (await resp.json(content_type=None))["data"]["id"]
        comment = json.dumps(
            {
                "data": {
                    "type": "comments",
                    "attributes": {"body_text": "benchmark note"},
                    "relationships": {
                        "commentable": {"data": {"type": "job_seekers", "id": seeker}}
                    },
                }
            }
        )

        async def get() -> None:
            async with s.get(f"{base}/jobs?page[size]=1") as resp:
                await resp.read()
                assert resp.status == 200

        async def post() -> None:
            async with s.post(f"{base}/comments", data=comment) as resp:
                await resp.read()
                assert resp.status == 201

        t0 = time.perf_counter()
        gets = await run_for(seconds, 64, get)
        get_rps = gets / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        posts = await run_for(seconds, 64, post)
        post_rps = posts / (time.perf_counter() - t0)
    return {"get_rps": get_rps, "post_rps": post_rps}


async def client_overhead(url: str, n: int) -> dict[str, float]:
    """Per sequential request, raw aiohttp vs PinpointClient (limiter off), in alternating
    batches so that load from elsewhere hits both alike: wall seconds and this process's CPU
    seconds (the simulator runs in another process, so CPU time is the client side's own)."""
    tenant = TenantCredentials("fast", KEY)
    target = f"{url}/tenants/fast/api/v1/jobs"
    totals = {"raw_wall": 0.0, "raw_cpu": 0.0, "client_wall": 0.0, "client_cpu": 0.0}
    rounds, batch = 10, max(1, n // 10)
    async with (
        aiohttp.ClientSession(headers={"X-API-KEY": KEY}) as s,
        PinpointClient(
            f"{url}/tenants/{{subdomain}}", rate_limit=RateLimitConfig(enabled=False)
        ) as client,
    ):
        for r in range(rounds + 1):  # round 0 warms both paths up
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(batch):
                async with s.get(target, params={"page[size]": "1"}) as resp:
                    json.loads(await resp.read())
            w1, c1 = time.perf_counter(), time.process_time()
            for _ in range(batch):
                await client.probe(tenant)
            w2, c2 = time.perf_counter(), time.process_time()
            if r:
                totals["raw_wall"] += w1 - w0
                totals["raw_cpu"] += c1 - c0
                totals["client_wall"] += w2 - w1
                totals["client_cpu"] += c2 - c1
    return {k: v / (rounds * batch) for k, v in totals.items()}


async def rate_limit_test(url: str, seconds: float) -> dict[str, float]:
    """Send as fast as the client allows against a 10 req/s, burst 20 tenant."""
    tenant = TenantCredentials("limited", KEY)
    async with aiohttp.ClientSession() as s:  # start the tenant's bucket afresh
        async with s.put(
            f"{url}/_sim/tenants/limited", json={"rate_limit": {"rate": 10, "burst": 20}}
        ) as resp:
            assert resp.status == 200
        async with s.get(f"{url}/_sim/tenants/limited/requests") as resp:
            seen = (await resp.json())["requests"]
        since = seen[-1]["seq"] if seen else 0
    async with PinpointClient(
        f"{url}/tenants/{{subdomain}}",
        retry=RetryPolicy(deadline=seconds + 60),
        rate_limit=RateLimitConfig(rate=10, burst=20),
    ) as client:
        t0 = time.perf_counter()
        done = await run_for(seconds, 20, lambda: client.probe(tenant))
        elapsed = time.perf_counter() - t0
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{url}/_sim/tenants/limited/requests", params={"since": str(since)}) as resp,
    ):
        log = (await resp.json())["requests"]
    ok = sum(1 for r in log if r["status"] == 200)
    limited = sum(1 for r in log if r["status"] == 429)
    allowed = 20 + 10 * elapsed
    return {
        "seconds": elapsed,
        "completed": done,
        "sent": len(log),
        "ok": ok,
        "429": limited,
        "allowed": allowed,
        "used_ratio": ok / allowed,
        "steady_ratio": (ok - 20) / (10 * elapsed),
        "ratio_429": limited / max(1, len(log)),
    }


async def main(quick: bool) -> int:
    """Run the three measurements and print them."""
    throughput_s = 3.0 if quick else 10.0
    overhead_n = 500 if quick else 2000
    rate_s = 10.0 if quick else 30.0
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = await start_simulator(Path(tmp))
        try:
            print(f"simulator: {url}  (cpus here: {os.cpu_count()})")
            tp = await simulator_throughput(url, throughput_s)
            print(
                f"[1] simulator throughput (raw aiohttp load, 64 concurrent,"
                f" {throughput_s:.0f}s each): GET {tp['get_rps']:,.0f} req/s,"
                f" POST comment {tp['post_rps']:,.0f} req/s"
            )
            ov = await client_overhead(url, overhead_n)
            print(
                f"[2] one request at a time, {overhead_n} each: CPU per request raw aiohttp"
                f" {ov['raw_cpu'] * 1e6:.0f} us, PinpointClient {ov['client_cpu'] * 1e6:.0f} us"
                f" -> client overhead {(ov['client_cpu'] - ov['raw_cpu']) * 1e6:.0f} us/request"
                f" ({ov['client_cpu'] / ov['raw_cpu']:.2f}x raw); wall {ov['raw_wall'] * 1e3:.3f}"
                f" vs {ov['client_wall'] * 1e3:.3f} ms"
            )
            rl = await rate_limit_test(url, rate_s)
            verdict = "PASS" if rl["used_ratio"] >= 0.9 and rl["ratio_429"] < 0.01 else "FAIL"
            print(
                f"[3] rate limit 10 req/s burst 20 for {rl['seconds']:.1f}s: {rl['ok']:.0f} ok of"
                f" {rl['allowed']:.0f} allowed -> used {rl['used_ratio']:.1%}"
                f" (steady state {rl['steady_ratio']:.1%}); 429s {rl['429']:.0f} of"
                f" {rl['sent']:.0f} sent = {rl['ratio_429']:.2%}"
                f"  [target >= 90% used, < 1% 429: {verdict}]"
            )
        finally:
            proc.terminate()
            await proc.wait()
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (rate test 10 s)")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
