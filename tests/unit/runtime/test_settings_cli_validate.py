"""`pinpoint-sync settings validate` (and publish's checks before connecting)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from worker.tools.settings_cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main

pytestmark = pytest.mark.unit


def write(tmp_path: Path, name: str, body: object) -> str:
    """A settings file with ``body`` as JSON (or as given, for bytes)."""
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    return str(path)


GOOD = {"schema_version": 1, "team_id": "acme", "version": 4,
        "integration": {"active": True, "subdomain": "acme", "api_key_ref": "acme-key"}}


def test_valid_file_prints_ok(tmp_path: Path) -> None:
    """A valid document: OK with its team and version, exit 0."""
    out = io.StringIO()
    assert main(["validate", write(tmp_path, "a.json", GOOD)], out=out) == EXIT_OK
    assert out.getvalue().startswith("OK")
    assert "team acme, version 4" in out.getvalue()


def test_invalid_file_names_the_field(tmp_path: Path) -> None:
    """An invalid document: INVALID with the setting's path, exit 1, other files still checked."""
    bad = {**GOOD, "sync": {"sync_upon": "never"}}
    out = io.StringIO()
    status = main(["validate", write(tmp_path, "bad.json", bad),
                   write(tmp_path, "good.json", GOOD)], out=out)
    assert status == EXIT_INVALID
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("INVALID")
    assert "sync.sync_upon" in lines[0]
    assert lines[1].startswith("OK")


def test_contradiction_and_garbage_are_invalid(tmp_path: Path) -> None:
    """A contradiction, malformed JSON and a missing file are each reported as invalid."""
    contradiction = {**GOOD, "integration": {"active": True}}
    out = io.StringIO()
    status = main(["validate", write(tmp_path, "c.json", contradiction),
                   write(tmp_path, "g.json", b"{oops"), str(tmp_path / "absent.json")], out=out)
    assert status == EXIT_INVALID
    text = out.getvalue()
    assert "contradiction" in text
    assert "malformed_json" in text
    assert "cannot read" in text


def test_publish_refuses_invalid_before_connecting(tmp_path: Path) -> None:
    """publish with an invalid file publishes nothing and never needs a broker."""
    err = io.StringIO()
    status = main(["publish", write(tmp_path, "bad.json", b"[]"),
                   "--bootstrap-servers", "127.0.0.1:1"], out=io.StringIO(), err=err)
    assert status == EXIT_INVALID
    assert "nothing published" in err.getvalue()


def test_publish_needs_something_to_publish() -> None:
    """publish without files or --remove is a usage error."""
    assert main(["publish"], out=io.StringIO(), err=io.StringIO()) == EXIT_USAGE


def test_bad_flag_is_reported_as_config_error(tmp_path: Path) -> None:
    """A bootstrap address that is not host:port is refused by name before connecting."""
    err = io.StringIO()
    status = main(["publish", write(tmp_path, "a.json", GOOD), "--bootstrap-servers", "nohost"],
                  out=io.StringIO(), err=err)
    assert status == EXIT_USAGE
    assert "PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS" in err.getvalue()


def test_usage_error_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown action exits 2 with argparse's usage message."""
    assert main(["frobnicate"]) == EXIT_USAGE
    assert "usage: pinpoint-sync settings" in capsys.readouterr().err
