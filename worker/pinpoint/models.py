"""Typed values the client takes and returns (decoded from Pinpoint's JSON:API documents)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from worker.core.pinpoint_reference import MODEL_OF_TYPE


@dataclass(frozen=True)
class TenantCredentials:
    """A team's Pinpoint account: its subdomain and API key. The key never shows in repr/str."""

    subdomain: str
    api_key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"TenantCredentials(subdomain={self.subdomain!r}, api_key='***')"

    def __str__(self) -> str:
        return self.__repr__()


class RecordKind(enum.StrEnum):
    """The two records a person can have in Pinpoint (both take comments)."""

    #: A talent-pipeline record (not tied to a job).
    JOB_SEEKERS = "job_seekers"
    #: An application to a job.
    APPLICATIONS = "applications"


#: ``filter[commentable_type]`` takes model names, not resource types (Pinpoint's comments
#: reference: the enum of the filter).
COMMENTABLE_TYPE: dict[RecordKind, str] = {kind: MODEL_OF_TYPE[kind.value] for kind in RecordKind}
RECORD_KIND_OF_COMMENTABLE: dict[str, RecordKind] = {v: k for k, v in COMMENTABLE_TYPE.items()}


@dataclass(frozen=True)
class RecordRef:
    """A job seeker or an application, by kind and id."""

    kind: RecordKind
    id: str


@dataclass(frozen=True)
class CreatedRecord:
    """A job seeker or application, and the candidate (person) it belongs to."""

    ref: RecordRef
    candidate_id: str


@dataclass
class PinpointCandidate:
    """A candidate (or one of its records) with its standard and custom attributes.

    ``job_seeker_ids`` is filled only when the read asked Pinpoint to include the job seekers
    (linkage is dependable only for included relationships)."""

    id: str
    attributes: dict[str, str | None]
    #: custom field id -> (custom attribute id, value as text or None)
    custom_attributes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    job_seeker_ids: list[str] = field(default_factory=list)

    def value(self, field_name: str) -> str | None:
        """The current value of a field named as in settings: standard or ``custom:<id>``."""
        if field_name.startswith(CUSTOM_PREFIX):
            held = self.custom_attributes.get(field_name[len(CUSTOM_PREFIX) :])
            return None if held is None else held[1]
        return self.attributes.get(field_name)


@dataclass(frozen=True)
class Comment:
    """A note on a job seeker or an application (``commentable`` None when Pinpoint's answer
    does not say what it is on, or it is on something else)."""

    id: str
    body_text: str
    commentable: RecordRef | None


@dataclass(frozen=True)
class CustomField:
    """A custom field definition of the tenant."""

    id: str
    name: str
    field_type: str
    resource_type: str


CUSTOM_PREFIX = "custom:"
