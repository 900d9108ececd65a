"""/healthz in a running worker: a dead settings follower and a consumer stuck rebalancing."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import aiohttp
import pytest
from kafka import KafkaConsumer
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor

from worker.runtime.app import Worker
from worker.tools.stack import settings_document

from .conftest import Stack

pytestmark = pytest.mark.integration


async def healthz(worker: Worker) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{worker.http_port}/healthz") as resp:
        return resp.status, json.loads(await resp.read())


async def wait_health(worker: Worker, status: int, timeout: float = 30) -> dict[str, Any]:
    """Wait until /healthz answers ``status``; returns its body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got, body = await healthz(worker)
        if got == status:
            return body
        assert loop.time() < deadline, f"/healthz still {got}: {body}"
        await asyncio.sleep(0.1)


async def test_healthz_fails_when_the_settings_follower_dies(stack: Stack) -> None:
    """A settings follower whose thread ends on an error turns /healthz 503, naming it, and
    its gauge reads 0; /readyz stays ready."""
    worker = await stack.start_worker()
    status, body = await healthz(worker)
    assert (status, body["status"]) == (200, "ok")
    for _ in range(100):  # the membership turns stable just after the first assignment
        metrics = await stack.metrics(worker)
        if metrics["pinpoint_sync_consumer_rebalancing_seconds"] == 0:
            break
        await asyncio.sleep(0.1)
    assert metrics["pinpoint_sync_consumer_rebalancing_seconds"] == 0
    assert metrics["pinpoint_sync_settings_follower_up"] == 1
    follower = worker.follower
    assert follower is not None

    def refuse(team_id: str, raw: bytes | None) -> None:
        raise RuntimeError(f"settings of {team_id} could not be applied")

    follower._on_record = refuse  # the next settings record ends the follower's thread
    stack.settings(settings_document("acme"))
    body = await wait_health(worker, 503)
    assert body["status"] == "failing"
    assert body["failing"]["settings_follower"] == (
        "settings follower thread stopped: RuntimeError: settings of acme could not be applied")
    assert not follower.is_alive()
    metrics = await stack.metrics(worker)
    assert metrics["pinpoint_sync_settings_follower_up"] == 0
    assert worker.health.ready


async def test_healthz_fails_while_the_consumer_is_stuck_rebalancing(stack: Stack) -> None:
    """A rebalance held up by a member that stopped polling turns /healthz 503 past
    REBALANCE_STUCK_S (with the rebalancing gauge counting); once it completes, 200 again."""
    worker = await stack.start_worker(rebalance_stuck_s=2.0, revoke_timeout_s=1.0)
    options = dict(stack.options, group_id=stack.group,
                   partition_assignment_strategy=[CooperativeStickyAssignor],
                   session_timeout_ms=10_000, max_poll_interval_ms=60_000,
                   enable_auto_commit=False)
    idle = KafkaConsumer(stack.events_topic, **options)  # joins, then stops polling
    newcomer = KafkaConsumer(stack.events_topic, **options)
    stop = threading.Event()
    try:
        for _ in range(200):
            idle.poll(timeout_ms=100)
            if idle.assignment():
                break
        assert idle.assignment(), "the second member got no partition"
        await wait_health(worker, 200)

        def keep_polling() -> None:
            while not stop.is_set():
                newcomer.poll(timeout_ms=100)

        thread = threading.Thread(target=keep_polling, daemon=True)
        thread.start()  # a third member: the group rebalances and waits for the idle one
        body = await wait_health(worker, 503, timeout=30)
        assert "consumer rebalancing for" in body["failing"]["consumer_rebalance"]
        metrics = await stack.metrics(worker)
        assert metrics["pinpoint_sync_consumer_rebalancing_seconds"] > 2.0
        assert worker.health.ready
        await asyncio.to_thread(idle.close)  # it leaves: the rebalance completes
        await wait_health(worker, 200, timeout=30)
    finally:
        stop.set()
        await asyncio.to_thread(newcomer.close)
        await asyncio.to_thread(idle.close)
