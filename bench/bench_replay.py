"""Replay dry run: deciding history again against a raw kafka-python consumer of the same topic.

Target: the dry run of ``pinpoint-sync replay`` decides events at >= 0.5 of the raw
kafka-python consume rate, measured side by side in one run.

Method: N events (default 200,000; ``--quick`` 50,000) of one team, on a topic of 6 partitions,
over N/5 candidates (five events each, in order: added, two e-mail steps, replied,
interested). The team's settings are those of a team activated after its events went by (sync
upon added, e-mail and reply notes): every event is decided in full (parsed by the models,
policy resolved, candidate state read from an SQLite state store, the ledger looked up for
each effect), the typical backfill. Passes alternate on the same topic in this one process:
raw, dry run, raw, dry run, raw, dry run, raw (``--rounds`` dry-run passes, default 3), and the
verdict is the median dry-run pass over the median raw pass (this machine's speed varies a
lot from minute to minute; one lucky pass must not decide).

- raw: an assigned kafka-python consumer (no group, as the replay reads) with the same fetch
  settings, reading every partition from its beginning to its end and ``json.loads``-ing each
  value;
- dry run: `worker.tools.replay.decide_ranges`, the command's own reading and deciding step,
  reading the same records and deciding each; its rate runs from the start of the step to
  the last decision.

After the passes, the whole command (``replay.run``: settings read, events decided, outcomes
topic scanned, the report rendered) is timed once for information.

Run: ``.venv/bin/python bench/bench_replay.py [--quick] [--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shutil
import statistics
import time
from pathlib import Path

from common import (
    RUN_ROOT,
    EventFactory,
    Names,
    crc_implementation,
    kafka_bootstrap,
    make_topics,
    options,
    produce_events,
    publish,
    say,
    settings_doc,
    verdict,
)
from kafka import KafkaConsumer, TopicPartition

from worker.config import WorkerConfig, load_config
from worker.kafka.history import HistoryReader, OffsetRange
from worker.store.sqlite import SqliteStateStore
from worker.tools import replay

TARGET = 0.5
PARTITIONS = 6
TEAM = "team-late"
KINDS = ("candidate.added", "outreach.sent", "outreach.sent", "candidate.replied",
         "candidate.interested")
MAX_POLL_RECORDS = 2000


def raw_pass(bootstrap: str, topic: str, expected: int) -> float:
    """Records per second of a plain assigned consumer decoding every value."""
    consumer = KafkaConsumer(**options(bootstrap), group_id=None, enable_auto_commit=False,
                             max_poll_records=MAX_POLL_RECORDS, fetch_max_wait_ms=100)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        seen = 0
        first: float | None = None
        while seen < expected:
            for recs in consumer.poll(timeout_ms=500).values():
                if first is None:
                    first = time.monotonic()
                for r in recs:
                    json.loads(r.value)
                seen += len(recs)
        return seen / (time.monotonic() - (first or time.monotonic()))
    finally:
        consumer.close()


async def _make_store(path: Path) -> None:
    """An empty, migrated store (as a worker leaves it before its first event)."""
    await (await SqliteStateStore(path).open()).close()


def dry_pass(bootstrap: str, topic: str, settings: replay.SettingsCache, config: WorkerConfig,
             expected: int) -> tuple[float, int]:
    """Events per second decided by the dry run's own deciding step (`replay.decide_ranges`);
    and how many would write something."""
    with HistoryReader(options(bootstrap), client_id="bench-replay") as reader:
        ranges = [OffsetRange(p, 0, end) for p, end in reader.end_offsets(topic).items()]
        t0 = time.monotonic()
        decided = replay.decide_ranges(
            reader, topic, ranges, selection=replay.Selection(from_ms=0, to_ms=1),
            settings=settings, config=config, err=io.StringIO())
        seconds = time.monotonic() - t0
    assert decided.read == expected, (decided.read, expected)
    return expected / seconds, sum(1 for p in decided.planned if p.pending)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 events")
    parser.add_argument("--events", type=int, help="number of events (default 200,000)")
    parser.add_argument("--rounds", type=int, default=3, help="dry-run passes (default 3)")
    args = parser.parse_args()
    n = args.events or (50_000 if args.quick else 200_000)
    rounds = max(args.rounds, 1)
    names = Names("replay")
    run_dir = RUN_ROOT / f"replay-{names.token}"
    run_dir.mkdir(parents=True, exist_ok=True)
    say(f"kafka-python CRC-32C: {crc_implementation()}")
    raw_rates: list[float] = []
    dry_rates: list[float] = []
    try:
        with kafka_bootstrap("replay") as bootstrap:
            topics = make_topics(bootstrap, names, PARTITIONS)
            publish(bootstrap, topics["settings"], [settings_doc(
                TEAM, active=True, sync={"sync_upon": "added"},
                general={"create_notes_upon": ["email", "replied"]})])
            factory = EventFactory(TEAM, KINDS)
            seconds = produce_events(bootstrap, topics["events"], factory, n, max(n // 5, 1),
                                     KINDS)
            say(f"produced {n:,} events ({PARTITIONS} partitions, {max(n // 5, 1):,} "
                f"candidates) in {seconds:.1f} s")
            store_path = run_dir / "state.db"
            asyncio.run(_make_store(store_path))
            config = load_config(
                kafka_bootstrap_servers=bootstrap, events_topic=topics["events"],
                settings_topic=topics["settings"], outcomes_topic=topics["outcomes"],
                dlq_topic=topics["dlq"], replay_topic=names("replay"), state_path=store_path)
            settings = replay.load_settings(config)
            writing = 0
            for k in range(1, rounds + 2):
                raw = raw_pass(bootstrap, topics["events"], n)
                raw_rates.append(raw)
                say(f"raw consumer, pass {k}: {raw:,.0f} records/s")
                if k <= rounds:
                    rate, writing = dry_pass(bootstrap, topics["events"], settings, config,
                                             n)
                    dry_rates.append(rate)
                    say(f"dry run, pass {k}: {rate:,.0f} events/s decided "
                        f"({writing:,} would write)")
            t0 = time.monotonic()
            code = replay.run(config, replay.ReplayOptions(
                selection=replay.Selection(from_ms=0, to_ms=int(time.time() * 1000) + 1),
                json=True), out=io.StringIO(), err=io.StringIO())
            whole = time.monotonic() - t0
            say(f"whole command (settings, events decided, outcomes scanned, report): "
                f"{whole:.1f} s = {n / whole:,.0f} events/s (exit {code}; for information)")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    ratio = statistics.median(dry_rates) / statistics.median(raw_rates)
    best = max(dry_rates) / max(raw_rates)
    ok = ratio >= TARGET and writing == n * 4 // 5  # all but the interested events
    say(f"replay dry run: dry/raw = {ratio:.2f} median over median ({best:.2f} best over best;"
        f" {writing:,} of {n:,} events would write) target >= {TARGET}: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    say(f"(bench_replay took {time.monotonic() - t0:.0f} s)")
    raise SystemExit(rc)
