"""Shared pieces of the end-to-end benchmarks (bench_skip, bench_latency, bench_memory).

Each benchmark starts what it needs and stops it: a Kafka broker (the local one from Kafka's jars,
unless ``KAFKA_BOOTSTRAP_SERVERS`` names one), topics of its own, the simulator in a process of its
own, and the worker as ``python -m worker run`` configured only by ``PINPOINT_SYNC_*`` variables,
exactly as it is deployed. The worker's progress is watched from outside: its consumer group's
committed offsets (through the admin API) and the timestamps of the outcome records it published.
Nothing here is timed against an absolute figure: every benchmark compares rates measured side by
side in one run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient  # noqa: E402

from worker.kafka.broker import LocalKafkaBroker, free_port  # noqa: E402
from worker.kafka.topics import TopicSpec, ensure_topics  # noqa: E402
from worker.tools.stack import publish_settings, settings_document  # noqa: E402

PY = sys.executable
RUN_ROOT = ROOT / "var" / "bench"
#: The pid of the broker started here (None when KAFKA_BOOTSTRAP_SERVERS named one).
BROKER_PID: list[int] = []


def say(*parts: object) -> None:
    print(*parts, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def crc_implementation() -> str:
    """Which CRC-32C kafka-python uses to check fetched batches and build produced ones.

    Without the optional ``crc32c`` package it falls back to a pure-Python loop, which dominates
    the cost of consuming (and producing) in this process and in the worker alike.
    """
    from kafka.record import util  # noqa: PLC0415

    return "C extension (crc32c)" if util.crc32c_c is not None else "pure Python (no crc32c)"


# ---- broker, topics, names --------------------------------------------------------------------


@contextlib.contextmanager
def kafka_bootstrap(tag: str) -> Iterator[str]:
    """The broker to use: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a local one started here."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        say(f"broker: {given} (KAFKA_BOOTSTRAP_SERVERS)")
        yield given
        return
    broker = LocalKafkaBroker(port=0, run_dir=RUN_ROOT / f"kafka-{tag}-{os.getpid()}",
                              heap="1g")
    t0 = time.monotonic()
    broker.start()
    if broker._proc is not None:
        BROKER_PID.append(broker._proc.pid)
    say(f"broker: local Kafka from jars at {broker.bootstrap_servers}, "
        f"ready in {time.monotonic() - t0:.1f} s")
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()
        shutil.rmtree(broker.run_dir, ignore_errors=True)  # its data: gigabytes after a run


def options(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap.split(",")}


@dataclass
class Names:
    """Topic and group names unique to one benchmark run."""

    tag: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __call__(self, kind: str) -> str:
        return f"bench-{self.tag}-{self.token}-{kind}"


def make_topics(bootstrap: str, names: Names, partitions: int) -> dict[str, str]:
    """The worker's four topics for this run; returns their names by role."""
    topics = {"events": names("events"), "settings": names("settings"),
              "outcomes": names("outcomes"), "dlq": names("dlq")}
    ensure_topics(options(bootstrap), {
        topics["events"]: TopicSpec(partitions=partitions),
        topics["settings"]: TopicSpec(partitions=1, compacted=True),
        topics["outcomes"]: TopicSpec(partitions=partitions),
        topics["dlq"]: TopicSpec(partitions=1),
    })
    return topics


def settings_doc(team_id: str, *, active: bool, **groups: Any) -> dict[str, Any]:
    return settings_document(team_id, active=active, **groups)


def publish(bootstrap: str, topic: str, documents: Sequence[Mapping[str, Any]]) -> None:
    publish_settings(options(bootstrap), topic, documents)


# ---- events -----------------------------------------------------------------------------------

_CANDIDATE = {
    "id": "@CID@", "first_name": "Ada", "last_name": "Lovelace",
    "emails": ["ada.@CID@@example.com"], "phones": ["+44 7700 900123"],
    "job_title": "Backend Engineer", "company": "Initech", "location": "London",
    "social": {"linkedin": "https://www.linkedin.com/in/ada-@CID@"},
    "variables": {"seniority": "senior", "skills": ["python", "kafka"]},
    "tagged_fields": {},
}
_DATA: dict[str, dict[str, Any]] = {
    "candidate.added": {},
    "outreach.sent": {"step": {"number": 1, "channel": "email",
                               "subject": "A role at Initech",
                               "body": "Hi Ada, I came across your profile and thought you might"
                                       " like a Senior Engineer role at one of our clients."}},
    "candidate.replied": {"reply": {"channel": "email",
                                    "snippet": "Thanks for reaching out, happy to talk."}},
    "candidate.interested": {},
}


def event_template(team_id: str, kind: str) -> tuple[bytes, bytes, bytes]:
    """(prefix, middle, suffix) bytes: value = prefix + event id + middle + candidate id ...

    Built once per type with placeholders, so millions of distinct events are made by joining
    bytes rather than by serialising a dict each time.
    """
    body = {
        "specversion": "1.0", "id": "@EID@", "source": "sourcewhale/campaign-service",
        "type": f"com.sourcewhale.{kind}", "time": "2026-11-02T09:00:00Z",
        "subject": "candidate/@CID@", "datacontenttype": "application/json",
        "data": {"team_id": team_id, "user_id": "user-1", "campaign_id": "camp-1",
                 "candidate": _CANDIDATE, **_DATA[kind]},
    }
    text = json.dumps(body, separators=(",", ":"))
    return tuple(text.encode().split(b"@EID@"))  # type: ignore[return-value]


class EventFactory:
    """Distinct, valid events for one team, fast: ``make(seq, candidate_index, kind)``."""

    def __init__(self, team_id: str, kinds: Sequence[str]) -> None:
        self.team = team_id
        self._tmpl = {kind: event_template(team_id, kind) for kind in kinds}
        self._team_b = team_id.encode()

    def make(self, seq: int, cand: int, kind: str) -> tuple[bytes, bytes]:
        cid = b"cand-%07d" % cand
        head, tail = self._tmpl[kind]
        value = head + b"evt-%09d" % seq + tail.replace(b"@CID@", cid)
        return self._team_b + b":" + cid, value


def produce_events(bootstrap: str, topic: str, factory: EventFactory, n: int, candidates: int,
                   kinds: Sequence[str], *, first_seq: int = 0) -> float:
    """Produce ``n`` events spread over ``candidates`` (event i for candidate i % candidates,
    its type cycling through ``kinds`` per candidate, so each candidate's events are in order).
    Returns the seconds it took (until every record was acknowledged)."""
    producer = KafkaProducer(**options(bootstrap), linger_ms=20, batch_size=512 * 1024,
                             acks=1,
                             enable_idempotence=False)
    headers = [("content-type", b"application/cloudevents+json")]
    t0 = time.monotonic()
    try:
        for i in range(n):
            cand = i % candidates
            kind = kinds[(i // candidates) % len(kinds)]
            key, value = factory.make(first_seq + i, cand, kind)
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(timeout=300)
    finally:
        producer.close(timeout=10)
    return time.monotonic() - t0


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(**options(bootstrap), group_id=None, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


# ---- the raw kafka-python consumer (the ceiling of the skip path) -----------------------------


@dataclass
class RawResult:
    records: int
    seconds: float  # first record received .. last record decoded and committed

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def raw_consume(bootstrap: str, topic: str, group: str, expected: int,
                commit_interval_s: float = 1.0, timeout: float = 600) -> RawResult:
    """A plain group consumer: poll, json-decode each value, commit every second and at the end."""
    consumer = KafkaConsumer(topic, **options(bootstrap), group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             max_poll_records=500)
    seen = 0
    first: float | None = None
    deadline = time.monotonic() + timeout
    next_commit = 0.0
    try:
        while seen < expected and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for recs in batch.values():
                if first is None:
                    first = time.monotonic()
                    next_commit = first + commit_interval_s
                for r in recs:
                    json.loads(r.value)
                seen += len(recs)
            if first is not None and time.monotonic() >= next_commit:
                consumer.commit()
                next_commit = time.monotonic() + commit_interval_s
        consumer.commit()
        last = time.monotonic()
    finally:
        consumer.close()
    return RawResult(seen, last - (first or last))


# ---- processes ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (and its reaped children) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of a process, in kB."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


class Simulator:
    """The Pinpoint simulator in a process of its own (so it does not share the worker's core)."""

    def __init__(self, tenants: Sequence[Mapping[str, Any]], run_dir: Path, *,
                 latency_ms: float = 0.0) -> None:
        self.port = free_port()
        run_dir.mkdir(parents=True, exist_ok=True)
        spec = run_dir / "tenants.json"
        spec.write_text(json.dumps(list(tenants)))
        self._log = (run_dir / "simulator.log").open("wb")
        self.proc = subprocess.Popen(
            [PY, "-m", "worker", "simulator", "--port", str(self.port), "--tenants", str(spec),
             "--latency-ms", str(latency_ms), "--seed", "1"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/_sim/tenants")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"simulator did not start; see {run_dir}") from None
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url_template(self) -> str:
        return f"{self.url}/tenants/{{subdomain}}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class WorkerProcess:
    """``python -m worker run`` configured by ``PINPOINT_SYNC_*`` variables only."""

    def __init__(self, settings: Mapping[str, object], run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.http_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINPOINT_SYNC_")}
        env.update({"PINPOINT_SYNC_HTTP_PORT": str(self.http_port),
                    "PINPOINT_SYNC_LOG_FORMAT": "json",
                    "PINPOINT_SYNC_LOG_LEVEL": "WARNING"})
        env.update({f"PINPOINT_SYNC_{k.upper()}": str(v) for k, v in settings.items()})
        self.log_path = run_dir / "worker.log"
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [PY, "-m", "worker", "run"], cwd=ROOT, env=env, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.peak_rss_kb = 0
        self.samples: list[tuple[float, int]] = []
        self._stop_sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _sample(self) -> None:
        while not self._stop_sampling.is_set() and self.proc.poll() is None:
            mem = memory_kb(self.pid)
            if mem:
                rss = mem.get("VmRSS", 0)
                self.samples.append((time.monotonic() - self.started, rss))
                self.peak_rss_kb = max(self.peak_rss_kb, rss, mem.get("VmHWM", 0))
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.http_port}/readyz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}; see "
                                   f"{self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not ready; see {self.log_path}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            mem = memory_kb(self.pid)
            self.peak_rss_kb = max(self.peak_rss_kb, mem.get("VmHWM", 0))
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stop_sampling.set()
        self._sampler.join(5)
        self._log.close()
        return int(self.proc.returncode)


def worker_settings(bootstrap: str, topics: Mapping[str, str], group: str, run_dir: Path,
                    **extra: object) -> dict[str, object]:
    """The worker's variables for one benchmark (without the PINPOINT_SYNC_ prefix)."""
    secrets = run_dir / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    settings: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap,
        "group_id": group,
        "events_topic": topics["events"],
        "settings_topic": topics["settings"],
        "outcomes_topic": topics["outcomes"],
        "dlq_topic": topics["dlq"],
        "secrets_dir": secrets,
        "state_path": run_dir / "state.db",
    }
    settings.update(extra)
    return settings


def committed_total(admin: KafkaAdminClient, group: str, topic: str) -> int:
    offsets = admin.list_group_offsets(group).get(group, {})
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


@dataclass
class Progress:
    """When the worker's group committed what, seen from outside (polled every ``every`` s)."""

    first_commit: float | None = None
    done_at: float | None = None
    committed: int = 0


def wait_committed(bootstrap: str, group: str, topic: str, total: int, worker: WorkerProcess,
                   *, timeout: float, every: float = 0.25, report_every: float = 15.0,
                   ) -> Progress:
    """Wait until the group's committed offsets reach ``total`` records (time.time() marks)."""
    admin = KafkaAdminClient(**options(bootstrap), client_id="bench-progress")
    progress = Progress()
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + report_every
    try:
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.proc.returncode}:\n"
                                   f"{worker.log_tail()}")
            done = committed_total(admin, group, topic)
            now = time.time()
            if done and progress.first_commit is None:
                progress.first_commit = now
            progress.committed = done
            if done >= total:
                progress.done_at = now
                return progress
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + report_every
                say(f"  ... {done:,} of {total:,} committed, "
                    f"rss {memory_kb(worker.pid).get('VmRSS', 0) / 1024:.0f} MB")
            time.sleep(every)
    finally:
        admin.close()
    return progress


@dataclass
class OutcomeStats:
    count: int
    first_ts: float  # seconds (epoch), Kafka CreateTime of the first outcome
    last_ts: float
    outcomes: dict[str, int]

    @property
    def rate(self) -> float:
        span = self.last_ts - self.first_ts
        return (self.count - 1) / span if span > 0 else 0.0


def read_outcomes(bootstrap: str, topic: str, expected: int, timeout: float = 120,
                  decode: bool = True) -> OutcomeStats:
    """Every outcome record's timestamp (and, if ``decode``, its outcome/reason), read after the
    run so that reading them takes no CPU from the worker while it is measured."""
    consumer = KafkaConsumer(**options(bootstrap), group_id=None, enable_auto_commit=False,
                             max_poll_records=5000, fetch_max_bytes=64 * 1024 * 1024)
    parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    first, last, count = float("inf"), 0.0, 0
    outcomes: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while count < expected and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                for r in recs:
                    ts = r.timestamp / 1000.0
                    first = min(first, ts)
                    last = max(last, ts)
                    if decode:
                        doc = json.loads(r.value)
                        label = f"{doc['outcome']}/{doc['reason']}"
                        outcomes[label] = outcomes.get(label, 0) + 1
                count += len(recs)
    finally:
        consumer.close()
    return OutcomeStats(count, first, last, outcomes)
