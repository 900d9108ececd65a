"""``pinpoint-sync store`` against a real PostgreSQL server, password from each source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PostgresServer
from worker.cli import main
from worker.store import SCHEMA_VERSION

pytestmark = pytest.mark.integration


def test_migrate_then_status_with_the_password_from_the_environment(
    postgres_schema: str, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """migrate applies every migration once; status then reports postgresql at that version."""
    monkeypatch.setenv("PINPOINT_SYNC_STATE_URL", postgres_schema)
    if postgres_server.password is not None:
        monkeypatch.setenv("PINPOINT_SYNC_STATE_PASSWORD", postgres_server.password)
    assert main(["store", "status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["schema_version"] == 0
    assert main(["store", "migrate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == list(range(1, SCHEMA_VERSION + 1))
    assert main(["store", "status", "--json"]) == 0
    out = capsys.readouterr().out
    status = json.loads(out)
    assert (status["backend"], status["schema_version"]) == ("postgresql", SCHEMA_VERSION)
    if postgres_server.password is not None:
        assert postgres_server.password not in out


def test_password_from_the_secrets_directory(
    postgres_schema: str, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """With no STATE_PASSWORD, the state-password file of SECRETS_DIR is used; a wrong one
    fails with exit 2 and without the password in the message."""
    if postgres_server.password is None:
        pytest.fail("the test server must use a password for this test")
    monkeypatch.delenv("PINPOINT_SYNC_STATE_PASSWORD", raising=False)
    monkeypatch.setenv("PINPOINT_SYNC_STATE_URL", postgres_schema)
    monkeypatch.setenv("PINPOINT_SYNC_SECRETS_DIR", str(tmp_path))
    (tmp_path / "state-password").write_text(postgres_server.password + "\n")
    assert main(["store", "migrate", "--json"]) == 0
    capsys.readouterr()
    (tmp_path / "state-password").write_text("not-the-password\n")
    assert main(["store", "status"]) == 2
    err = capsys.readouterr().err
    assert "not-the-password" not in err
    assert "password authentication failed" in err
