"""Backoff with full jitter, Retry-After parsing, models and masking."""

from __future__ import annotations

import random

import pytest

from worker.pinpoint.client import parse_retry_after
from worker.pinpoint.jsonapi import (
    custom_attributes_payload,
    custom_value_for,
    error_detail,
    mask_email,
    mask_personal,
)
from worker.pinpoint.models import PinpointCandidate, TenantCredentials
from worker.pinpoint.retry import RetryPolicy

pytestmark = pytest.mark.unit


def test_backoff_cap_grows_exponentially_to_max() -> None:
    """The jitter window doubles per attempt up to max_delay."""
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert [policy.backoff_cap(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_full_jitter_stays_within_window() -> None:
    """Delays are uniform between 0 and the cap, and not all equal."""
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(7)
    delays = [policy.backoff(3, rng) for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays) < 1.0 < 3.0 < max(delays)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay": -1}, {"deadline": 0}, {"max_delay": 0.1}]
)
def test_bad_policy_rejected(kwargs: dict[str, float]) -> None:
    """Nonsense retry policies are refused."""
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:10 GMT"}, 0.0),
        ({"X-RateLimit-Reset": "1000002.5"}, 1000002.5),
        ({"X-RateLimit-Reset": "2000000002.5"}, 2.5),
        ({"X-RateLimit-Reset": "1.5"}, 1.5),
        ({}, None),
        ({"Retry-After": "2", "X-RateLimit-Reset": "2000000009"}, 2.0),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After wins; X-RateLimit-Reset is a Unix time when large, else seconds."""
    got = parse_retry_after(headers, now=2_000_000_000.0)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_credentials_never_show_the_key() -> None:
    """repr and str of credentials hide the API key."""
    creds = TenantCredentials("acme", "s3cret-key")
    assert "s3cret" not in repr(creds)
    assert "s3cret" not in str(creds)
    assert "s3cret" not in f"{[creds]}"


def test_masking() -> None:
    """E-mail addresses and phone numbers are masked in free text."""
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    text = mask_personal("Email jane@example.com is taken; phone +44 20 7946 0958")
    assert "jane@" not in text
    assert "7946" not in text


def test_error_detail_of_assumed_body() -> None:
    """The first JSON:API error gives detail and pointer."""
    doc = {
        "errors": [
            {
                "status": "422",
                "detail": "Email can't be blank",
                "source": {"pointer": "/data/attributes/email"},
            }
        ]
    }
    assert error_detail(doc) == ("Email can't be blank", "/data/attributes/email")
    assert error_detail({"nope": 1}) == (None, None)
    assert error_detail(None) == (None, None)


@pytest.mark.parametrize(
    ("field_type", "text", "value"),
    [
        ("varchar", "CTO", "CTO"),
        ("integer", "42", 42),
        ("integer", "", None),
        ("boolean", "yes", True),
        ("boolean", "false", False),
        ("multi_select", "a, b", ["a", "b"]),
        ("date", "2024-01-31", "2024-01-31"),
    ],
)
def test_custom_value_conversion(field_type: str, text: str, value: object) -> None:
    """Text values are converted for the custom field's type."""
    assert custom_value_for(field_type, text) == value


def test_custom_attributes_payload_shape() -> None:
    """Creates use temp-ids, updates use ids, as in Pinpoint's documented side-posting."""
    rel, included = custom_attributes_payload(
        [("25", None, "varchar", "x"), ("26", "84", "integer", 3)]
    )
    assert rel == [
        {"type": "custom_attributes", "temp-id": "t1", "method": "create"},
        {"type": "custom_attributes", "id": "84", "method": "update"},
    ]
    assert included[0]["attributes"] == {"varchar_value": "x"}
    assert included[0]["relationships"]["custom_field"]["data"] == {
        "type": "custom_fields",
        "id": "25",
    }
    assert included[1]["id"] == "84"


def test_candidate_value_lookup() -> None:
    """A candidate answers the value of standard and custom: fields."""
    cand = PinpointCandidate("1", {"phone": "1"}, {"25": ("84", "CTO")})
    assert cand.value("phone") == "1"
    assert cand.value("custom:25") == "CTO"
    assert cand.value("custom:99") is None
    assert cand.value("email") is None
