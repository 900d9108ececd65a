"""``pinpoint-sync store``: status, migrate and prune on the configured SQLite store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.cli import main
from worker.store import SCHEMA_VERSION, SqliteStateStore
from worker.tools.store_cli import parse_duration

pytestmark = pytest.mark.unit


@pytest.fixture
def state_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state.db"
    monkeypatch.setenv("PINPOINT_SYNC_STATE_URL", f"sqlite://{path}")
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_status_of_a_fresh_file_is_behind_until_migrated(
    state_url: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status does not migrate (exit 1, version 0); migrate applies all; status is then 0."""
    assert main(["store", "status", "--json"]) == 1
    assert _json(capsys)["schema_version"] == 0
    assert main(["store", "migrate", "--json"]) == 0
    assert _json(capsys)["applied"] == list(range(1, SCHEMA_VERSION + 1))
    assert main(["store", "migrate"]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert main(["store", "status", "--json"]) == 0
    status = _json(capsys)
    assert (status["backend"], status["schema_version"]) == ("sqlite", SCHEMA_VERSION)
    assert status["counts"] == {
        "candidates": 0, "pending_notes": 0, "leases": 0, "held_events": 0, "redrives": 0,
        "effects_intended": 0, "effects_done": 0,
    }


def test_prune_uses_the_configured_retention(
    state_url: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """prune removes done entries older than LEDGER_RETENTION_DAYS, or --older-than."""
    old = datetime.now(UTC) - timedelta(days=10)

    async def fill() -> None:
        async with SqliteStateStore(state_url, clock=lambda: old) as store:
            await store.mark_done("event:a", team_id="t", kind="event", fence=None)
            await store.claim_effect("open", team_id="t", kind="x", fence=None,
                                     attempt_window_s=1)

    asyncio.run(fill())
    assert main(["store", "prune", "--json"]) == 0
    assert _json(capsys)["removed"] == {"effects_done": 0, "done_marks": 0}
    monkeypatch.setenv("PINPOINT_SYNC_LEDGER_RETENTION_DAYS", "7")
    assert main(["store", "prune"]) == 0
    assert "1 done marks" in capsys.readouterr().out
    assert main(["store", "prune", "--older-than", "1h", "--json"]) == 0
    assert _json(capsys)["removed"] == {"effects_done": 0, "done_marks": 0}
    assert main(["store", "status", "--json"]) == 0
    assert _json(capsys)["counts"]["effects_intended"] == 1  # type: ignore[index]


def test_bad_url_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state URL of another scheme exits 2 naming the variable."""
    monkeypatch.setenv("PINPOINT_SYNC_STATE_URL", "mysql://db/x")
    assert main(["store", "status"]) == 2
    assert "PINPOINT_SYNC_STATE_URL" in capsys.readouterr().err


def test_password_in_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password inside the URL is a configuration error, and the message does not show it."""
    monkeypatch.setenv("PINPOINT_SYNC_STATE_URL", "postgresql://u:hunter2@db:5432/x")
    assert main(["store", "status"]) == 2
    err = capsys.readouterr().err
    assert "PINPOINT_SYNC_STATE_PASSWORD" in err
    assert "hunter2" not in err


def test_unreachable_server_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PostgreSQL store that cannot be reached exits 2 with the location, never the password."""
    monkeypatch.setenv("PINPOINT_SYNC_STATE_URL",
                       "postgresql://u@127.0.0.1:1/x?connect_timeout=2")
    monkeypatch.setenv("PINPOINT_SYNC_STATE_PASSWORD", "hunter2")
    assert main(["store", "status"]) == 2
    err = capsys.readouterr().err
    assert "u@127.0.0.1:1/x" in err
    assert "hunter2" not in err


def test_durations() -> None:
    """Durations take s, m, h, d, w; a bare number is days; nonsense is refused."""
    assert parse_duration("30d") == parse_duration("30") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("2w") == timedelta(days=14)
    for bad in ("", "x", "-1d", "0s"):
        with pytest.raises(Exception, match="duration"):
            parse_duration(bad)
