"""Harness for end-to-end tests: the real broker, the simulator over HTTP, the worker in-process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from tests.contract_gate import ContractGate
from worker.config import WorkerConfig, load_config
from worker.core.notes import REF_LABEL, note_ref
from worker.core.pinpoint_reference import MODEL_OF_TYPE
from worker.kafka.topics import TopicSpec, ensure_topics
from worker.runtime.app import Worker
from worker.simulator import SimulatorServer
from worker.tools.sample import SampleEvent
from worker.tools.stack import TopicReader, produce, publish_settings

ROOT = Path(__file__).resolve().parents[3]

_RESPONSE_NOTES = {
    "com.sourcewhale.candidate.replied": "replied",
    "com.sourcewhale.candidate.interested": "interested",
    "com.sourcewhale.candidate.not_interested": "not_interested",
    "com.sourcewhale.candidate.unsubscribed": "unsubscribed",
}


def note_type_of(event: SampleEvent) -> str | None:
    """The note type of a sample event, read from its JSON (independently of the worker)."""
    if event.type == "com.sourcewhale.outreach.sent":
        return str(json.loads(event.value)["data"]["step"]["channel"])
    return _RESPONSE_NOTES.get(event.type)


def marker_of(body_text: str) -> str | None:
    """The reference marker a note's text ends with (None when it has none)."""
    last = body_text.rstrip().rsplit("\n", 1)[-1]
    return last.removeprefix(REF_LABEL) if last.startswith(REF_LABEL) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerProcess:
    """A worker run as ``python -m worker run`` (for crash and signal tests)."""

    proc: subprocess.Popen[bytes]
    http_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"worker exited with {self.proc.returncode}:\n"
                                         f"{self.log()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    url = f"http://127.0.0.1:{self.http_port}/readyz"
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"worker process not ready:\n{self.log()[-3000:]}")

    async def wait_exit(self, timeout: float = 60) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.proc.poll() is None:
            if loop.time() > deadline:
                raise AssertionError(f"worker still running after {timeout}s:\n"
                                     f"{self.log()[-3000:]}")
            await asyncio.sleep(0.05)
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)


@dataclass
class Stack:
    """One test's topics, simulator tenants, secrets and worker configuration."""

    bootstrap: str
    sim: SimulatorServer
    tmp: Path
    names: Callable[[str], str]
    partitions: int = 3
    gate: ContractGate | None = None
    workers: list[tuple[Worker, asyncio.Task[int]]] = field(default_factory=list)
    readers: list[TopicReader] = field(default_factory=list)
    processes: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events_topic = self.names("events")
        self.settings_topic = self.names("settings")
        self.outcomes_topic = self.names("outcomes")
        self.dlq_topic = self.names("dlq")
        self.replay_topic = self.names("replay")
        self.group = self.names("group")
        self.secrets = self.tmp / "secrets"
        self.secrets.mkdir(exist_ok=True)
        ensure_topics(self.options, {
            self.events_topic: TopicSpec(partitions=self.partitions),
            self.settings_topic: TopicSpec(partitions=1, compacted=True),
            self.outcomes_topic: TopicSpec(partitions=1),
            self.dlq_topic: TopicSpec(partitions=1),
        })
        self._settle_metadata()

    def _settle_metadata(self) -> None:
        # kafka-python's group leader assigns before it has the metadata of a topic created a
        # moment ago, and now and then never re-assigns: wait until a client sees the topic whole.
        consumer = KafkaConsumer(**self.options, group_id=None)
        try:
            deadline = time.monotonic() + 30
            while len(consumer.partitions_for_topic(self.events_topic) or ()) < self.partitions:
                assert time.monotonic() < deadline, "the events topic has no metadata"
                time.sleep(0.05)
        finally:
            consumer.close()

    @property
    def options(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap.split(",")}

    def tenant(self, subdomain: str, api_key: str, **spec: Any) -> None:
        """A simulator tenant and the secret file holding its key (ref ``<subdomain>-key``)."""
        self.sim.add_tenant({"subdomain": subdomain, "api_key": api_key,
                             "rate_limit": None, **spec})
        (self.secrets / f"{subdomain}-key").write_text(api_key)

    def settings(self, *documents: Mapping[str, Any]) -> None:
        publish_settings(self.options, self.settings_topic, documents)

    def produce(self, records: Iterable[SampleEvent | tuple[bytes | None, bytes | None]]) -> int:
        return produce(self.options, self.events_topic, records)

    def produce_located(self, records: Iterable[tuple[bytes | None, bytes | None]],
                        ) -> list[tuple[int, int]]:
        """Produce (key, value) records; returns each one's (partition, offset)."""
        producer = KafkaProducer(**self.options, acks="all")
        try:
            futures = [producer.send(self.events_topic, key=k, value=v) for k, v in records]
            producer.flush(timeout=30)
            return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
        finally:
            producer.close(timeout=10)

    def config(self, **overrides: Any) -> WorkerConfig:
        return load_config(**self.config_values(**overrides))

    def config_values(self, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "group_id": self.group,
            "events_topic": self.events_topic,
            "settings_topic": self.settings_topic,
            "outcomes_topic": self.outcomes_topic,
            "dlq_topic": self.dlq_topic,
            "replay_topic": self.replay_topic,
            "pinpoint_base_url": (self.gate or self.sim).base_url_template,
            "secrets_dir": self.secrets,
            "state_path": self.tmp / "state.db",
            "http_port": 0,
            "commit_interval_s": 0.2,
            "auth_probe_interval_s": 0.5,
            "retry_base_delay_s": 0.01,
            "retry_max_delay_s": 0.05,
            "retry_deadline_s": 5.0,
            # Short request budgets keep an effect's window (timeout + grace + retries) short:
            # a worker killed mid-call leaves its intents busy that long.
            "pinpoint_timeout_s": 5.0,
            "pinpoint_connect_timeout_s": 2.0,
            "pinpoint_late_write_grace_s": 1.0,
            "revoke_timeout_s": 6.0,
            "drain_timeout_s": 10.0,
            "default_rate_limit": 0,
        }
        values.update(overrides)
        return values

    def environment(self, **overrides: Any) -> dict[str, str]:
        """This test's configuration as ``PINPOINT_SYNC_*`` variables (for a worker process)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINPOINT_SYNC_")}
        for name, value in self.config_values(**overrides).items():
            env[f"PINPOINT_SYNC_{name.upper()}"] = str(value)
        env["PINPOINT_SYNC_LOG_FORMAT"] = "json"
        return env

    def spawn(self, **overrides: Any) -> WorkerProcess:
        """Start the worker as a process (``python -m worker run``), logging to a file."""
        port = overrides.pop("http_port", None) or free_port()
        log_path = self.tmp / f"worker-{len(self.processes)}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "run"], cwd=ROOT, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
                env=self.environment(http_port=port, **overrides))
        wp = WorkerProcess(proc, port, log_path)
        self.processes.append(wp)
        return wp

    async def start_worker(self, *, ready_within: float = 60, holds_partitions: bool = True,
                           **overrides: Any) -> Worker:
        """Run a worker in this loop until it is ready (and, unless told otherwise, holds
        partitions: a member of the group that never gets any would process nothing)."""
        worker = Worker(self.config(**overrides), handle_signals=False)
        loop = asyncio.get_running_loop()
        task = loop.create_task(worker.run())
        self.workers.append((worker, task))
        deadline = loop.time() + ready_within
        def holds() -> bool:  # of the events topic (the replay topic's do not count)
            return any(tp.topic == self.events_topic for tp in worker.scheduler.partitions())

        while not worker.health.ready or (holds_partitions and not holds()):
            if task.done():
                raise AssertionError(f"worker exited early with {task.result()}")
            if loop.time() > deadline:
                raise AssertionError(f"worker not ready: {worker.health.missing()}" if not
                                     worker.health.ready else "worker ready, but no partition")
            await asyncio.sleep(0.05)
        return worker

    async def stop_worker(self, worker: Worker) -> int:
        for i, (w, task) in enumerate(self.workers):
            if w is worker:
                worker.shutdown()
                code = await asyncio.wait_for(task, 60)
                del self.workers[i]
                return code
        raise AssertionError("unknown worker")

    def reader(self, topic: str, **kw: Any) -> TopicReader:
        reader = TopicReader(self.options, topic, **kw).start()
        self.readers.append(reader)
        return reader

    async def wait_outcomes(self, reader: TopicReader, n: int, timeout: float = 60) -> list[Any]:
        ok = await asyncio.to_thread(reader.wait_for, n, timeout)
        assert ok, f"only {reader.count()} of {n} outcomes within {timeout}s"
        return reader.values()

    async def metrics(self, worker: Worker | WorkerProcess) -> dict[str, float]:
        """The worker's ``/metrics``, as ``{"name{labels}": value}``."""
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{worker.http_port}/metrics") as resp:
            text = await resp.text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def group_offsets(self) -> dict[int, int]:
        """The consumer group's committed offsets on the events topic, by partition."""
        admin = KafkaAdminClient(**self.options, client_id="tests-admin")
        try:
            offsets = admin.list_group_offsets(self.group)[self.group]
        finally:
            admin.close()
        return {tp.partition: om.offset for tp, om in offsets.items()
                if tp.topic == self.events_topic}

    def end_offsets(self) -> dict[int, int]:
        """The events topic's end offsets, by partition."""
        consumer = KafkaConsumer(**self.options, group_id=None)
        try:
            tps = [TopicPartition(self.events_topic, p) for p in range(self.partitions)]
            return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
        finally:
            consumer.close()

    async def close(self) -> None:
        for proc in self.processes:
            proc.kill()
            with contextlib.suppress(Exception):
                await proc.wait_exit(10)
        for worker, task in self.workers:
            worker.shutdown()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 60)
        for reader in self.readers:
            reader.stop()


async def wait_event_ids(reader: TopicReader, event_ids: Iterable[str], timeout: float = 60,
                         ) -> list[Any]:
    """Wait until every one of ``event_ids`` has an outcome; returns all outcome values."""
    wanted = set(event_ids)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        values = reader.values()
        missing = wanted - {v["event_id"] for v in values if v}
        if not missing:
            return values
        if loop.time() > deadline:
            raise AssertionError(f"{len(missing)} of {len(wanted)} events have no outcome "
                                 f"after {timeout}s, e.g. {sorted(missing)[:3]}")
        await asyncio.sleep(0.1)


@dataclass
class Expected:
    """What a team's Pinpoint account must hold: one record per candidate, one note per event."""

    records: set[str]
    """External references of the records."""
    notes: dict[str, list[str]]
    """External reference → the markers of its notes, in event order."""


def expect_push_on_first_event(events: Iterable[SampleEvent], note_types: Iterable[str],
                               ) -> dict[str, Expected]:
    """The effects of a clean policy run (sync upon added, notes only on synced records off):
    every candidate is pushed by its first event, and each event of a selected note type is
    one note. By team."""
    selected = set(note_types)
    out: dict[str, Expected] = {}
    for ev in events:
        exp = out.setdefault(ev.team_id, Expected(set(), defaultdict(list)))
        ref = f"sourcewhale:{ev.team_id}:{ev.candidate_id}"
        exp.records.add(ref)
        if note_type_of(ev) in selected:
            exp.notes[ref].append(note_ref(ev.team_id, ev.event_id))
    return out


def assert_exactly_once(sim: SimulatorServer, expected: Mapping[str, Expected],
                        kind: str = "job_seekers") -> dict[str, int]:
    """Every expected record and note exists exactly once, notes in event order per record;
    returns the number of notes checked per team."""
    checked: dict[str, int] = {}
    for team, exp in expected.items():
        state = sim.tenant(team).snapshot()
        refs = Counter(r["external_system_reference"] for r in state[kind])
        twice = sorted(r for r, n in refs.items() if n > 1)
        assert not twice, f"{team}: records created twice: {twice[:5]}"
        assert set(refs) == exp.records, (
            f"{team}: missing {sorted(exp.records - set(refs))[:5]}, "
            f"unexpected {sorted(set(refs) - exp.records)[:5]}")
        record_of = {r["id"]: r["external_system_reference"] for r in state[kind]}
        markers = Counter(marker_of(c["body_text"]) for c in state["comments"])
        assert None not in markers, f"{team}: a note without a reference marker"
        dup = sorted(m for m, n in markers.items() if n > 1)
        assert not dup, f"{team}: notes written twice: {dup[:5]}"
        got: dict[str, list[str]] = defaultdict(list)
        for c in sorted(state["comments"], key=lambda c: int(c["id"])):
            assert c["commentable_type"] == MODEL_OF_TYPE[kind]
            got[record_of[c["commentable_id"]]].append(str(marker_of(c["body_text"])))
        wanted = {ref: notes for ref, notes in exp.notes.items() if notes}
        lost = {m for notes in wanted.values() for m in notes} - set(markers)
        assert not lost, f"{team}: {len(lost)} notes lost"
        assert dict(got) == wanted, f"{team}: notes out of order or on the wrong record"
        checked[team] = sum(len(n) for n in wanted.values())
    return checked


@pytest.fixture
async def stack(request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path,
                unique_name: Callable[[str], str]) -> AsyncIterator[Stack]:
    """Topics, a simulator and a place for the worker's state, all this test's own
    (``parametrize("stack", [6], indirect=True)`` for 6 partitions of the events topic)."""
    partitions = getattr(request, "param", 3)
    async with SimulatorServer(port=0, seed=3) as sim, ContractGate(sim.url) as gate:
        s = Stack(kafka_bootstrap, sim, tmp_path, unique_name, partitions=partitions, gate=gate)
        try:
            yield s
        finally:
            await s.close()
        assert not gate.violations, "requests outside Pinpoint's reference:\n" + gate.report()
