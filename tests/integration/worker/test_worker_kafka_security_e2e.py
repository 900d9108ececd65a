"""Kafka security for real: the worker through a SASL_SSL (SCRAM-SHA-512) and an SSL listener,
and a clear start-up refusal (exit 2) for a wrong password or a wrong CA."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.conftest import SecureKafka
from worker.config import load_config
from worker.kafka.access import check_access
from worker.kafka.broker import free_port
from worker.kafka.producer import AsyncProducer
from worker.kafka.topics import TopicSpec, ensure_topics
from worker.simulator import SimulatorServer
from worker.tools.sample import CampaignGenerator
from worker.tools.stack import settings_document

from .conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def secure_stack(secure_kafka: SecureKafka, tmp_path: Path,
                       unique_name: Callable[[str], str]) -> AsyncIterator[Stack]:
    """This test's topics on the secured broker (set up and read through its PLAINTEXT
    listener), a simulator, and the SASL password in the secrets directory."""
    async with SimulatorServer(port=0, seed=5) as sim:
        stack = Stack(secure_kafka.plaintext, sim, tmp_path, unique_name, partitions=2)
        (stack.secrets / "kafka-sasl-password").write_text(secure_kafka.password + "\n")
        try:
            yield stack
        finally:
            await stack.close()


def sasl_ssl_settings(kafka: SecureKafka, **changes: Any) -> dict[str, Any]:
    """The worker's PINPOINT_SYNC_KAFKA_* settings for the SASL_SSL listener."""
    return {"kafka_bootstrap_servers": kafka.sasl_ssl, "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": kafka.username,
            "kafka_ssl_cafile": kafka.ca_file, **changes}


async def test_worker_processes_events_through_sasl_ssl(
        secure_stack: Stack, secure_kafka: SecureKafka) -> None:
    """A worker process given SASL_SSL settings (password read from the secrets directory)
    consumes events and settings and publishes outcomes through the secured listener only."""
    stack = secure_stack
    stack.tenant("acme", "acme-secret")
    stack.settings(settings_document("acme", general={"create_notes_upon": ["email"]},
                                     sync={"sync_upon": "added"}))
    events = CampaignGenerator(seed=51).campaign(["acme"], 4, steps=1, reply_rate=0.0)
    outcomes = stack.reader(stack.outcomes_topic)
    worker = stack.spawn(**sasl_ssl_settings(secure_kafka))
    await worker.wait_ready(timeout=90)
    stack.produce(events)
    values = await stack.wait_outcomes(outcomes, len(events), timeout=60)
    assert sum(v["outcome"] == "synced" for v in values) == 4
    assert "dead_lettered" not in {v["outcome"] for v in values}
    assert len(stack.sim.tenant("acme").snapshot()["job_seekers"]) == 4
    worker.proc.send_signal(signal.SIGTERM)
    assert await worker.wait_exit(60) == 0
    assert secure_kafka.password not in worker.log()
    committed = await asyncio.to_thread(stack.group_offsets)
    assert sum(committed.values()) == len(events)


@pytest.mark.parametrize(("changes", "problem", "setting"), [
    ({"kafka_sasl_password": "not-the-password"},
     "Kafka refused the SASL credentials of user 'pinpoint-sync' (SCRAM-SHA-512)",
     "PINPOINT_SYNC_KAFKA_SASL_PASSWORD"),
    ({"kafka_ssl_cafile": "OTHER_CA"}, "certificate verify failed",
     "PINPOINT_SYNC_KAFKA_SSL_CAFILE"),
], ids=["wrong-password", "wrong-ca"])
async def test_wrong_credentials_stop_the_start_with_one_line_and_exit_2(
        secure_stack: Stack, secure_kafka: SecureKafka, changes: dict[str, Any],
        problem: str, setting: str) -> None:
    """A wrong SASL password or a CA that does not verify the brokers ends the start at once:
    exit code 2 and one line naming the problem (never the password)."""
    if changes.get("kafka_ssl_cafile") == "OTHER_CA":
        changes = {"kafka_ssl_cafile": secure_kafka.other_ca_file}
    worker = secure_stack.spawn(**sasl_ssl_settings(secure_kafka, **changes))
    assert await worker.wait_exit(60) == 2
    lines = [line for line in worker.log().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("pinpoint-sync: ")
    assert problem in lines[0]
    assert setting in lines[0]
    assert "not-the-password" not in lines[0]
    assert secure_kafka.password not in lines[0]


async def test_both_clients_connect_through_the_tls_only_listener(
        secure_kafka: SecureKafka, tmp_path: Path, unique_name: Callable[[str], str]) -> None:
    """With SSL settings (TLS, no SASL) the producer (librdkafka) writes and the consumer
    (kafka-python) reads back through the SSL listener."""
    config = load_config(kafka_bootstrap_servers=secure_kafka.ssl,
                         kafka_security_protocol="SSL", kafka_ssl_cafile=secure_kafka.ca_file,
                         secrets_dir=tmp_path)
    options = config.kafka_client_options()
    topic = unique_name("tls")
    ensure_topics(options, {topic: TopicSpec(partitions=1)})
    async with await AsyncProducer.create(options, client_id="tests-tls") as producer:
        partition, offset = await producer.send(topic, key=b"k", value=b"over TLS")
    consumer = KafkaConsumer(**options, group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        records = []
        for _ in range(50):
            records += [r for recs in consumer.poll(timeout_ms=200).values() for r in recs]
            if records:
                break
    finally:
        consumer.close()
    assert [(r.key, r.value) for r in records] == [(b"k", b"over TLS")]


def test_unreachable_brokers_are_left_to_the_clients(secure_kafka: SecureKafka,
                                                     tmp_path: Path) -> None:
    """The start-up check does not turn brokers that refuse connections into a configuration
    error: it returns as soon as they are all reported down, long before its timeout."""
    (tmp_path / "kafka-sasl-password").write_text("whatever")
    config = load_config(secrets_dir=tmp_path, **sasl_ssl_settings(
        secure_kafka, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}"))
    started = time.monotonic()
    check_access(config.kafka_client_options(), timeout_s=20)
    assert time.monotonic() - started < 5
