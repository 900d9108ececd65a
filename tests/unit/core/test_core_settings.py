"""The team settings document: defaults, validation and contradictions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.core.enums import NoteType, SyncTrigger
from worker.core.errors import InvalidSettings, SettingsErrorReason
from worker.core.settings import (
    MAX_SETTINGS_BYTES,
    TeamSettings,
    parse_settings,
    settings_from_dict,
)

from .factories import ACTIVE

pytestmark = pytest.mark.unit


def test_defaults_match_the_documented_choices() -> None:
    """A minimal document gets the defaults documented in docs/policy.md."""
    s = parse_settings(b'{"team_id": "t1", "version": 1}')
    assert s.schema_version == 1
    assert s.integration.active is False
    assert s.general.do_not_merge is False
    assert s.general.create_notes_upon == tuple(NoteType)
    assert s.general.sync_manual_updates is True
    assert s.sync.sync_upon is SyncTrigger.ADDED
    assert s.sync.only_notes_on_synced is False
    assert s.sync.backfill_on_sync is False
    assert s.sync.locked is False
    assert s.fields.mandatory == ("first_name", "last_name", "email")
    assert s.fields.displayed == s.fields.protected == s.fields.filterable == ()
    assert s.string_mapping() == {
        "first_name": "first_name",
        "last_name": "last_name",
        "email": "email",
        "phone": "phone",
    }
    assert s.field_mapping.list_ == {}
    assert s.field_mapping.social == {}
    assert s.destination.campaign_jobs == {}


def test_full_document_parses() -> None:
    """A document using every setting parses, with aliases such as field_mapping.list."""
    doc = {
        "schema_version": 1,
        "team_id": "t1",
        "version": 9,
        "integration": ACTIVE,
        "general": {
            "do_not_merge": True,
            "create_notes_upon": ["email", "replied"],
            "sync_manual_updates": False,
        },
        "sync": {
            "sync_upon": "interested",
            "only_notes_on_synced": True,
            "backfill_on_sync": True,
            "locked": True,
            "admins": ["u1"],
            "user_overrides": {"u2": {"sync_upon": "replied"}},
        },
        "fields": {
            "displayed": ["custom:7"],
            "mandatory": ["email", "custom:7"],
            "protected": ["phone"],
            "filterable": ["custom:8"],
        },
        "field_mapping": {
            "string": {"first_name": "first_name", "last_name": "last_name", "email": "email",
                       "company": ["custom:8"]},
            "list": {"skills": ["custom:20", "custom:21"]},
            "social": {"github": "custom:30"},
        },
        "destination": {"campaign_jobs": {"cmp-1": "job-1"}},
        "future_setting": {"whatever": 1},
    }
    s = parse_settings(json.dumps(doc).encode())
    assert s.field_mapping.list_ == {"skills": ["custom:20", "custom:21"]}
    assert s.string_mapping() == {"first_name": "first_name", "last_name": "last_name",
                                  "email": "email", "company": "custom:8"}
    assert s.sync.user_overrides["u2"].sync_upon is SyncTrigger.REPLIED


def _doc(**groups: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"team_id": "t1", "version": 1}
    doc.update(groups)
    return doc


@pytest.mark.parametrize(
    ("doc", "reason", "mentions"),
    [
        (
            _doc(integration={"active": True}),
            SettingsErrorReason.CONTRADICTION,
            "integration.subdomain and integration.api_key_ref are not set",
        ),
        (
            _doc(integration={"active": True, "subdomain": "acme"}),
            SettingsErrorReason.CONTRADICTION,
            "integration.api_key_ref is not set",
        ),
        (
            _doc(
                field_mapping={
                    "string": {
                        "first_name": "first_name",
                        "last_name": "last_name",
                        "email": "email",
                        "company": ["custom:1", "custom:2"],
                    }
                }
            ),
            SettingsErrorReason.CONTRADICTION,
            "field_mapping.string.company maps a string variable",
        ),
        (
            _doc(
                field_mapping={
                    "string": {
                        "first_name": "first_name",
                        "last_name": "last_name",
                        "email": "email",
                        "company": "custom:1",
                    },
                    "social": {"github": "custom:1"},
                }
            ),
            SettingsErrorReason.CONTRADICTION,
            "custom:1 is filled by field_mapping.string.company and field_mapping.social.github",
        ),
        (
            _doc(fields={"mandatory": ["custom:9"], "protected": ["custom:9"]}),
            SettingsErrorReason.CONTRADICTION,
            "custom:9 is mandatory and protected",
        ),
        (
            _doc(fields={"mandatory": ["town"]}),
            SettingsErrorReason.CONTRADICTION,
            "town is mandatory",
        ),
        (
            _doc(fields={"filterable": ["custom:4"]}),
            SettingsErrorReason.CONTRADICTION,
            "fields.filterable: custom:4",
        ),
        (
            _doc(field_mapping={"list": {"skills": []}}),
            SettingsErrorReason.CONTRADICTION,
            "field_mapping.list.skills maps a list variable to no field",
        ),
        (
            _doc(sync={"sync_upon": "opened"}),
            SettingsErrorReason.INVALID_SETTINGS,
            "sync.sync_upon",
        ),
        (
            _doc(sync={"user_overrides": {"u1": {"sync_upon": "meeting"}}}),
            SettingsErrorReason.INVALID_SETTINGS,
            "sync.user_overrides.u1.sync_upon",
        ),
        (
            _doc(general={"create_notes_upon": ["email", "meeting"]}),
            SettingsErrorReason.INVALID_SETTINGS,
            "general.create_notes_upon[1]",
        ),
        (
            _doc(fields={"displayed": ["fist_name"]}),
            SettingsErrorReason.INVALID_SETTINGS,
            "have no attribute 'fist_name'",
        ),
        (
            _doc(integration={"active": "yes please"}),
            SettingsErrorReason.INVALID_SETTINGS,
            "integration.active",
        ),
        (
            _doc(integration={"subdomain": "Not A Subdomain"}),
            SettingsErrorReason.INVALID_SETTINGS,
            "integration.subdomain",
        ),
        (
            _doc(integration={"api_key_ref": "../etc/passwd"}),
            SettingsErrorReason.INVALID_SETTINGS,
            "integration.api_key_ref",
        ),
        (_doc(version=-1), SettingsErrorReason.INVALID_SETTINGS, "version"),
        (_doc(schema_version=2), SettingsErrorReason.INVALID_SETTINGS, "schema_version"),
        ({"version": 1}, SettingsErrorReason.INVALID_SETTINGS, "team_id"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    doc: dict[str, Any], reason: SettingsErrorReason, mentions: str
) -> None:
    """Each bad settings document is refused with its reason and a message naming the settings."""
    with pytest.raises(InvalidSettings) as caught:
        parse_settings(json.dumps(doc).encode())
    assert caught.value.reason is reason
    assert mentions in caught.value.detail


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xc3\x28", SettingsErrorReason.INVALID_UTF8),
        (b"{", SettingsErrorReason.MALFORMED_JSON),
        (b"[]", SettingsErrorReason.MALFORMED_JSON),
        (b"[" * 50 + b"]" * 50, SettingsErrorReason.MALFORMED_JSON),
        (b" " * (MAX_SETTINGS_BYTES + 1), SettingsErrorReason.TOO_LARGE),
    ],
)
def test_undecodable_settings_are_refused(raw: bytes, reason: SettingsErrorReason) -> None:
    """Settings bytes that are not a JSON object are refused with their reason."""
    with pytest.raises(InvalidSettings) as caught:
        parse_settings(raw)
    assert caught.value.reason is reason


def test_mandatory_field_fillable_by_tagging_is_accepted() -> None:
    """A mandatory field no mapping fills is fine when users can tag it (a displayed field)."""
    s = settings_from_dict(_doc(fields={"mandatory": ["custom:9"], "displayed": ["custom:9"]}))
    assert "custom:9" in s.fillable_fields()


def test_inactive_integration_needs_no_credentials() -> None:
    """An inactive integration may lack a subdomain and key reference."""
    assert settings_from_dict(_doc(integration={"active": False})).integration.subdomain is None


def test_settings_are_immutable() -> None:
    """A parsed settings document cannot be changed in place (policies are cached on it)."""
    s = settings_from_dict(_doc())
    with pytest.raises(ValueError, match="frozen"):
        s.version = 2  # type: ignore[misc]
    assert isinstance(s, TeamSettings)


_NAMES = {"first_name": "first_name", "last_name": "last_name", "email": "email"}


@pytest.mark.parametrize(
    ("doc", "mentions"),
    [
        (
            _doc(field_mapping={"string": _NAMES, "social": {"linkedin": "linkedin_url"}}),
            "field_mapping.social.linkedin: Pinpoint's job seekers have no attribute "
            "'linkedin_url'",
        ),
        (
            _doc(field_mapping={"string": {**_NAMES, "location": "city"}}),
            "field_mapping.string.location: Pinpoint's job seekers have no attribute 'city'",
        ),
        (
            _doc(fields={"protected": ["region"], "filterable": ["region"]}),
            "fields.protected and fields.filterable: Pinpoint's job seekers have no attribute "
            "'region'",
        ),
        (
            _doc(
                fields={"displayed": ["skip_notifications_on_create"]},
                destination={"campaign_jobs": {"c1": "j1"}},
            ),
            "job seekers or applications have no attribute 'skip_notifications_on_create'",
        ),
    ],
)
def test_fields_the_destination_resource_lacks_are_refused(
    doc: dict[str, Any], mentions: str
) -> None:
    """A field the destination resource does not have is refused, naming field and resource."""
    with pytest.raises(InvalidSettings) as caught:
        parse_settings(json.dumps(doc).encode())
    assert caught.value.reason is SettingsErrorReason.INVALID_SETTINGS
    assert mentions in caught.value.detail


def test_fields_of_a_used_destination_and_custom_fields_pass() -> None:
    """linkedin_url passes once some campaign lands as applications; custom fields always."""
    doc = _doc(
        field_mapping={
            "string": {**_NAMES, "location": "town"},
            "social": {"linkedin": "linkedin_url", "github": "custom:77"},
        },
        fields={"protected": ["state_province", "custom:78"], "displayed": ["custom:78"]},
        destination={"campaign_jobs": {"c1": "j1"}},
    )
    s = parse_settings(json.dumps(doc).encode())
    assert s.field_mapping.social == {"linkedin": "linkedin_url", "github": "custom:77"}


@pytest.mark.parametrize("missing", ["first_name", "last_name", "email"])
def test_a_person_field_pinpoint_requires_must_be_fillable(missing: str) -> None:
    """A document whose mappings can never fill a person field Pinpoint requires is refused."""
    string = {k: v for k, v in _NAMES.items() if k != missing}
    doc = _doc(field_mapping={"string": string}, fields={"mandatory": []})
    with pytest.raises(InvalidSettings) as caught:
        parse_settings(json.dumps(doc).encode())
    assert f"no field mapping fills {missing}" in caught.value.detail
    tagged = _doc(field_mapping={"string": string},
                  fields={"mandatory": [], "displayed": [missing]})
    assert parse_settings(json.dumps(tagged).encode()).fields.displayed == (missing,)
