"""The Pinpoint adapter: client, typed models, error tree and classification, rate limiter.

Imports aiohttp and the standard library only; never the simulator. Callers catch
:class:`PinpointError` subclasses, never aiohttp's exceptions.
"""

from worker.pinpoint.client import Operation, PinpointClient
from worker.pinpoint.errors import (
    AuthError,
    FailureClass,
    InvalidRequestError,
    NotFoundError,
    PinpointError,
    RateLimitedError,
    TransientError,
    classify,
)
from worker.pinpoint.models import (
    Comment,
    CreatedRecord,
    CustomField,
    PinpointCandidate,
    RecordKind,
    RecordRef,
    TenantCredentials,
)
from worker.pinpoint.observer import ClientObserver, NullObserver
from worker.pinpoint.ratelimit import RateLimitConfig, RateLimiter
from worker.pinpoint.retry import RetryPolicy

__all__ = [
    "AuthError",
    "ClientObserver",
    "Comment",
    "CreatedRecord",
    "CustomField",
    "FailureClass",
    "InvalidRequestError",
    "NotFoundError",
    "NullObserver",
    "Operation",
    "PinpointCandidate",
    "PinpointClient",
    "PinpointError",
    "RateLimitConfig",
    "RateLimitedError",
    "RateLimiter",
    "RecordKind",
    "RecordRef",
    "RetryPolicy",
    "TenantCredentials",
    "TransientError",
    "classify",
]
