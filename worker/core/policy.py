"""Policy resolution: team settings + user overrides + lock + admins → the effective policy.

A user may override `sync_upon`, `create_notes_upon` and `only_notes_on_synced` for the events
they cause (the event's `data.user_id`). When the team's sync settings are `locked`, overrides of
users who are not in `sync.admins` are ignored and the team settings apply. Every other setting is
the team's. No settings, or an inactive integration, gives the inactive policy.

`resolve_policy` is on the hot path: results are cached per settings object, user and campaign
(the settings object is immutable; a new settings version is a new object with an empty cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeGuard

from worker.core.enums import DestinationKind, NoteType, SyncStage, SyncTrigger
from worker.core.fields import EMPTY_PLAN, FieldPlan, compile_plan
from worker.core.settings import TeamSettings

_CACHE_LIMIT: Final = 4_096
_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """Everything the decision function needs to know about the team's and user's settings."""

    active: bool
    """The integration is active (settings exist and `integration.active` is on)."""
    team_id: str | None = None
    subdomain: str | None = None
    api_key_ref: str | None = None
    policy_version: int | None = None
    """The settings document's `version` (None: no settings)."""
    sync_upon: SyncTrigger = SyncTrigger.ADDED
    sync_stage: SyncStage = SyncStage.ADDED
    """The rank of `sync_upon` on the stage ladder (an activity reaching it triggers a push)."""
    create_notes_upon: frozenset[NoteType] = frozenset()
    only_notes_on_synced: bool = False
    backfill_on_sync: bool = False
    do_not_merge: bool = False
    sync_manual_updates: bool = False
    displayed: frozenset[str] = frozenset()
    mandatory: tuple[str, ...] = ()
    """Mandatory fields, in the settings' order (missing ones are reported in this order)."""
    protected: frozenset[str] = frozenset()
    filterable: tuple[str, ...] = ()
    string_mapping: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """String variable → Pinpoint field."""
    list_mapping: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """List variable → Pinpoint fields."""
    social_mapping: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Social network → Pinpoint field."""
    destination: DestinationKind = DestinationKind.JOB_SEEKER
    job_id: str | None = None
    """The Pinpoint job of the campaign, when `destination` is `application`."""
    override_applied: bool = False
    """The user's own overrides were applied."""
    override_ignored: bool = False
    """The user has overrides, but the team is locked and the user is not an admin."""
    field_plan: FieldPlan = field(default=EMPTY_PLAN, compare=False, repr=False)
    """The mappings compiled for `worker.core.fields.map_fields`."""
    filterable_plan: FieldPlan = field(default=EMPTY_PLAN, compare=False, repr=False)
    """The part of `field_plan` that fills the filterable fields (`map_filterable`)."""


INACTIVE_POLICY: Final = EffectivePolicy(active=False)
"""The policy of a team without settings."""


def integration_active(settings: TeamSettings | None) -> TypeGuard[TeamSettings]:
    """Whether a team's events are synced at all: settings exist and the integration is on."""
    return settings is not None and settings.integration.active


def resolve_policy(
    settings: TeamSettings | None, user_id: str | None, campaign_id: str | None = None
) -> EffectivePolicy:
    """The effective policy for an event of `user_id` in `campaign_id` under `settings`."""
    if settings is None:
        return INACTIVE_POLICY
    cache = settings.policy_cache
    key = (user_id, campaign_id)
    policy: EffectivePolicy | None = cache.get(key)
    if policy is None:
        policy = _resolve(settings, user_id, campaign_id)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = policy
    return policy


def _resolve(
    settings: TeamSettings, user_id: str | None, campaign_id: str | None
) -> EffectivePolicy:
    sync = settings.sync
    sync_upon = sync.sync_upon
    notes: tuple[NoteType, ...] = settings.general.create_notes_upon
    only_notes_on_synced = sync.only_notes_on_synced
    override = sync.user_overrides.get(user_id) if user_id is not None else None
    applied = ignored = False
    if override is not None:
        if sync.locked and user_id not in sync.admins:
            ignored = True
        else:
            applied = True
            if override.sync_upon is not None:
                sync_upon = override.sync_upon
            if override.create_notes_upon is not None:
                notes = override.create_notes_upon
            if override.only_notes_on_synced is not None:
                only_notes_on_synced = override.only_notes_on_synced
    job_id = settings.destination.campaign_jobs.get(campaign_id) if campaign_id else None
    fields = settings.fields
    mapping = settings.field_mapping
    string_mapping = settings.string_mapping()
    list_mapping = {v: tuple(dict.fromkeys(t)) for v, t in mapping.list_.items()}
    social_mapping = dict(mapping.social)
    filterable = tuple(dict.fromkeys(fields.filterable))
    plan = compile_plan(string_mapping, list_mapping, social_mapping)
    return EffectivePolicy(
        active=integration_active(settings),
        team_id=settings.team_id,
        subdomain=settings.integration.subdomain,
        api_key_ref=settings.integration.api_key_ref,
        policy_version=settings.version,
        sync_upon=sync_upon,
        sync_stage=sync_upon.stage,
        create_notes_upon=frozenset(notes),
        only_notes_on_synced=only_notes_on_synced,
        backfill_on_sync=sync.backfill_on_sync,
        do_not_merge=settings.general.do_not_merge,
        sync_manual_updates=settings.general.sync_manual_updates,
        displayed=frozenset(fields.displayed),
        mandatory=tuple(dict.fromkeys(fields.mandatory)),
        protected=frozenset(fields.protected),
        filterable=filterable,
        string_mapping=MappingProxyType(string_mapping),
        list_mapping=MappingProxyType(list_mapping),
        social_mapping=MappingProxyType(social_mapping),
        destination=DestinationKind.APPLICATION if job_id else DestinationKind.JOB_SEEKER,
        job_id=job_id,
        override_applied=applied,
        override_ignored=ignored,
        field_plan=plan,
        filterable_plan=plan.restricted(filterable),
    )
