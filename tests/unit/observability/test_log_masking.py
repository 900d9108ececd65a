"""Masking of personal data and secrets, and the rendered log lines of configure_logging."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from worker.observability.logging import configure_logging, mask_pii
from worker.observability.masking import (
    REDACTED,
    is_secret_key,
    mask_event_dict,
    register_secret,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        ("reply from <Jane.Doe+cv@mail.example.co.uk>.", "reply from <J***@mail.example.co.uk>."),
        ("a@b.io and bob@corp.example", "a***@b.io and b***@corp.example"),
        ("GET /candidates?email=jane%40example.com", "GET /candidates?email=j***%40example.com"),
        ("call +44 7700 900123 now", "call ***23 now"),
        ("+447700900123", "***23"),
        ("(555) 123-4567", "***67"),
        ("555-123-4567", "***67"),
        ("555.123.4567", "***67"),
        ("020 7946 0958", "***58"),
        ("tel: +1-202-555-0143;", "tel: ***43;"),
        ("+33 1 23 45 67 89", "***89"),
        ("tel:+44(0)20 7946 0958", "tel:***58"),
        ("07700 900123", "***23"),
    ],
)
def test_mask_pii_masks(text: str, expected: str) -> None:
    """E-mail addresses keep their first letter and domain; phone numbers their last two digits."""
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-02T03:04:05.123456+00:00",
        "2025-01-02 03:04:05",
        "02/01/2025",
        "partition 3 offset 1234567890",
        "replaying offsets 1200-5000",
        "12:30:45",
        "key team-1:cand-42",
        "event 123e4567-e89b-12d3-a456-426614174000",
        "bootstrap 127.0.0.1:9092 and 10.20.30.40",
        "took 1234.5678 s",
        "version 3.11.7",
        "retry 1 2 3 4 5 6 7",
        "timestamp 1735787045",
        "no contact data here",
    ],
)
def test_mask_pii_keeps_what_is_not_personal(text: str) -> None:
    """Dates, offsets, ids, addresses, durations and versions are left alone."""
    assert mask_pii(text) == text


@given(
    st.from_regex(r"[a-z][a-z0-9._]{2,15}", fullmatch=True),
    st.from_regex(r"[a-z]{2,10}\.(com|org|io)", fullmatch=True),
    st.text(alphabet=" ,;:<>()[]", max_size=3),
)
def test_no_email_survives(local: str, domain: str, around: str) -> None:
    """Whatever the address, its local part never appears whole in the masked text."""
    masked = mask_pii(f"{around}{local}@{domain}{around}")
    assert f"{local}@" not in masked
    assert f"@{domain}" in masked


@given(st.from_regex(r"\+[1-9][0-9]{7,13}", fullmatch=True))
def test_no_international_number_survives(number: str) -> None:
    """An E.164 number is always masked down to its last two digits."""
    assert mask_pii(f"phone={number}") == f"phone=***{number[-2:]}"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("X-API-KEY", True),
        ("Authorization", True),
        ("password", True),
        ("sasl_plain_password", True),
        ("access_token", True),
        ("client_secret", True),
        ("api_key_ref", False),
        ("secrets_dir", False),
        ("team_id", False),
        ("event", False),
    ],
)
def test_secret_keys(key: str, secret: bool) -> None:
    """Keys naming a secret are recognised; keys pointing at one (refs, paths) are not."""
    assert is_secret_key(key) is secret


def test_processor_masks_nested_values_and_secret_keys() -> None:
    """Every string, nested in dicts and lists, is masked; secret keys lose their value."""
    event: dict[str, Any] = {
        "event": "push failed for jane@example.com",
        "team_id": "t1",
        "offset": 42,
        "api_key_ref": "acme-key",
        "headers": {"X-API-KEY": "k-123456", "Accept": "application/json"},
        "candidate": {"emails": ["jane@example.com"], "phones": ["+15551234567"], "n": 2},
        "password": "hunter22",
        "error": ValueError("duplicate email bob@example.com"),
    }
    masked = mask_event_dict(None, "info", event)
    assert masked == {
        "event": "push failed for j***@example.com",
        "team_id": "t1",
        "offset": 42,
        "api_key_ref": "acme-key",
        "headers": {"X-API-KEY": REDACTED, "Accept": "application/json"},
        "candidate": {"emails": ["j***@example.com"], "phones": ["***67"], "n": 2},
        "password": REDACTED,
        "error": "ValueError: duplicate email b***@example.com",
    }


def test_inline_secrets_are_masked() -> None:
    """A value after a secret-looking name inside text is masked, as is a registered secret."""
    register_secret("pp_live_0123456789")
    register_secret("abc")  # too short to register
    event: dict[str, Any] = {
        "event": "request headers X-API-KEY: sekrit99 Authorization: Bearer tok.en",
        "body": "key pp_live_0123456789 leaked; abc stays",
    }
    masked = mask_event_dict(None, "info", event)
    assert masked["event"] == f"request headers X-API-KEY: {REDACTED} Authorization: {REDACTED}"
    assert masked["body"] == f"key {REDACTED} leaked; abc stays"


def test_captured_events_mask_cleanly() -> None:
    """An event captured with capture_logs comes out of the processor without personal data."""
    log = structlog.get_logger("worker.test")
    with capture_logs() as logs:
        log.warning("blocked", candidate_email="jane@example.com", missing=["phone"])
    assert logs == [
        {
            "event": "blocked",
            "log_level": "warning",
            "candidate_email": "jane@example.com",
            "missing": ["phone"],
        }
    ]
    masked = mask_event_dict(None, "warning", dict(logs[0]))
    assert masked["candidate_email"] == "j***@example.com"


def _json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_output_is_masked_and_complete() -> None:
    """Rendered JSON lines carry timestamp, level, logger, event and bound fields, masked."""
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    log = structlog.get_logger("worker.runtime").bind(team_id="t1", offset=7)
    log.info("noted", email="jane@example.com", headers={"x-api-key": "sekrit-value"})
    log.debug("hidden")
    [line] = _json_lines(stream)
    assert line["event"] == "noted"
    assert line["level"] == "info"
    assert line["logger"] == "worker.runtime"
    assert line["team_id"] == "t1"
    assert line["offset"] == 7
    assert line["email"] == "j***@example.com"
    assert line["headers"] == {"x-api-key": REDACTED}
    assert line["timestamp"].endswith("Z")
    assert "sekrit" not in stream.getvalue()


def test_standard_library_logs_are_rendered_and_masked() -> None:
    """Lines from libraries using logging (aiohttp, kafka-python) get the same treatment."""
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    logging.getLogger("some.library").warning("rejected %s", "bob@example.com")
    logging.getLogger("kafka.conn").info("chatty")
    [line] = _json_lines(stream)
    assert line["event"] == "rejected b***@example.com"
    assert (line["level"], line["logger"]) == ("warning", "some.library")


def test_exceptions_are_masked_in_json() -> None:
    """A logged exception's traceback text is masked too."""
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log = structlog.get_logger("worker")
    try:
        raise ValueError("no record for jane@example.com")
    except ValueError:
        log.exception("failed")
    [line] = _json_lines(stream)
    assert "j***@example.com" in line["exception"]
    assert "jane@" not in stream.getvalue()


def test_console_output_is_readable_and_masked() -> None:
    """The console renderer writes aligned text, with personal data masked, tracebacks too."""
    stream = io.StringIO()
    configure_logging("console", "debug", stream=stream)
    log = structlog.get_logger("worker")
    log.debug("seen", phone="+44 7700 900123")
    try:
        raise RuntimeError("call +447700900123")
    except RuntimeError:
        log.exception("failed")
    out = stream.getvalue()
    assert "seen" in out
    assert "phone=***23" in out or "phone='***23'" in out
    assert "RuntimeError: call ***23" in out
    assert "7700" not in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_default_format_follows_the_terminal() -> None:
    """Without a format, a terminal gets console output and anything else JSON."""
    piped = io.StringIO()
    configure_logging(stream=piped)
    structlog.get_logger().info("hello")
    assert json.loads(piped.getvalue())["event"] == "hello"
    terminal = _Terminal()
    configure_logging(stream=terminal)
    structlog.get_logger().info("hello")
    assert not terminal.getvalue().startswith("{")
    assert "hello" in terminal.getvalue()


def test_reconfiguring_replaces_the_handler() -> None:
    """Calling configure_logging twice leaves one handler, writing to the latest stream."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", stream=first)
    configure_logging("json", stream=second)
    structlog.get_logger().info("once")
    assert first.getvalue() == ""
    assert len(_json_lines(second)) == 1


@pytest.mark.parametrize(("fmt", "level"), [("xml", "info"), ("json", "loud")])
def test_bad_format_or_level_is_refused(fmt: str, level: str) -> None:
    """An unknown format or level raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="choose one of"):
        configure_logging(fmt, level, stream=io.StringIO())
