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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from worker.core.events import CandidateSnapshot

if TYPE_CHECKING:
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
    `variables.skills`, `tagged_fields.custom:12`), for `candidate.updated` filtering; only
    filled by `map_fields(..., with_sources=True)`."""
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


Getter = Callable[[CandidateSnapshot], str]


def _first(values: list[str]) -> str:
    return values[0].strip() if values else ""


_STANDARD_GETTERS: Final[dict[str, Getter]] = {
    "first_name": lambda c: c.first_name.strip(),
    "last_name": lambda c: c.last_name.strip(),
    "email": lambda c: _first(c.emails),
    "phone": lambda c: _first(c.phones),
    "job_title": lambda c: _text(c.job_title),
    "company": lambda c: _text(c.company),
    "location": lambda c: _text(c.location),
    "emails": lambda c: _text(c.emails),
    "phones": lambda c: _text(c.phones),
}


def _variable_getter(name: str) -> Getter:
    def get(candidate: CandidateSnapshot) -> str:
        return _text(candidate.variables.get(name))

    return get


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """A team's field mapping compiled once per policy: how each Pinpoint field is filled."""

    variables: tuple[tuple[Getter, tuple[str, ...], str], ...]
    """(value getter, Pinpoint fields it fills, source path), string mappings first."""
    social: tuple[tuple[str, str], ...]
    """(network, Pinpoint field)."""

    def restricted(self, fields: Iterable[str]) -> FieldPlan:
        """The part of this plan that fills `fields`, in the same order.

        Every value it maps for one of `fields` equals the full plan's (the same sources write
        it, in the same order); it skips the getters no field of interest needs. The decision
        uses it for the filterable fields, reported on every decision, even one that pushes
        nothing.
        """
        wanted = frozenset(fields)
        variables: list[tuple[Getter, tuple[str, ...], str]] = []
        for get, targets, source in self.variables:
            kept = tuple(f for f in targets if f in wanted)
            if kept:
                variables.append((get, kept, source))
        social = tuple((network, f) for network, f in self.social if f in wanted)
        return FieldPlan(tuple(variables), social)


def compile_plan(
    string_mapping: Mapping[str, str],
    list_mapping: Mapping[str, tuple[str, ...]],
    social_mapping: Mapping[str, str],
) -> FieldPlan:
    """Compile a policy's mappings into a `FieldPlan`."""
    entries: list[tuple[Getter, tuple[str, ...], str]] = []
    for name, targets in [
        *((n, (f,)) for n, f in string_mapping.items()),
        *list_mapping.items(),
    ]:
        if name in _STANDARD_GETTERS:
            entries.append((_STANDARD_GETTERS[name], targets, _SOURCE_OF_STANDARD.get(name, name)))
        else:
            entries.append((_variable_getter(name), targets, f"variables.{name}"))
    return FieldPlan(tuple(entries), tuple(social_mapping.items()))


EMPTY_PLAN: Final = FieldPlan((), ())


def map_fields(
    candidate: CandidateSnapshot, policy: EffectivePolicy, *, with_sources: bool = False
) -> MappedFields:
    """The Pinpoint field values of `candidate` under `policy`'s mapping and displayed fields.

    `with_sources` also records where each value came from (for `candidate.updated`).
    """
    return _map(candidate, policy.field_plan, policy.displayed, with_sources)


def map_filterable(candidate: CandidateSnapshot, policy: EffectivePolicy) -> MappedFields:
    """`map_fields` reduced to what the filterable fields and the ignored tags need.

    Its values for `policy.filterable` and its `ignored_tags` equal `map_fields`'s; other
    fields may be missing. Cheaper when the decision does not push (most events).
    """
    return _map(candidate, policy.filterable_plan, policy.displayed, False)


def _map(
    candidate: CandidateSnapshot, plan: FieldPlan, displayed: frozenset[str], with_sources: bool
) -> MappedFields:
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for get, targets, source in plan.variables:
        value = get(candidate)
        if value:
            for field in targets:
                values[field] = value
                if with_sources:
                    sources[field] = source
    social = candidate.social
    if social:
        for network, field in plan.social:
            url = social.get(network)
            if url is not None and (url := url.strip()):
                values[field] = url
                if with_sources:
                    sources[field] = f"social.{network}"
    ignored: tuple[str, ...] = ()
    if candidate.tagged_fields:
        ignored = _apply_tags(candidate.tagged_fields, displayed, values, sources)
        if not with_sources:
            sources.clear()
    return MappedFields(values, sources, ignored)


def _apply_tags(
    tagged_fields: Mapping[str, str],
    displayed: frozenset[str],
    values: dict[str, str],
    sources: dict[str, str],
) -> tuple[str, ...]:
    """Put the displayed fields' tagged values over `values`; return the ignored fields."""
    ignored: list[str] = []
    for field, tagged in tagged_fields.items():
        if field not in displayed:
            ignored.append(field)
        elif tagged := tagged.strip():
            values[field] = tagged
            sources[field] = f"tagged_fields.{field}"
    return tuple(ignored)
