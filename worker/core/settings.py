"""The team settings document (`docs/policy.md`, `docs/contracts.md`) and `parse_settings`.

One document per team, published on the compacted `sourcewhale.team-settings` topic under the
team's id. Every setting of the product note is here, with the default an admin gets before
touching it (documented on each field and in `docs/policy.md`):

| setting | default | why |
| --- | --- | --- |
| `integration.active` | off | nothing syncs until the admin activates the integration |
| `general.do_not_merge` | off | merging with existing Pinpoint records avoids duplicates |
| `general.create_notes_upon` | every activity | notes are the point of the integration |
| `general.sync_manual_updates` | on | keep Pinpoint in step; protected fields guard what matters |
| `sync.sync_upon` | `added` | the product note's first option, "when adding to a campaign" |
| `sync.only_notes_on_synced` | off | the product note presents it as a toggle to turn on |
| `sync.backfill_on_sync` | off | beyond the product note; opt in |
| `sync.locked` / `admins` / `user_overrides` | off / none / none | |
| `fields.displayed` / `protected` / `filterable` | none | |
| `fields.mandatory` | `first_name`, `last_name`, `email` | what Pinpoint needs to create a person |
| `field_mapping.string` | first_name, last_name, email, phone → same-named fields | |
| `field_mapping.list` | none | |
| `field_mapping.social` | none | job seekers have no LinkedIn attribute: map it to a custom field |
| `destination.campaign_jobs` | none: candidates land as job seekers | |

Unknown keys are ignored (a newer settings service may add settings before the worker knows
them); types are strict (`"yes"` is not a boolean, `"5"` is not a version); unknown values of
known settings (a sync trigger, a note type, a Pinpoint field name the destination resource does
not have) and contradictions are rejected with `InvalidSettings` naming the setting and the
problem.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from worker.core._jsonguard import describe_errors, nesting_depth_exceeds
from worker.core.enums import NoteType, SyncTrigger
from worker.core.errors import InvalidSettings, SettingsErrorReason
from worker.core.events import Id, Key, TeamId
from worker.core.pinpoint_reference import PERSON_FIELDS_REQUIRED_ON_CREATE, destination_fields
from worker.core.strict import Boolean, Integer

MAX_SETTINGS_BYTES: Final = 262_144
"""Largest accepted settings document (256 KiB)."""
MAX_SETTINGS_NESTING: Final = 16
"""Deepest accepted nesting of a settings document (a valid one nests 4 levels)."""

_CUSTOM_FIELD = re.compile(r"custom:[A-Za-z0-9_-]{1,64}")
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _check_field_name(name: str) -> str:
    """The syntax of a field name; whether the destination resource has it is checked on the
    whole document (`pinpoint_field_problems`), which knows the destinations."""
    if _ATTRIBUTE.fullmatch(name) or _CUSTOM_FIELD.fullmatch(name):
        return name
    raise PydanticCustomError(
        "pinpoint_field",
        "unknown Pinpoint field '{name}': use an attribute of the destination resource "
        "(first_name, town, ...) or custom:<custom_field_id>",
        {"name": name[:80]},
    )


FieldName = Annotated[str, AfterValidator(_check_field_name)]
"""A Pinpoint field: a standard attribute (`first_name`, ...) or `custom:<custom_field_id>`."""
Subdomain = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"),
]
SecretRef = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
"""The name of a secret (a file in the secrets directory, or an environment variable suffix)."""

ALL_NOTE_TYPES: Final = tuple(NoteType)
DEFAULT_MANDATORY: Final = ("first_name", "last_name", "email")
DEFAULT_STRING_MAPPING: Final = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
}
DEFAULT_SOCIAL_MAPPING: Final[dict[str, str]] = {}
"""None: job seekers (the default destination) have no LinkedIn attribute; map it to a
candidate custom field (or to `linkedin_url`, which only applications have)."""

_MODEL = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class IntegrationSettings(BaseModel):
    """`integration`: whether the team's events sync, and to which Pinpoint account."""

    model_config = _MODEL

    active: Boolean = Field(default=False, description="off: the team's events are skipped")
    subdomain: Subdomain | None = Field(
        default=None,
        description="the team's Pinpoint subdomain (https://{subdomain}.pinpointhq.com)",
    )
    api_key_ref: SecretRef | None = Field(
        default=None, description="name of the secret holding the team's Pinpoint API key"
    )


class GeneralSettings(BaseModel):
    """`general`: merging, notes and manual updates."""

    model_config = _MODEL

    do_not_merge: Boolean = Field(
        default=False,
        description="on: a candidate's first push always creates a new Pinpoint record",
    )
    create_notes_upon: tuple[NoteType, ...] = Field(
        default=ALL_NOTE_TYPES, description="the activities that produce a note in Pinpoint"
    )
    sync_manual_updates: Boolean = Field(
        default=True,
        description="on: candidate.updated events update the synced candidate's Pinpoint record",
    )


class UserOverride(BaseModel):
    """One user's own choices, used for the events that user causes (unless the team is locked)."""

    model_config = _MODEL

    sync_upon: SyncTrigger | None = None
    create_notes_upon: tuple[NoteType, ...] | None = None
    only_notes_on_synced: Boolean | None = None


class SyncSettings(BaseModel):
    """`sync`: when candidates are pushed, notes before the push, and per-user overrides."""

    model_config = _MODEL

    sync_upon: SyncTrigger = Field(
        default=SyncTrigger.ADDED,
        description="push on being added, on any response, or once marked interested",
    )
    only_notes_on_synced: Boolean = Field(
        default=False,
        description="on: no notes before the candidate is in Pinpoint; off: a note pushes first",
    )
    backfill_on_sync: Boolean = Field(
        default=False,
        description="on: notes skipped before the push are kept and written, in order, on push",
    )
    locked: Boolean = Field(
        default=False, description="on: overrides of users who are not admins are ignored"
    )
    admins: tuple[Id, ...] = Field(default=(), description="user ids of the team's admins")
    user_overrides: dict[Id, UserOverride] = Field(
        default_factory=dict, description="user id → that user's overrides"
    )


class FieldSettings(BaseModel):
    """`fields`: which Pinpoint fields users may tag, must be filled, are protected, filterable."""

    model_config = _MODEL

    displayed: tuple[FieldName, ...] = Field(
        default=(), description="fields users may tag on a candidate (other tags are ignored)"
    )
    mandatory: tuple[FieldName, ...] = Field(
        default=DEFAULT_MANDATORY, description="fields that must have a value before a push"
    )
    protected: tuple[FieldName, ...] = Field(
        default=(), description="fields written on an existing record only where it is empty"
    )
    filterable: tuple[FieldName, ...] = Field(
        default=(), description="fields whose values go to the outcome record for search filters"
    )


def _default_string_mapping() -> dict[str, str | list[str]]:
    return dict(DEFAULT_STRING_MAPPING)


class FieldMappingSettings(BaseModel):
    """`field_mapping`: SourceWhale variables and social profiles → Pinpoint fields.

    When a group is present in the document it replaces that group's defaults entirely (the
    document holds the whole mapping, as the admin sees it).
    """

    model_config = _MODEL

    string: dict[Key, FieldName | list[FieldName]] = Field(
        default_factory=_default_string_mapping,
        description="string variable → exactly one Pinpoint field",
    )
    list_: dict[Key, list[FieldName]] = Field(
        default_factory=dict,
        alias="list",
        description="list variable → one or more Pinpoint fields (each gets the joined values)",
    )
    social: dict[Key, FieldName] = Field(
        default_factory=lambda: dict(DEFAULT_SOCIAL_MAPPING),
        description="social network (linkedin, twitter, github, ...) → field holding its URL",
    )


class DestinationSettings(BaseModel):
    """`destination`: where pushed candidates land."""

    model_config = _MODEL

    campaign_jobs: dict[Id, Id] = Field(
        default_factory=dict,
        description="campaign id → Pinpoint job id; other campaigns' candidates become job seekers",
    )


class TeamSettings(BaseModel):
    """A team's settings document (`docs/contracts.md`)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    schema_version: Annotated[int, Integer(ge=1, le=1)] = 1
    team_id: TeamId
    version: Annotated[
        int,
        Integer(ge=0, description="updates with a lower version than the held one are ignored"),
    ]
    integration: IntegrationSettings = IntegrationSettings()
    general: GeneralSettings = GeneralSettings()
    sync: SyncSettings = SyncSettings()
    fields: FieldSettings = FieldSettings()
    field_mapping: FieldMappingSettings = FieldMappingSettings()
    destination: DestinationSettings = DestinationSettings()

    @cached_property
    def policy_cache(self) -> dict[tuple[str | None, str | None], Any]:
        """Effective policies resolved from this (immutable) document; `resolve_policy`'s cache."""
        return {}

    @model_validator(mode="after")
    def _fields_exist_in_pinpoint(self) -> TeamSettings:
        problems = pinpoint_field_problems(self)
        if problems:
            raise PydanticCustomError("pinpoint_field", "{problems}",
                                      {"problems": "; ".join(problems)})
        return self

    @model_validator(mode="after")
    def _no_contradictions(self) -> TeamSettings:
        problems = contradictions(self)
        if problems:
            joined = "; ".join(problems)
            raise PydanticCustomError("contradiction", "{problems}", {"problems": joined})
        return self

    def string_mapping(self) -> dict[str, str]:
        """The string mapping with each variable's single field (validated to be exactly one)."""
        out: dict[str, str] = {}
        for variable, target in self.field_mapping.string.items():
            out[variable] = target if isinstance(target, str) else target[0]
        return out

    def fillable_fields(self) -> set[str]:
        """Every Pinpoint field some mapping or a user's tag can give a value."""
        fillable = set(self.string_mapping().values()) | set(self.field_mapping.social.values())
        for targets in self.field_mapping.list_.values():
            fillable.update(targets)
        fillable.update(self.fields.displayed)
        return fillable


def pinpoint_field_problems(settings: TeamSettings) -> list[str]:
    """Every field named by the document that no destination resource it uses has, and each
    field Pinpoint requires on a create that no mapping can fill.

    Candidates land as job seekers unless their campaign is in `destination.campaign_jobs`
    (then as applications): a standard field must be an attribute of one of those resources
    (the worker writes it only where the record has it). `custom:<id>` fields always pass."""
    kinds: tuple[str, ...] = ("job_seeker",)
    if settings.destination.campaign_jobs:
        kinds = ("job_seeker", "application")
    known = frozenset().union(*(destination_fields(kind) for kind in kinds))
    resources = " or ".join({"job_seeker": "job seekers", "application": "applications"}[k]
                            for k in kinds)
    named: dict[str, list[str]] = {}
    mapping = settings.field_mapping
    for variable, target in mapping.string.items():
        for field in [target] if isinstance(target, str) else target:
            named.setdefault(field, []).append(f"field_mapping.string.{variable}")
    for variable, targets in mapping.list_.items():
        for field in targets:
            named.setdefault(field, []).append(f"field_mapping.list.{variable}")
    for network, field in mapping.social.items():
        named.setdefault(field, []).append(f"field_mapping.social.{network}")
    for group in ("mandatory", "protected", "displayed", "filterable"):
        for field in getattr(settings.fields, group):
            named.setdefault(field, []).append(f"fields.{group}")
    problems = [
        f"{' and '.join(dict.fromkeys(where))}: Pinpoint's {resources} have no attribute "
        f"'{field}' (name an attribute of the destination resource or custom:<id>)"
        for field, where in named.items()
        if not field.startswith("custom:") and field not in known
    ]
    fillable = settings.fillable_fields()
    problems.extend(
        f"no field mapping fills {field} and users cannot tag it: Pinpoint requires it to "
        "create a person, so no candidate could ever be pushed"
        for field in sorted(PERSON_FIELDS_REQUIRED_ON_CREATE)
        if field not in fillable
    )
    return problems


def contradictions(settings: TeamSettings) -> list[str]:
    """Every contradiction in the settings, each naming the settings involved."""
    return [
        *_integration_problems(settings.integration),
        *_mapping_problems(settings.field_mapping),
        *_field_problems(settings),
    ]


def _integration_problems(integration: IntegrationSettings) -> list[str]:
    if not integration.active:
        return []
    missing = [n for n in ("subdomain", "api_key_ref") if not getattr(integration, n)]
    if not missing:
        return []
    verb = "is" if len(missing) == 1 else "are"
    names = " and ".join(f"integration.{n}" for n in missing)
    return [f"integration.active is on but {names} {verb} not set"]


def _mapping_problems(mapping: FieldMappingSettings) -> list[str]:
    problems: list[str] = []
    sources: dict[str, list[str]] = {}
    for variable, target in mapping.string.items():
        targets = [target] if isinstance(target, str) else target
        if len(targets) != 1:
            problems.append(
                f"field_mapping.string.{variable} maps a string variable to {len(targets)} fields "
                f"({', '.join(targets) or 'none'}); a string variable fills exactly one field "
                "(map it under field_mapping.list to fill several)"
            )
        for field in dict.fromkeys(targets):
            sources.setdefault(field, []).append(f"field_mapping.string.{variable}")
    for variable, targets in mapping.list_.items():
        if not targets:
            problems.append(f"field_mapping.list.{variable} maps a list variable to no field")
        for field in dict.fromkeys(targets):
            sources.setdefault(field, []).append(f"field_mapping.list.{variable}")
    for network, field in mapping.social.items():
        sources.setdefault(field, []).append(f"field_mapping.social.{network}")
    problems.extend(
        f"Pinpoint field {field} is filled by {' and '.join(fed_by)}; "
        "a field takes its value from one mapping"
        for field, fed_by in sources.items()
        if len(fed_by) > 1
    )
    return problems


def _field_problems(settings: TeamSettings) -> list[str]:
    fillable = settings.fillable_fields()
    protected = set(settings.fields.protected)
    problems = [
        f"fields.mandatory: {field} is mandatory"
        f"{' and protected' if field in protected else ''} but no field mapping fills it and "
        "it is not in fields.displayed (users cannot tag it), so no candidate could ever be pushed"
        for field in dict.fromkeys(settings.fields.mandatory)
        if field not in fillable
    ]
    problems.extend(
        f"fields.filterable: {field} is never filled by a field mapping or a tag, so it would "
        "never have a value to filter on"
        for field in dict.fromkeys(settings.fields.filterable)
        if field not in fillable
    )
    return problems


def parse_settings(raw: bytes) -> TeamSettings:
    """Parse a team settings document from a Kafka record value (or a file's bytes).

    Raises `InvalidSettings` whose `reason` says what failed (UTF-8, JSON, a field, a
    contradiction) and whose `detail` names the setting(s) and the problem.
    """
    if len(raw) > MAX_SETTINGS_BYTES:
        raise InvalidSettings(
            SettingsErrorReason.TOO_LARGE,
            f"settings document is {len(raw)} bytes, the limit is {MAX_SETTINGS_BYTES}",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSettings(
            SettingsErrorReason.INVALID_UTF8, f"not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    if nesting_depth_exceeds(raw, MAX_SETTINGS_NESTING):
        raise InvalidSettings(
            SettingsErrorReason.MALFORMED_JSON,
            f"JSON nests deeper than {MAX_SETTINGS_NESTING} levels",
        )
    try:
        return TeamSettings.model_validate_json(text)
    except ValidationError as exc:
        raise _translate(exc) from None


def settings_from_dict(obj: Any) -> TeamSettings:
    """Validate an already-decoded settings document; raises `InvalidSettings`."""
    try:
        return TeamSettings.model_validate(obj)
    except ValidationError as exc:
        raise _translate(exc) from None


def _translate(exc: ValidationError) -> InvalidSettings:
    errors, detail = describe_errors(exc, limit=10)
    kinds = {e["type"] for e in errors}
    if "json_invalid" in kinds:
        return InvalidSettings(SettingsErrorReason.MALFORMED_JSON, detail)
    if any(not e["loc"] and e["type"] == "model_type" for e in errors):
        return InvalidSettings(
            SettingsErrorReason.MALFORMED_JSON, "the settings document is not a JSON object"
        )
    if kinds == {"contradiction"}:
        return InvalidSettings(
            SettingsErrorReason.CONTRADICTION,
            "; ".join(str(e["msg"]) for e in errors),
        )
    return InvalidSettings(SettingsErrorReason.INVALID_SETTINGS, detail)
