"""Harness for end-to-end tests: the real broker, the simulator over HTTP, the worker in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from worker.config import WorkerConfig, load_config
from worker.kafka.topics import TopicSpec, ensure_topics
from worker.runtime.app import Worker
from worker.simulator import SimulatorServer
from worker.tools.sample import SampleEvent
from worker.tools.stack import TopicReader, produce, publish_settings


@dataclass
class Stack:
    """One test's topics, simulator tenants, secrets and worker configuration."""

    bootstrap: str
    sim: SimulatorServer
    tmp: Path
    names: Callable[[str], str]
    partitions: int = 3
    workers: list[tuple[Worker, asyncio.Task[int]]] = field(default_factory=list)
    readers: list[TopicReader] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events_topic = self.names("events")
        self.settings_topic = self.names("settings")
        self.outcomes_topic = self.names("outcomes")
        self.dlq_topic = self.names("dlq")
        self.group = self.names("group")
        self.secrets = self.tmp / "secrets"
        self.secrets.mkdir(exist_ok=True)
        ensure_topics(self.options, {
            self.events_topic: TopicSpec(partitions=self.partitions),
            self.settings_topic: TopicSpec(partitions=1, compacted=True),
            self.outcomes_topic: TopicSpec(partitions=1),
            self.dlq_topic: TopicSpec(partitions=1),
        })

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

    def config(self, **overrides: Any) -> WorkerConfig:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "group_id": self.group,
            "events_topic": self.events_topic,
            "settings_topic": self.settings_topic,
            "outcomes_topic": self.outcomes_topic,
            "dlq_topic": self.dlq_topic,
            "pinpoint_base_url": self.sim.base_url_template,
            "secrets_dir": self.secrets,
            "state_path": self.tmp / "state.db",
            "http_port": 0,
            "commit_interval_s": 0.2,
            "auth_probe_interval_s": 0.5,
            "retry_base_delay_s": 0.01,
            "retry_max_delay_s": 0.05,
            "retry_deadline_s": 5.0,
            "default_rate_limit": 0,
        }
        values.update(overrides)
        return load_config(**values)

    async def start_worker(self, **overrides: Any) -> Worker:
        worker = Worker(self.config(**overrides), handle_signals=False)
        task = asyncio.get_running_loop().create_task(worker.run())
        self.workers.append((worker, task))
        deadline = asyncio.get_running_loop().time() + 60
        while not worker.health.ready:
            if task.done():
                raise AssertionError(f"worker exited early with {task.result()}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"worker not ready: {worker.health.missing()}")
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

    async def close(self) -> None:
        for worker, task in self.workers:
            worker.shutdown()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 60)
        for reader in self.readers:
            reader.stop()


@pytest.fixture
async def stack(kafka_bootstrap: str, tmp_path: Path,
                unique_name: Callable[[str], str]) -> AsyncIterator[Stack]:
    """Topics, a simulator and a place for the worker's state, all this test's own."""
    async with SimulatorServer(port=0, seed=3) as sim:
        s = Stack(kafka_bootstrap, sim, tmp_path, unique_name)
        try:
            yield s
        finally:
            await s.close()
