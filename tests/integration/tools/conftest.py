"""Harness of the replay and dead-letter tools' tests: the end-to-end stack, and the command
line run as a process (``python -m worker ...``) with the stack's configuration."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from tests.integration.worker import conftest as worker_harness
from tests.integration.worker.conftest import ROOT, Stack

stack = worker_harness.stack
"""The end-to-end stack fixture (topics, simulator, worker), as the worker's tests have it."""


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def cli(stack: Stack, *args: str, timeout: float = 120, **env: str) -> Ran:
    """Run ``pinpoint-sync ARGS`` as a process with the stack's ``PINPOINT_SYNC_*``
    configuration (the worker of the test keeps running on this loop meanwhile)."""
    environment = stack.environment()
    environment.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", *args, cwd=ROOT, env=environment,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return Ran(int(proc.returncode or 0), out.decode(), err.decode())


def now_ms() -> int:
    return int(time.time() * 1000)


def topic_ends(stack: Stack) -> dict[str, dict[int, int]]:
    """End offsets of every topic of the stack."""
    consumer = KafkaConsumer(**stack.options, group_id=None)
    try:
        out: dict[str, dict[int, int]] = {}
        for topic in (stack.events_topic, stack.settings_topic, stack.outcomes_topic,
                      stack.dlq_topic, stack.replay_topic):
            parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            out[topic] = {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
        return out
    finally:
        consumer.close()
