"""Hooks through which the client reports requests, retries and rate-limit waits (metrics)."""

from __future__ import annotations

from typing import Protocol


class ClientObserver(Protocol):
    """Implemented by the metrics adapter; every method must be cheap and never raise."""

    def on_request(self, subdomain: str, operation: str, status_class: str, seconds: float) -> None:
        """One HTTP exchange ended: status_class is 2xx/3xx/4xx/5xx/timeout/connection_error."""

    def on_retry(self, subdomain: str, operation: str, reason: str) -> None:
        """The client will send the request again (reason: 5xx, timeout, connection_error,
        rate_limited)."""

    def on_rate_limit_wait(self, subdomain: str, seconds: float) -> None:
        """The client waited this long for the tenant's rate limit before sending."""


class NullObserver:
    """Observes nothing."""

    def on_request(self, subdomain: str, operation: str, status_class: str, seconds: float) -> None:
        """Ignore."""

    def on_retry(self, subdomain: str, operation: str, reason: str) -> None:
        """Ignore."""

    def on_rate_limit_wait(self, subdomain: str, seconds: float) -> None:
        """Ignore."""
