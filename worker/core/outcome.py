"""The outcome record (`docs/contracts.md`), published on `pinpoint-sync.outcomes` per event.

Key: the event's key. Beside the fields every consumer relies on, two optional ones help an
admin read a verdict: `detail` (a short explanation, never personal data) and
`missing_fields` (for `blocked_mandatory_fields`). `replay_id` is set on the outcome of an event
that came through a replay or a redrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from worker.core.decision import Decision
from worker.core.enums import ActionKind, ActionStatus, EventType, Outcome, Reason
from worker.core.events import CampaignEvent


class ActionRecord(BaseModel):
    """One Pinpoint effect of the event."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    pinpoint_id: str | None = Field(default=None, description="id of the record or comment")
    status: ActionStatus


class OutcomeRecord(BaseModel):
    """What became of one event."""

    model_config = ConfigDict(frozen=True)

    event_id: str | None = Field(description="None when the event could not be decoded")
    event_type: EventType | None = Field(description="None when the type is unknown")
    team_id: str | None
    candidate_id: str | None
    outcome: Outcome
    reason: Reason
    actions: list[ActionRecord] = []
    pinpoint_candidate_id: str | None = None
    filterable: dict[str, str] = Field(
        default_factory=dict, description="values of the team's filterable fields"
    )
    policy_version: int | None = None
    processed_at: AwareDatetime
    detail: str | None = None
    missing_fields: list[str] = []
    replay_id: str | None = Field(
        default=None, description="set when the event came through a replay or a redrive")

    def to_json(self) -> bytes:
        """The record as the JSON bytes published on the outcomes topic."""
        return self.model_dump_json().encode()

    @classmethod
    def for_decision(
        cls,
        event: CampaignEvent,
        decision: Decision,
        processed_at: datetime,
        actions: Iterable[ActionRecord] = (),
        pinpoint_candidate_id: str | None = None,
    ) -> OutcomeRecord:
        """The record of `event` decided as `decision`, with the effects the executor made."""
        return cls(
            event_id=event.id,
            event_type=event.type,
            team_id=event.data.team_id,
            candidate_id=event.data.candidate.id,
            outcome=decision.outcome,
            reason=decision.reason,
            actions=list(actions),
            pinpoint_candidate_id=pinpoint_candidate_id,
            filterable=dict(decision.filterable),
            policy_version=decision.policy_version,
            processed_at=processed_at,
            detail=decision.detail,
            missing_fields=list(decision.missing_fields),
        )


_ORJSON_OPTIONS: Final = orjson.OPT_UTC_Z


def outcome_without_actions_json(
    *,
    event_id: str,
    event_type: EventType,
    team_id: str,
    candidate_id: str,
    outcome: Outcome,
    reason: Reason,
    processed_at: datetime,
    policy_version: int | None = None,
    detail: str | None = None,
) -> bytes:
    """The JSON of an outcome record with no actions, filterable values or missing fields,
    byte for byte what ``OutcomeRecord(...).to_json()`` gives for the same values.

    Built from a plain dict, without the model: it is published for every event a team without
    an active integration sends, the hottest path of the worker. Field order is the model's.
    What orjson cannot encode (an integer past 64 bits) is built by the model instead.
    """
    try:
        return orjson.dumps(
            {
                "event_id": event_id,
                "event_type": event_type,
                "team_id": team_id,
                "candidate_id": candidate_id,
                "outcome": outcome,
                "reason": reason,
                "actions": [],
                "pinpoint_candidate_id": None,
                "filterable": {},
                "policy_version": policy_version,
                "processed_at": processed_at,
                "detail": detail,
                "missing_fields": [],
                "replay_id": None,
            },
            option=_ORJSON_OPTIONS,
        )
    except TypeError:  # orjson's limits: the model's JSON copes
        return OutcomeRecord(
            event_id=event_id, event_type=event_type, team_id=team_id,
            candidate_id=candidate_id, outcome=outcome, reason=reason,
            processed_at=processed_at, policy_version=policy_version, detail=detail,
        ).to_json()
