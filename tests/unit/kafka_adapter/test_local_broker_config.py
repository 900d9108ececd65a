"""The local broker launcher's pure parts: cluster ids, heap sizes, the written configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.core.limits import MAX_DEAD_LETTER_BYTES
from worker.kafka.broker import BrokerError, BrokerSecurity, LocalKafkaBroker, _cluster_id, min_heap

pytestmark = pytest.mark.unit


def test_cluster_ids_never_look_like_an_option() -> None:
    """Cluster ids are 22 URL-safe characters and never start with '-' (read as an option)."""
    ids = {_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


@pytest.mark.parametrize(("heap", "initial"), [("512m", "256m"), ("1g", "512m"), ("128m", "128m"),
                                               ("odd", "odd")])
def test_initial_heap_is_half_the_maximum(heap: str, initial: str) -> None:
    """The JVM starts with half its maximum heap, at least 128m; unknown forms pass through."""
    assert min_heap(heap) == initial


def test_configuration_is_a_single_kraft_node_on_loopback(tmp_path: Path) -> None:
    """server.properties describes one combined node on 127.0.0.1 with replication factor 1."""
    broker = LocalKafkaBroker(port=19099, controller_port=19100, run_dir=tmp_path)
    props = broker._write_config(tmp_path)
    lines = dict(line.split("=", 1) for line in props.read_text().splitlines())
    assert lines["process.roles"] == "broker,controller"
    assert lines["listeners"] == "PLAINTEXT://127.0.0.1:19099,CONTROLLER://127.0.0.1:19100"
    assert lines["controller.quorum.bootstrap.servers"] == "127.0.0.1:19100"
    assert lines["offsets.topic.replication.factor"] == "1"
    assert lines["group.initial.rebalance.delay.ms"] == "0"
    assert broker.bootstrap_servers == "127.0.0.1:19099"


def test_secured_listeners_are_configured_beside_plaintext(tmp_path: Path) -> None:
    """With security, SASL_SSL (SCRAM-SHA-512) and SSL listeners use the PEM keystore, and the
    SCRAM users are passed to the storage tool's format."""
    keystore = tmp_path / "broker.pem"
    broker = LocalKafkaBroker(port=19099, controller_port=19100, run_dir=tmp_path,
                              security=BrokerSecurity(keystore, {"svc": "pw"},
                                                      sasl_ssl_port=19101, ssl_port=19102))
    broker._secured_ports = (19101, 19102)
    props = broker._write_config(tmp_path)
    lines = dict(line.split("=", 1) for line in props.read_text().splitlines())
    assert lines["listeners"] == ("PLAINTEXT://127.0.0.1:19099,CONTROLLER://127.0.0.1:19100,"
                                  "SASL_SSL://127.0.0.1:19101,SSL://127.0.0.1:19102")
    assert lines["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL")
    assert lines["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert lines["ssl.keystore.type"] == "PEM"
    assert lines["ssl.keystore.location"] == str(keystore)
    assert lines["inter.broker.listener.name"] == "PLAINTEXT"
    assert broker._scram_arguments() == ["--add-scram", "SCRAM-SHA-512=[name=svc,password=pw]"]
    assert broker.sasl_ssl_bootstrap_servers == "127.0.0.1:19101"


def test_scram_passwords_the_storage_tool_cannot_parse_are_refused(tmp_path: Path) -> None:
    """A SCRAM password with the format tool's separators is refused with a clear error."""
    broker = LocalKafkaBroker(port=19099, run_dir=tmp_path, security=BrokerSecurity(
        tmp_path / "k.pem", {"svc": "a,b"}))
    with pytest.raises(BrokerError, match="may not contain"):
        broker._scram_arguments()


def test_broker_takes_a_dead_letter_of_the_largest_event(tmp_path: Path) -> None:
    """The local broker's default message limit fits any dead letter the worker sends."""
    broker = LocalKafkaBroker(port=19099, controller_port=19100, run_dir=tmp_path)
    lines = dict(line.split("=", 1)
                 for line in broker._write_config(tmp_path).read_text().splitlines())
    assert int(lines["message.max.bytes"]) == MAX_DEAD_LETTER_BYTES
