"""Policy resolution: team settings, user overrides, the lock and admins."""

from __future__ import annotations

import pytest

from worker.core.enums import DestinationKind, NoteType, SyncStage, SyncTrigger
from worker.core.policy import INACTIVE_POLICY, resolve_policy
from worker.core.settings import TeamSettings, settings_from_dict

from .factories import make_settings

pytestmark = pytest.mark.unit

OVERRIDE = {"sync_upon": "interested", "create_notes_upon": ["sms"], "only_notes_on_synced": True}


def _settings(locked: bool) -> TeamSettings:
    return make_settings(
        sync={
            "sync_upon": "replied",
            "locked": locked,
            "admins": ["boss"],
            "user_overrides": {"boss": OVERRIDE, "worker": OVERRIDE},
        },
        general={"create_notes_upon": ["email", "replied"]},
    )


@pytest.mark.parametrize(
    ("locked", "user", "applied", "ignored"),
    [
        (False, "boss", True, False),
        (False, "worker", True, False),
        (False, "nobody", False, False),
        (False, None, False, False),
        (True, "boss", True, False),
        (True, "worker", False, True),
        (True, "nobody", False, False),
        (True, None, False, False),
    ],
)
def test_lock_admin_and_override(
    locked: bool, user: str | None, applied: bool, ignored: bool
) -> None:
    """Overrides apply unless the team is locked and the user is not an admin."""
    policy = resolve_policy(_settings(locked), user, "cmp-1")
    assert policy.override_applied is applied
    assert policy.override_ignored is ignored
    if applied:
        assert policy.sync_upon is SyncTrigger.INTERESTED
        assert policy.sync_stage is SyncStage.INTERESTED
        assert policy.create_notes_upon == frozenset({NoteType.SMS})
        assert policy.only_notes_on_synced is True
    else:
        assert policy.sync_upon is SyncTrigger.REPLIED
        assert policy.create_notes_upon == frozenset({NoteType.EMAIL, NoteType.REPLIED})
        assert policy.only_notes_on_synced is False


def test_partial_override_keeps_team_values() -> None:
    """An override of one setting leaves the others at the team's values."""
    settings = make_settings(
        sync={
            "sync_upon": "replied",
            "only_notes_on_synced": True,
            "user_overrides": {"u": {"sync_upon": "added"}},
        }
    )
    policy = resolve_policy(settings, "u")
    assert policy.sync_upon is SyncTrigger.ADDED
    assert policy.only_notes_on_synced is True


def test_no_settings_is_inactive() -> None:
    """A team without settings gets the inactive policy."""
    assert resolve_policy(None, "u", "c") is INACTIVE_POLICY
    assert INACTIVE_POLICY.active is False


def test_inactive_integration_is_inactive() -> None:
    """Settings with the integration off resolve to an inactive policy carrying its version."""
    settings = settings_from_dict({"team_id": "t", "version": 4})
    policy = resolve_policy(settings, "u")
    assert policy.active is False
    assert policy.policy_version == 4


def test_campaign_mapped_to_a_job_lands_as_application() -> None:
    """A campaign listed in destination.campaign_jobs sends candidates to that job."""
    settings = make_settings(destination={"campaign_jobs": {"cmp-9": "job-3"}})
    mapped = resolve_policy(settings, "u", "cmp-9")
    other = resolve_policy(settings, "u", "cmp-1")
    assert (mapped.destination, mapped.job_id) == (DestinationKind.APPLICATION, "job-3")
    assert (other.destination, other.job_id) == (DestinationKind.JOB_SEEKER, None)


def test_team_settings_carry_over() -> None:
    """Team-only settings (merge, manual updates, fields, credentials) reach the policy."""
    settings = make_settings(
        general={"do_not_merge": True, "sync_manual_updates": False},
        sync={"backfill_on_sync": True},
        fields={
            "displayed": ["custom:1"],
            "protected": ["phone"],
            "filterable": ["custom:1"],
            "mandatory": ["email", "email"],
        },
    )
    policy = resolve_policy(settings, "u")
    assert policy.do_not_merge
    assert not policy.sync_manual_updates
    assert policy.backfill_on_sync
    assert policy.mandatory == ("email",)
    assert policy.protected == frozenset({"phone"})
    assert (policy.subdomain, policy.api_key_ref, policy.policy_version) == ("acme", "acme-key", 1)


def test_resolution_is_cached_per_settings_object() -> None:
    """Resolving twice for the same user and campaign returns the same policy object."""
    settings = make_settings()
    assert resolve_policy(settings, "u", "c") is resolve_policy(settings, "u", "c")
    assert resolve_policy(settings, "u", "c") is not resolve_policy(settings, "v", "c")
    assert resolve_policy(make_settings(), "u", "c") == resolve_policy(settings, "u", "c")
