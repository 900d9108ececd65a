"""Pinpoint's API reference (OpenAPI v1.0.27) as data: what each resource reads, writes,
filters, sorts and includes. The one place the worker's rules about Pinpoint's fields come from
(the client's requests, settings validation).

Pure data: no I/O. Facts, each from the reference's schema named beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

REFERENCE_VERSION: Final = "1.0.27"
"""`info.version` of the reference these facts come from."""

PAGE_SIZE_MAX: Final = 1000
"""`page_size_filters`: `page[size]` maximum (over it the request is refused, not capped)."""

PERSON_FIELDS_REQUIRED_ON_CREATE: Final = ("first_name", "last_name", "email")
"""What Pinpoint requires to create a person (post-applications; the same is assumed for job
seekers, whose required attributes are undocumented)."""

_TIME_FILTERS: Final = (
    "created_at][gt", "created_at][lt", "updated_at][gt", "updated_at][lt",
)
_SORTS: Final = frozenset({"id", "created_at", "updated_at"})

_ADDRESS: Final = ("address1", "address2", "town", "state_province", "postcode", "country")
_PERSON_COMMON: Final = (
    "first_name", "last_name", "preferred_name", "email", "phone", "phone_iso2", *_ADDRESS,
    "date_of_birth", "locale", "external_system_reference",
)
_TAG_COMMANDS: Final = ("add_tag_with_context", "add_tags_with_context", "remove_tag_with_context")


@dataclass(frozen=True)
class ResourceFacts:
    """One resource type's operations as the reference documents them."""

    readable: frozenset[str]
    """Attributes a read returns."""
    writable: dict[str, frozenset[str]]
    """Attributes each write operation takes: `create` (POST) and `update` (PUT); an operation
    the resource does not have is absent."""
    required_on_create: frozenset[str] = frozenset()
    filters: frozenset[str] = frozenset()
    """`filter[...]` names the list operation declares (`created_at][gt` for ranges)."""
    sorts: frozenset[str] = _SORTS
    includes: frozenset[str] = frozenset()
    """Relationships `include=` may name (first segment of a path)."""
    relationships: frozenset[str] = field(default_factory=frozenset)
    """Relationships a write may carry."""


def _filters(*names: str) -> frozenset[str]:
    return frozenset((*names, *_TIME_FILTERS))


_CANDIDATE_PUT: Final = frozenset(
    (*_PERSON_COMMON, "middle_name", "blocked", "documents_base64")
)
_JOB_SEEKER_WRITE: Final = frozenset((
    *_PERSON_COMMON, "summary", "channel", "channel_source", "pipeline_source",
    "cv_base64_data", "cv_base64_filename", *_TAG_COMMANDS,
))
_APPLICATION_POST: Final = frozenset((
    *_PERSON_COMMON, "linkedin_url", "summary", "preferred_pronouns", "channel",
    "channel_source", "skip_notifications_on_create", "cv_base64_data", "cv_base64_filename",
    "equality_monitoring_option_ids", *_TAG_COMMANDS,
))
_WRITE_ONLY: Final = frozenset((
    "documents_base64", "cv_base64_data", "cv_base64_filename", "skip_notifications_on_create",
    "equality_monitoring_option_ids", *_TAG_COMMANDS,
))

RESOURCES: Final[dict[str, ResourceFacts]] = {
    "candidates": ResourceFacts(  # candidates_attributes_put; no POST, no DELETE
        readable=(_CANDIDATE_PUT - _WRITE_ONLY) | {"full_name", "created_at", "updated_at"},
        writable={"update": _CANDIDATE_PUT},
        filters=_filters("external_system_reference", "phone", "blocked"),
        includes=frozenset({"applications", "job_seekers", "custom_attributes", "skills",
                            "hris_references"}),
        relationships=frozenset({"custom_attributes", "skills"}),
    ),
    "job_seekers": ResourceFacts(  # job_seekers_attributes_post / _put
        readable=(_JOB_SEEKER_WRITE - _WRITE_ONLY)
        | {"candidate_id", "full_name", "created_at", "updated_at"},
        writable={"create": _JOB_SEEKER_WRITE, "update": _JOB_SEEKER_WRITE},
        required_on_create=frozenset(),
        filters=_filters("candidate_id", "external_system_reference", "search"),
        includes=frozenset({"candidate", "comments", "custom_attributes", "answers"}),
        relationships=frozenset({"candidate", "custom_attributes", "comments", "answers",
                                 "structured_section_responses"}),
    ),
    "applications": ResourceFacts(  # applications_attributes_post / _put
        readable=(_APPLICATION_POST - _WRITE_ONLY)
        | {"candidate_id", "job_id", "stage_id", "uuid", "full_name", "created_at",
           "updated_at"},
        writable={
            "create": _APPLICATION_POST,
            "update": _APPLICATION_POST - {"summary", "equality_monitoring_option_ids",
                                           "skip_notifications_on_create"},
        },
        required_on_create=frozenset(PERSON_FIELDS_REQUIRED_ON_CREATE),
        filters=_filters(
            "candidate_email", "candidate_phone", "candidate_id", "job_id",
            "external_system_reference", "stage_id", "stage_basic_type", "uuid", "locale",
            "job_posting_id", "internal_candidate", "job_visibility", "concealed",
        ),
        includes=frozenset({"candidate", "job", "stage", "custom_attributes", "comments",
                            "answers"}),
        relationships=frozenset({"job", "candidate", "stage", "job_posting",
                                 "custom_attributes", "comments", "answers",
                                 "structured_section_responses"}),
    ),
    "comments": ResourceFacts(  # comments_attributes_post; no PUT
        readable=frozenset({"body_text", "commentable_id", "commentable_type", "user_id",
                            "private_comment", "created_at", "updated_at"}),
        writable={"create": frozenset({"body_text", "category"})},
        required_on_create=frozenset({"body_text"}),
        filters=_filters("commentable_id", "commentable_type"),
        includes=frozenset({"user", "commentable"}),
        relationships=frozenset({"commentable"}),
    ),
    "custom_fields": ResourceFacts(
        readable=frozenset({"name", "field_type", "resource_type", "options", "required",
                            "unique_reference"}),
        writable={},
        filters=frozenset({"resource_type", "template_custom_field_id"}),
        sorts=frozenset({"id"}),
        includes=frozenset({"custom_field_options"}),
    ),
    "custom_attributes": ResourceFacts(
        readable=frozenset({"value", "field_name", "option_value", "option_label",
                            "created_at", "updated_at"}),
        writable={},
        filters=_filters("custom_attributable_id", "custom_attributable_type"),
        includes=frozenset({"custom_field", "custom_attributable"}),
    ),
    "jobs": ResourceFacts(
        readable=frozenset({"title", "status", "external_system_reference"}),
        writable={},
        filters=_filters("status", "external_system_reference", "search"),
        sorts=_SORTS | {"opened_at"},
    ),
}

_DESTINATION_RESOURCE: Final = {"job_seeker": "job_seekers", "application": "applications"}
_NOT_A_FIELD: Final = frozenset({"external_system_reference"}) | _WRITE_ONLY


def destination_fields(kind: Literal["job_seeker", "application"]) -> frozenset[str]:
    """The attributes a team may map to, for candidates landing as ``kind``: what the
    resource's create writes and a read returns (the worker's own bookkeeping, files and
    commands excluded)."""
    facts = RESOURCES[_DESTINATION_RESOURCE[kind]]
    return facts.writable["create"] - _NOT_A_FIELD
