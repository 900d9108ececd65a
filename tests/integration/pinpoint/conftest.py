"""Fixtures: an in-process simulator on 127.0.0.1 (port 0) and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from worker.pinpoint import PinpointClient, RateLimitConfig, RetryPolicy, TenantCredentials
from worker.simulator import SimulatorServer

ACME_KEY = "acme-key-0123456789"
GLOBEX_KEY = "globex-key-9876543210"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, deadline=10.0)


def tenant_specs() -> list[dict[str, Any]]:
    """Two tenants with jobs and custom fields; rate limiting off unless a test sets it."""
    return [
        {
            "subdomain": "acme",
            "api_key": ACME_KEY,
            "rate_limit": None,
            "jobs": [{"id": "1", "title": "Engineer"}, {"id": "2", "title": "Designer"}],
            "custom_fields": [
                {"id": "25", "name": "Job title", "field_type": "varchar"},
                {"id": "26", "name": "Years", "field_type": "integer"},
                {"id": "27", "name": "Note", "field_type": "text"},
                {"id": "30", "name": "Stage", "field_type": "varchar", "resource_type": "job"},
            ],
        },
        {"subdomain": "globex", "api_key": GLOBEX_KEY, "rate_limit": None},
    ]


@dataclass
class RecordingObserver:
    """A ClientObserver that keeps every call."""

    requests: list[tuple[str, str, str, float]] = field(default_factory=list)
    retries: list[tuple[str, str, str]] = field(default_factory=list)
    waits: list[tuple[str, float]] = field(default_factory=list)

    def on_request(self, subdomain: str, operation: str, status_class: str, seconds: float) -> None:
        self.requests.append((subdomain, operation, status_class, seconds))

    def on_retry(self, subdomain: str, operation: str, reason: str) -> None:
        self.retries.append((subdomain, operation, reason))

    def on_rate_limit_wait(self, subdomain: str, seconds: float) -> None:
        self.waits.append((subdomain, seconds))


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorServer]:
    """A running simulator with the acme and globex tenants."""
    async with SimulatorServer(port=0, tenants=tenant_specs(), seed=1) as server:
        yield server


@pytest.fixture
def observer() -> RecordingObserver:
    """A fresh recording observer."""
    return RecordingObserver()


@pytest.fixture
async def client(
    sim: SimulatorServer, observer: RecordingObserver
) -> AsyncIterator[PinpointClient]:
    """A client with tiny retry delays, its limiter off (the tenants are unlimited)."""
    async with PinpointClient(
        sim.base_url_template,
        total_timeout=2.0,
        retry=FAST_RETRY,
        rate_limit=RateLimitConfig(enabled=False),
        observer=observer,
    ) as c:
        yield c


@pytest.fixture
def acme() -> TenantCredentials:
    """The acme tenant's credentials."""
    return TenantCredentials("acme", ACME_KEY)


@pytest.fixture
def globex() -> TenantCredentials:
    """The globex tenant's credentials."""
    return TenantCredentials("globex", GLOBEX_KEY)
