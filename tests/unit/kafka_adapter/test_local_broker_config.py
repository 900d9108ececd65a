"""The local broker launcher's pure parts: cluster ids, heap sizes, the written configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.kafka.broker import LocalKafkaBroker, _cluster_id, min_heap

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
