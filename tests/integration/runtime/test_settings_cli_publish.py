"""`pinpoint-sync settings publish` → the settings follower and cache see the team's settings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from worker.cli import main as cli_main
from worker.kafka.settings_follower import SettingsFollower
from worker.runtime.settings_cache import SettingsCache

pytestmark = pytest.mark.integration


def settings(version: int, sync_upon: str = "added") -> dict[str, object]:
    """A valid settings document of team acme."""
    return {"schema_version": 1, "team_id": "acme", "version": version,
            "integration": {"active": True, "subdomain": "acme", "api_key_ref": "acme-key"},
            "sync": {"sync_upon": sync_upon}}


def wait_until(check: Callable[[], bool], timeout: float = 20) -> bool:
    """Poll ``check`` until true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_publish_then_follower_sees_it(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Published documents land keyed by team_id on a compacted topic the cache follows;
    --remove publishes a tombstone that removes the team."""
    topic = unique_name("settings")
    monkeypatch.setenv("PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # flag wins
    first = tmp_path / "acme-v1.json"
    first.write_text(json.dumps(settings(1)))
    status = cli_main(["settings", "publish", str(first), "--bootstrap-servers", kafka_bootstrap,
                       "--topic", topic])
    assert status == 0, capsys.readouterr()
    assert f"→ {topic}[0]@0 (key acme)" in capsys.readouterr().out

    cache = SettingsCache()
    follower = SettingsFollower({"bootstrap_servers": kafka_bootstrap}, topic, cache.apply)
    follower.start()
    try:
        assert follower.wait_caught_up(20)
        held = cache.get("acme")
        assert held is not None
        assert held.version == 1

        second = tmp_path / "acme-v2.json"
        second.write_text(json.dumps(settings(2, "interested")))
        assert cli_main(["settings", "publish", str(second), "--bootstrap-servers",
                         kafka_bootstrap, "--topic", topic]) == 0
        assert wait_until(lambda: (s := cache.get("acme")) is not None and s.version == 2)

        assert cli_main(["settings", "publish", "--remove", "acme", "--bootstrap-servers",
                         kafka_bootstrap, "--topic", topic]) == 0
        assert wait_until(lambda: cache.get("acme") is None)
    finally:
        follower.stop()
    assert follower.error is None


def test_publish_to_unreachable_broker_fails_cleanly(tmp_path: Path) -> None:
    """No broker: exit status 3 and a one-line reason, no traceback."""
    path = tmp_path / "acme.json"
    path.write_text(json.dumps(settings(1)))
    # A child process: kafka-python leaves refused sockets to the garbage collector, whose
    # ResourceWarnings would otherwise surface at the end of this test session.
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "worker", "settings", "publish", str(path),
         "--bootstrap-servers", "127.0.0.1:1", "--timeout", "1"],
        capture_output=True, text=True, timeout=60, check=False,
        cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("publish failed (127.0.0.1:1): KafkaTimeoutError")
    assert "Traceback" not in done.stderr
