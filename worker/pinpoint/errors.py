"""Errors of the Pinpoint adapter, and the one table that classifies every failure.

::

    PinpointError                 (.operation, .status, .detail; class-level .failure)
    ├── TransientError            TRANSIENT     5xx, 408, timeouts, connection errors; raised
    │                                           once the retry budget is spent (.attempts)
    ├── RateLimitedError          RATE_LIMITED  429 that could not be waited out within the
    │                                           deadline (.retry_after); never a failure
    ├── AuthError                 AUTH          401 bad/missing key, 403 integration disabled
    │                                           (.status tells which): pause the team
    └── InvalidRequestError       INVALID       400/404/405/409/422, other 4xx and 3xx; carries
        │                                       Pinpoint's error .detail and .pointer:
        │                                       dead-letter the event
        └── NotFoundError         INVALID       404 on an id, 422 on a relationship: a caller
                                                holding the id re-resolves it by external
                                                reference

Nothing above ``worker.pinpoint`` sees an aiohttp exception: the client translates them here.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class FailureClass(enum.Enum):
    """What the caller does about a failed Pinpoint request."""

    #: Retried in place with backoff; dead-letter once the retry budget is spent.
    TRANSIENT = "transient"
    #: Wait (Retry-After) and slow the tenant down; never counted as a failure.
    RATE_LIMITED = "rate_limited"
    #: Pause the team's processing and alert; keep its events.
    AUTH = "auth"
    #: The request itself is wrong; dead-letter with Pinpoint's detail. Never retried.
    INVALID = "invalid"


STATUS_CLASS: dict[int, FailureClass] = {
    400: FailureClass.INVALID,  # malformed query or body (unknown attribute, undeclared filter)
    401: FailureClass.AUTH,  # "X-API-KEY header not provided" / "Invalid API key"
    403: FailureClass.AUTH,  # "Integration not enabled", or a key without write permission
    404: FailureClass.INVALID,  # "Record not found" (NotFoundError: re-resolved by the caller)
    408: FailureClass.TRANSIENT,
    409: FailureClass.INVALID,
    422: FailureClass.INVALID,  # "Validation Error"
    429: FailureClass.RATE_LIMITED,  # "Rate limit exceeded"
}
"""Statuses Pinpoint's reference documents (and a few HTTP ones), each with its class; the
ranges below cover the rest."""


def classify(
    status: int | None, *, timeout: bool = False, connection_error: bool = False
) -> FailureClass:
    """The failure class of one request outcome (DESIGN 3). The only such table in the code.

    Raises ValueError for an outcome that is not a failure (a status below 300 without a
    timeout or connection error).
    """
    if timeout or connection_error:
        return FailureClass.TRANSIENT
    if status is None:
        raise ValueError("an outcome without a status must be a timeout or a connection error")
    known = STATUS_CLASS.get(status)
    if known is not None:
        return known
    if 500 <= status <= 599:
        return FailureClass.TRANSIENT
    if 300 <= status <= 499:  # redirects are not followed: a wrong base URL is not retried
        return FailureClass.INVALID
    raise ValueError(f"status {status} is not a failure")


class PinpointError(Exception):
    """A Pinpoint request that did not succeed."""

    failure: ClassVar[FailureClass]

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.status = status
        self.detail = detail


class TransientError(PinpointError):
    """Pinpoint failed transiently on every attempt the retry policy allowed."""

    failure = FailureClass.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        detail: str | None = None,
        attempts: int = 1,
        reason: str = "5xx",
    ) -> None:
        super().__init__(message, operation=operation, status=status, detail=detail)
        self.attempts = attempts
        self.reason = reason


class RateLimitedError(PinpointError):
    """Still rate limited when the operation's deadline came."""

    failure = FailureClass.RATE_LIMITED

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = 429,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, operation=operation, status=status, detail=detail)
        self.retry_after = retry_after


class AuthError(PinpointError):
    """401 (missing or bad API key) or 403 (integration not enabled)."""

    failure = FailureClass.AUTH


class InvalidRequestError(PinpointError):
    """Pinpoint refused the request as malformed, unknown or invalid."""

    failure = FailureClass.INVALID

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        detail: str | None = None,
        pointer: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, status=status, detail=detail)
        self.pointer = pointer


class NotFoundError(InvalidRequestError):
    """404 "Record not found", or a 422 pointing at a relationship: the record or candidate was
    deleted or merged away in Pinpoint (or a write named a related record that is gone).
    Invalid as a request; a caller holding the id looks the record up again by its external
    reference."""


ERROR_FOR_CLASS: dict[FailureClass, type[PinpointError]] = {
    FailureClass.TRANSIENT: TransientError,
    FailureClass.RATE_LIMITED: RateLimitedError,
    FailureClass.AUTH: AuthError,
    FailureClass.INVALID: InvalidRequestError,
}
