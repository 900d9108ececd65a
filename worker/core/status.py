"""The team status record, published on the compacted `pinpoint-sync.team-status` topic.

Key: `team_id`; one record per team, republished when the team's status changes. It is what
SourceWhale's integrations page shows (the green "connected" box) and what an SRE reads to see
which team is paused and why, so it carries no API key, no e-mail address and no candidate data:
`detail` is a short explanation written by the worker (an HTTP status, a count, a deadline),
never text copied from an event or from Pinpoint's answers about a person. The contract is in
`docs/contracts.md`; its JSON Schema is `schemas/team-status-record.schema.json`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from worker.core.events import TeamId
from worker.core.strict import Integer, Rfc3339Time

MAX_STATUS_DETAIL = 500
"""Longest `detail` (characters): a sentence, not a log."""


class TeamStatus(StrEnum):
    """Whether a team's events reach Pinpoint now, and if not, why."""

    INACTIVE = "inactive"
    """The team has no settings, or its integration is off: its events are skipped."""
    CONNECTED = "connected"
    """The team's key works and its events are applied as they come."""
    CREDENTIALS_REFUSED = "credentials_refused"
    """Pinpoint refused the team's key (401/403): the team is paused, its events kept."""
    FAILING = "failing"
    """Pinpoint keeps failing for the team (5xx, timeouts past the circuit breaker)."""
    UNREACHABLE = "unreachable"
    """Pinpoint cannot be reached for the team (DNS, connection refused, TLS)."""
    BACKLOGGED = "backlogged"
    """The team's events are held behind its rate limit (a backlog far beyond it)."""


class TeamStatusRecord(BaseModel):
    """One team's status as published on the team-status topic."""

    model_config = ConfigDict(frozen=True, extra="ignore", title="TeamStatusRecord")

    team_id: TeamId
    status: TeamStatus
    since: Rfc3339Time = Field(description="when the team entered this status")
    last_success_at: Rfc3339Time | None = Field(
        default=None, description="the last time a call to Pinpoint for this team succeeded"
    )
    detail: Annotated[str, StringConstraints(max_length=MAX_STATUS_DETAIL)] | None = Field(
        default=None, description="why, in a short sentence (never a key or personal data)"
    )
    held_events: Annotated[
        int, Integer(ge=0, description="events of the team kept durably until it recovers")
    ]
    policy_version: (
        Annotated[int, Integer(ge=0, description="the settings version in force")] | None
    ) = Field(description="the version of the team's settings in force (null: no settings)")
    updated_at: Rfc3339Time = Field(description="when this record was published")

    def to_json(self) -> bytes:
        """The record as the JSON bytes published on the team-status topic."""
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes) -> TeamStatusRecord:
        """A record read back from the topic (raises pydantic's `ValidationError`)."""
        return cls.model_validate_json(raw)

    @property
    def paused(self) -> bool:
        """Whether the team's events are held rather than applied."""
        return self.status in _PAUSED


_PAUSED = frozenset({TeamStatus.CREDENTIALS_REFUSED, TeamStatus.FAILING, TeamStatus.UNREACHABLE,
                     TeamStatus.BACKLOGGED})
