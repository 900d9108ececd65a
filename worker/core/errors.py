"""Errors of the pure core: bad events and bad settings documents.

```
ValueError
├── InvalidEvent        a campaign event breaks the contract → dead-letter it (reason in .reason)
└── InvalidSettings     a team settings document is invalid → keep the previous settings, alert
```

Both carry a typed `reason` (an enum, usable as a metric label) and a `detail` naming the
field(s) and the problem, safe to log and to put in a dead letter's `dlq.error` header: it never
quotes field values, only field paths and constraint messages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from worker.core.enums import Reason


class EventErrorReason(StrEnum):
    """Why a campaign event was rejected."""

    INVALID_UTF8 = "invalid_utf8"
    """The record value is not UTF-8."""
    MALFORMED_JSON = "malformed_json"
    """The value is not well-formed JSON (or not a JSON object)."""
    TOO_LARGE = "too_large"
    """The value is larger than the event size limit."""
    TOO_DEEP = "too_deep"
    """The JSON nests deeper than the nesting limit."""
    FIELD_TOO_LONG = "field_too_long"
    """A field holds more characters (or items) than its limit."""
    UNKNOWN_TYPE = "unknown_type"
    """The `type` attribute names no known event type."""
    INVALID_EVENT = "invalid_event"
    """A required field is missing, or a field has the wrong type or value."""

    @property
    def dead_letter_reason(self) -> Reason:
        """The dead-letter reason code of this error: undecodable bytes or an invalid event."""
        if self in _UNDECODABLE:
            return Reason.UNDECODABLE
        return Reason.INVALID_EVENT


_UNDECODABLE = frozenset(
    {
        EventErrorReason.INVALID_UTF8,
        EventErrorReason.MALFORMED_JSON,
        EventErrorReason.TOO_LARGE,
        EventErrorReason.TOO_DEEP,
    }
)


class SettingsErrorReason(StrEnum):
    """Why a team settings document was rejected."""

    INVALID_UTF8 = "invalid_utf8"
    """The document is not UTF-8."""
    MALFORMED_JSON = "malformed_json"
    """The document is not well-formed JSON (or not a JSON object)."""
    TOO_LARGE = "too_large"
    """The document is larger than the settings size limit."""
    INVALID_SETTINGS = "invalid_settings"
    """A field is missing, of the wrong type, or has an unknown value (e.g. a sync trigger)."""
    CONTRADICTION = "contradiction"
    """Settings that cannot hold together (e.g. an active integration without an API key ref)."""


class InvalidEvent(ValueError):  # noqa: N818 - the name is the worker-wide interface
    """A campaign event that breaks the event contract (DESIGN 5.1). Next step: dead-letter."""

    dead_letter: ClassVar[bool] = True

    def __init__(self, reason: EventErrorReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class InvalidSettings(ValueError):  # noqa: N818 - the name is the worker-wide interface
    """A team settings document that is invalid (DESIGN 5.2). Next step: keep the held settings."""

    dead_letter: ClassVar[bool] = False

    def __init__(self, reason: SettingsErrorReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
