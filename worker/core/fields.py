"""Field mapping: a candidate snapshot + the policy → Pinpoint field values.

How a Pinpoint field gets its value (later steps win over earlier ones):

1. `field_mapping.string`: a string variable fills exactly one field. Variables are the
   candidate's standard attributes (`first_name`, `last_name`, `email` = first e-mail,
   `phone` = first phone, `job_title`, `company`, `location`, and the lists `emails`, `phones`)
   and the names in `candidate.variables`; a standard attribute shadows a variable of the same
   name. A list value mapped as a string is joined with `LIST_SEPARATOR`.
2. `field_mapping.list`: a list variable fills each of its fields with its values joined with
   `LIST_SEPARATOR` (a plain string value is taken as is).
3. `field_mapping.social`: a social network's URL from `candidate.social` fills its field.
4. `candidate.tagged_fields`: a value a user tagged for a field in `fields.displayed` overrides
   the mapped value; tags for other fields are ignored (and reported).

Values are stripped of surrounding whitespace; an empty value counts as no value (it never
blanks a field in Pinpoint and does not satisfy a mandatory field).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from worker.core.events import CandidateSnapshot
from worker.core.policy import EffectivePolicy

LIST_SEPARATOR: Final = ", "
"""How the values of a list variable are joined into one field value."""

STANDARD_VARIABLES: Final = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "company",
    "location",
    "emails",
    "phones",
)
"""The candidate's own attributes, usable as variables in `field_mapping`."""

_SOURCE_OF_STANDARD: Final = {"email": "emails", "phone": "phones"}
_CHANGED_ALIASES: Final = {"email": "emails", "phone": "phones"}


@dataclass(frozen=True, slots=True)
class MappedFields:
    """The Pinpoint field values of a candidate, where each came from, and ignored tags."""

    values: dict[str, str]
    """Pinpoint field → non-empty value."""
    sources: dict[str, str]
    """Pinpoint field → its source in the snapshot (`first_name`, `emails`, `social.linkedin`,
    `variables.skills`, `tagged_fields.custom:12`), for `candidate.updated` filtering."""
    ignored_tags: tuple[str, ...]
    """Tagged fields dropped because they are not in `fields.displayed`."""

    def missing(self, mandatory: Iterable[str]) -> tuple[str, ...]:
        """The mandatory fields without a value, in the given order."""
        return tuple(f for f in mandatory if f not in self.values)

    def only_changed(self, changed_fields: Iterable[str]) -> dict[str, str]:
        """The values whose source is among `changed_fields` (a name or a name prefix).

        `changed_fields` names candidate fields: `first_name`, `emails` (or `email`), `social`
        or `social.github`, `variables` or `variables.skills`, `tagged_fields`, ...
        """
        prefixes = []
        for changed in changed_fields:
            name = changed.removeprefix("candidate.")
            prefixes.append(_CHANGED_ALIASES.get(name, name))
        out: dict[str, str] = {}
        for field, source in self.sources.items():
            for prefix in prefixes:
                if source == prefix or source.startswith(prefix + "."):
                    out[field] = self.values[field]
                    break
        return out


def _text(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return LIST_SEPARATOR.join(v for v in (item.strip() for item in value) if v)


def _variable(candidate: CandidateSnapshot, name: str) -> tuple[str, str]:
    """The value of variable `name` and its source path."""
    if name in STANDARD_VARIABLES:
        source = _SOURCE_OF_STANDARD.get(name, name)
        if name == "email":
            return (candidate.emails[0].strip() if candidate.emails else ""), source
        if name == "phone":
            return (candidate.phones[0].strip() if candidate.phones else ""), source
        value: str | list[str] | None = getattr(candidate, name)
        return _text(value), source
    return _text(candidate.variables.get(name)), f"variables.{name}"


def map_fields(candidate: CandidateSnapshot, policy: EffectivePolicy) -> MappedFields:
    """The Pinpoint field values of `candidate` under `policy`'s mapping and displayed fields."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, field in policy.string_mapping.items():
        value, source = _variable(candidate, name)
        if value:
            values[field] = value
            sources[field] = source
    for name, fields in policy.list_mapping.items():
        value, source = _variable(candidate, name)
        if value:
            for field in fields:
                values[field] = value
                sources[field] = source
    social = candidate.social
    if social:
        for network, field in policy.social_mapping.items():
            url = social.get(network)
            if url is not None and (url := url.strip()):
                values[field] = url
                sources[field] = f"social.{network}"
    ignored: list[str] = []
    if candidate.tagged_fields:
        displayed = policy.displayed
        for field, tagged in candidate.tagged_fields.items():
            if field not in displayed:
                ignored.append(field)
                continue
            if tagged := tagged.strip():
                values[field] = tagged
                sources[field] = f"tagged_fields.{field}"
    return MappedFields(values, sources, tuple(ignored))
