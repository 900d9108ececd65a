"""A team whose integration is not active: `integration_active` and `inactive_decision`."""

from __future__ import annotations

from typing import Any

import pytest

from worker.core.decision import CandidateState, decide, inactive_decision
from worker.core.enums import DestinationKind, Outcome, Reason
from worker.core.policy import INACTIVE_POLICY, integration_active, resolve_policy
from worker.core.settings import TeamSettings, settings_from_dict

from .factories import ACTIVE, SHORT_TYPES, TEAM, make_event, make_settings

pytestmark = pytest.mark.unit

SYNCED = CandidateState(
    synced=True,
    pinpoint_candidate_id="p-1",
    record_kind=DestinationKind.JOB_SEEKER,
    record_id="js-1",
)
STATES = [CandidateState(), SYNCED]


def inactive_settings(version: int = 5, **groups: Any) -> TeamSettings:
    """Settings of a team whose integration is switched off, with generous other settings."""
    doc: dict[str, Any] = {
        "team_id": TEAM,
        "version": version,
        "integration": {**ACTIVE, "active": False},
        "general": {"create_notes_upon": ["email", "replied", "interested"],
                    "sync_manual_updates": True},
        "sync": {"sync_upon": "added"},
    }
    doc.update(groups)
    return settings_from_dict(doc)


def test_no_settings_is_not_active() -> None:
    """A team without settings has no active integration."""
    assert integration_active(None) is False


def test_settings_switched_off_are_not_active() -> None:
    """Settings with integration.active false are not active, whatever else they hold."""
    assert integration_active(inactive_settings()) is False
    assert integration_active(settings_from_dict({"team_id": TEAM, "version": 1})) is False


def test_settings_switched_on_are_active() -> None:
    """Settings with integration.active true are active."""
    assert integration_active(make_settings()) is True


@pytest.mark.parametrize("version", [None, 1, 42])
def test_inactive_decision_is_a_skip_without_actions(version: int | None) -> None:
    """The inactive decision skips with reason integration_inactive, no actions, no missing or
    filterable fields, and carries the policy version it is given."""
    decision = inactive_decision(version)
    assert decision.actions == ()
    assert (decision.outcome, decision.reason) == (Outcome.SKIPPED, Reason.INTEGRATION_INACTIVE)
    assert decision.policy_version == version
    assert decision.missing_fields == ()
    assert dict(decision.filterable) == {}
    assert decision.detail


@pytest.mark.parametrize("kind", sorted(SHORT_TYPES))
@pytest.mark.parametrize("state", STATES, ids=["unsynced", "synced"])
def test_decide_without_settings_is_the_inactive_decision(
    kind: str, state: CandidateState,
) -> None:
    """Without settings, decide() on any event and state returns exactly the inactive decision
    of no policy version."""
    policy = resolve_policy(None, "user-1", "cmp-1")
    assert policy is INACTIVE_POLICY
    assert decide(make_event(kind), policy, state) == inactive_decision(None)


@pytest.mark.parametrize("kind", sorted(SHORT_TYPES))
@pytest.mark.parametrize("state", STATES, ids=["unsynced", "synced"])
def test_decide_with_integration_off_is_the_inactive_decision(
    kind: str, state: CandidateState,
) -> None:
    """With the integration switched off, decide() on any event and state returns exactly
    the inactive decision of the settings' version."""
    settings = inactive_settings(version=9, fields={"filterable": ["first_name"]})
    policy = resolve_policy(settings, "user-1", "cmp-1")
    assert policy.active is False
    assert policy.policy_version == 9
    decision = decide(make_event(kind), policy, state)
    assert decision == inactive_decision(policy.policy_version)
    assert decision.policy_version == 9


def test_active_policy_is_not_the_inactive_decision() -> None:
    """An active team's event is decided on its merits, not skipped as inactive."""
    policy = resolve_policy(make_settings(), "user-1", "cmp-1")
    decision = decide(make_event("added"), policy, CandidateState())
    assert decision.reason is not Reason.INTEGRATION_INACTIVE
    assert decision.actions
