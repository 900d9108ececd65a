"""What Pinpoint's published API reference (OpenAPI v1.0.27) says about the resources we touch.

Pure data and small pure functions, standard library only, so that the policy core, the HTTP
client, the simulator and the contract gate of the tests all read the *same* facts: when the
reference changes, it changes here, and the simulator and the gate move together.

Sources, per resource: the `*_attributes_post` / `*_attributes_put` request schemas (what each
operation writes; every one has `additionalProperties: false`), the readable attribute schemas and
`*_single` examples (what a read returns, and which relationships exist), the
`*_sortable_attributes_list` enums, the `filter[...]` parameters of each list operation, and the
`include` lists. Anything the reference does not state is *not* here: such choices belong to the
simulator's assumptions, never to these facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

REFERENCE_VERSION = "1.0.27"

PAGE_SIZE_MAX = 1000
PAGE_SIZE_DEFAULT = 100

PERSON_FIELDS_REQUIRED_ON_CREATE = frozenset({"first_name", "last_name", "email"})

OPERATIONS = frozenset({"list", "show", "create", "update", "destroy"})
TIME_OPERATORS = frozenset({"gt", "lt"})
EQ = frozenset({"eq"})
SIDEPOST_ALL = frozenset({"create", "update", "destroy"})
SIDEPOST_CREATE = frozenset({"create"})
BOOLEAN_VALUES = frozenset({"true", "false"})

#: `filter[commentable_type]` values: model names, not JSON:API types (comments list schema).
COMMENTABLE_TYPE_VALUES = frozenset(
    {
        "Application",
        "Candidate",
        "JobSeeker",
        "Task",
        "Job",
        "ReferenceCheckSubmission",
        "PinpointCheckOrder",
    }
)
CUSTOM_ATTRIBUTABLE_TYPE_VALUES = frozenset(
    {"Application", "Candidate", "Job", "JobSeeker", "JobTemplate", "Offer", "Position"}
)
CUSTOM_FIELD_RESOURCE_TYPES = frozenset(
    {"job", "application", "job_seeker", "offer", "position", "candidate"}
)

#: writeOnly value attributes of a custom attribute, one per custom field type
#: (`custom_attributes_attributes_post`); a read returns `value` / `option_*` instead.
CUSTOM_ATTRIBUTE_VALUE_ATTRIBUTES = frozenset(
    {
        "varchar_value",
        "text_value",
        "integer_value",
        "decimal_value",
        "date_value",
        "boolean_value",
        "single_select_value",
        "multi_select_value",
        "users_value",
    }
)

#: Tag commands (job seekers and applications, POST and PUT); writeOnly.
TAG_COMMANDS = frozenset(
    {"add_tag_with_context", "add_tags_with_context", "remove_tag_with_context"}
)


@dataclass(frozen=True)
class RelationshipFacts:
    """A relationship a write may name: its allowed JSON:API types, whether a create needs it,
    and which sidepost methods (`create`/`update`/`destroy`) its entries may carry; an empty
    `sidepost_methods` means plain linkage to an existing record only."""

    types: frozenset[str]
    required: bool = False
    sidepost_methods: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FilterFacts:
    """A documented `filter[name]`: `many` filters take one comma-joined parameter; `values` is
    the enum (None: free values); `operators` the allowed `filter[name][op]` suffixes (`eq` is
    also the bare `filter[name]=...`)."""

    many: bool = False
    values: frozenset[str] | None = None
    operators: frozenset[str] = EQ


@dataclass(frozen=True)
class ResourceFacts:
    """One resource of the reference, as far as the worker touches it."""

    type: str
    model: str
    operations: frozenset[str]
    readable: frozenset[str]
    writable: Mapping[str, frozenset[str]]
    required_on_create: frozenset[str]
    relationships: Mapping[str, Mapping[str, RelationshipFacts]]
    filters: Mapping[str, FilterFacts]
    sorts: frozenset[str]
    includes: frozenset[str]
    #: relationship name -> JSON:API type it points at (for walking dot include paths);
    #: polymorphic ones list no single type and end a path.
    related: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def writes(self, operation: str) -> frozenset[str]:
        """The attributes `operation` ("create"/"update") may carry; empty when none."""
        return self.writable.get(operation, frozenset())

    def relationships_for(self, operation: str) -> Mapping[str, RelationshipFacts]:
        """The relationships a body of `operation` may name."""
        return self.relationships.get(operation, MappingProxyType({}))


def _frozen(mapping: Mapping[str, object]) -> MappingProxyType:  # type: ignore[type-arg]
    return MappingProxyType(dict(mapping))


def _time_filters() -> dict[str, FilterFacts]:
    return {
        "created_at": FilterFacts(operators=TIME_OPERATORS),
        "updated_at": FilterFacts(operators=TIME_OPERATORS),
    }


_STANDARD_SORTS = frozenset({"id", "created_at", "updated_at"})
_TIMESTAMPS = frozenset({"created_at", "updated_at"})

# ---- candidates (`candidates_attributes_put`; no POST, no DELETE) ---------------------------
_CANDIDATE_PUT = frozenset(
    {
        "first_name",
        "last_name",
        "middle_name",
        "preferred_name",
        "email",
        "phone",
        "phone_iso2",
        "address1",
        "address2",
        "town",
        "state_province",
        "postcode",
        "country",
        "date_of_birth",
        "blocked",
        "locale",
        "external_system_reference",
        "documents_base64",
    }
)
CANDIDATES = ResourceFacts(
    type="candidates",
    model="Candidate",
    operations=frozenset({"list", "show", "update"}),
    readable=(_CANDIDATE_PUT - {"documents_base64"})
    | _TIMESTAMPS
    | {"full_name", "tags", "attachments"},
    writable=_frozen({"update": _CANDIDATE_PUT}),
    required_on_create=frozenset(),
    relationships=_frozen(
        {
            "update": _frozen(
                {
                    "custom_attributes": RelationshipFacts(
                        frozenset({"custom_attributes"}), sidepost_methods=SIDEPOST_ALL
                    ),
                    "skills": RelationshipFacts(
                        frozenset({"skills"}), sidepost_methods=SIDEPOST_ALL
                    ),
                }
            )
        }
    ),
    filters=_frozen(
        {
            "external_system_reference": FilterFacts(many=True),
            "phone": FilterFacts(many=True),
            "blocked": FilterFacts(values=BOOLEAN_VALUES),
            **_time_filters(),
        }
    ),
    sorts=_STANDARD_SORTS,
    includes=frozenset(
        {"applications", "job_seekers", "custom_attributes", "skills", "hris_references"}
    ),
    related=_frozen(
        {
            "applications": "applications",
            "job_seekers": "job_seekers",
            "custom_attributes": "custom_attributes",
        }
    ),
)

# ---- job seekers (`job_seekers_attributes_post/put`) ----------------------------------------
_JOB_SEEKER_WRITE = frozenset(
    {
        "first_name",
        "last_name",
        "preferred_name",
        "email",
        "phone",
        "phone_iso2",
        "address1",
        "address2",
        "town",
        "state_province",
        "postcode",
        "country",
        "date_of_birth",
        "summary",
        "locale",
        "external_system_reference",
        "channel",
        "channel_source",
        "pipeline_source",
        "cv_base64_data",
        "cv_base64_filename",
    }
    | TAG_COMMANDS
)
_JOB_SEEKER_SIDEPOSTS_POST = {
    "custom_attributes": RelationshipFacts(
        frozenset({"custom_attributes"}), sidepost_methods=SIDEPOST_CREATE
    ),
    "comments": RelationshipFacts(frozenset({"comments"}), sidepost_methods=SIDEPOST_CREATE),
    "answers": RelationshipFacts(frozenset({"answers"}), sidepost_methods=SIDEPOST_CREATE),
    "structured_section_responses": RelationshipFacts(
        frozenset({"structured_section_responses"}), sidepost_methods=SIDEPOST_CREATE
    ),
}
JOB_SEEKERS = ResourceFacts(
    type="job_seekers",
    model="JobSeeker",
    operations=OPERATIONS,
    readable=(_JOB_SEEKER_WRITE - TAG_COMMANDS - {"cv_base64_data", "cv_base64_filename"})
    | _TIMESTAMPS
    | {"candidate_id", "full_name", "average_rating", "tags", "attachments"},
    writable=_frozen({"create": _JOB_SEEKER_WRITE, "update": _JOB_SEEKER_WRITE}),
    required_on_create=frozenset(),  # undocumented: see the simulator's assumptions
    relationships=_frozen(
        {
            "create": _frozen(
                {
                    "candidate": RelationshipFacts(frozenset({"candidates"})),
                    **_JOB_SEEKER_SIDEPOSTS_POST,
                }
            ),
            "update": _frozen(
                {
                    "candidate": RelationshipFacts(frozenset({"candidates"})),
                    **{
                        name: RelationshipFacts(facts.types, sidepost_methods=SIDEPOST_ALL)
                        for name, facts in _JOB_SEEKER_SIDEPOSTS_POST.items()
                    },
                }
            ),
        }
    ),
    filters=_frozen(
        {
            "candidate_id": FilterFacts(),
            "external_system_reference": FilterFacts(many=True),
            "search": FilterFacts(many=True),
            **_time_filters(),
        }
    ),
    sorts=_STANDARD_SORTS,
    includes=frozenset(
        {
            "candidate",
            "comments",
            "custom_attributes",
            "answers",
            "structured_section_responses",
            "user_scorecards",
        }
    ),
    related=_frozen(
        {
            "candidate": "candidates",
            "comments": "comments",
            "custom_attributes": "custom_attributes",
        }
    ),
)

# ---- applications (`applications_attributes_post/put`; post-applications, put-application) ----
_APPLICATION_PUT = frozenset(
    {
        "first_name",
        "last_name",
        "preferred_name",
        "preferred_pronouns",
        "email",
        "phone",
        "phone_iso2",
        "address1",
        "address2",
        "town",
        "state_province",
        "postcode",
        "country",
        "date_of_birth",
        "locale",
        "linkedin_url",
        "external_system_reference",
        "channel",
        "channel_source",
        "cover_letter_base64_data",
        "cover_letter_base64_filename",
        "cv_base64_data",
        "cv_base64_filename",
        "cv_signed_id",
        "documents_base64",
        "create_pdf_application",
        "hired_at",
        "start_on",
        "is_demo",
        "skip_notifications_on_create",
    }
    | TAG_COMMANDS
)
_APPLICATION_POST = _APPLICATION_PUT | {"summary", "equality_monitoring_option_ids"}
APPLICATIONS = ResourceFacts(
    type="applications",
    model="Application",
    operations=OPERATIONS,
    readable=frozenset(
        {
            "address1",
            "address2",
            "ai_score",
            "attachments",
            "average_rating",
            "candidate_id",
            "channel",
            "channel_source",
            "concealed",
            "country",
            "country_code",
            "country_code_alpha3",
            "country_name",
            "date_of_birth",
            "days_in_current_stage",
            "email",
            "external_system_reference",
            "first_name",
            "full_name",
            "hired_at",
            "internal_candidate",
            "is_demo",
            "job_id",
            "job_posting_id",
            "last_name",
            "linkedin_url",
            "locale",
            "national_identifier",
            "phone",
            "phone_iso2",
            "postcode",
            "preferred_name",
            "preferred_pronouns",
            "rejected_at",
            "stage_id",
            "start_on",
            "state_province",
            "summary",
            "tags",
            "town",
            "uuid",
        }
    )
    | _TIMESTAMPS,
    writable=_frozen({"create": _APPLICATION_POST, "update": _APPLICATION_PUT}),
    required_on_create=PERSON_FIELDS_REQUIRED_ON_CREATE,
    relationships=_frozen(
        {
            "create": _frozen(
                {
                    "job": RelationshipFacts(frozenset({"jobs"}), required=True),
                    "candidate": RelationshipFacts(frozenset({"candidates"})),
                    "stage": RelationshipFacts(frozenset({"stages"})),
                    "job_posting": RelationshipFacts(frozenset({"job_postings"})),
                    "custom_attributes": RelationshipFacts(
                        frozenset({"custom_attributes"}), sidepost_methods=SIDEPOST_CREATE
                    ),
                    "comments": RelationshipFacts(
                        frozenset({"comments"}), sidepost_methods=SIDEPOST_CREATE
                    ),
                    "answers": RelationshipFacts(
                        frozenset({"answers"}), sidepost_methods=SIDEPOST_CREATE
                    ),
                    "structured_section_responses": RelationshipFacts(
                        frozenset({"structured_section_responses"}),
                        sidepost_methods=SIDEPOST_CREATE,
                    ),
                }
            ),
            "update": _frozen(
                {
                    "candidate": RelationshipFacts(frozenset({"candidates"})),
                    "stage": RelationshipFacts(frozenset({"stages"})),
                    "custom_attributes": RelationshipFacts(
                        frozenset({"custom_attributes"}), sidepost_methods=SIDEPOST_ALL
                    ),
                    "comments": RelationshipFacts(
                        frozenset({"comments"}), sidepost_methods=SIDEPOST_ALL
                    ),
                    "structured_section_responses": RelationshipFacts(
                        frozenset({"structured_section_responses"}), sidepost_methods=SIDEPOST_ALL
                    ),
                }
            ),
        }
    ),
    filters=_frozen(
        {
            "candidate_email": FilterFacts(many=True),
            "candidate_phone": FilterFacts(many=True),
            "candidate_id": FilterFacts(),
            "job_id": FilterFacts(),
            "external_system_reference": FilterFacts(many=True),
            "stage_id": FilterFacts(),
            "stage_basic_type": FilterFacts(),
            "uuid": FilterFacts(),
            "locale": FilterFacts(),
            "job_posting_id": FilterFacts(),
            "internal_candidate": FilterFacts(values=BOOLEAN_VALUES),
            "job_visibility": FilterFacts(),
            "concealed": FilterFacts(values=BOOLEAN_VALUES),
            **_time_filters(),
        }
    ),
    sorts=_STANDARD_SORTS,
    includes=frozenset(
        {
            "answers",
            "candidate",
            "comments",
            "custom_attributes",
            "document_requests",
            "furthest_stage",
            "hris_reference",
            "job",
            "job_posting",
            "offers",
            "onboarding_application",
            "scorecard_answers",
            "scorecard_notes",
            "scorecard_ratings",
            "stage",
            "structured_section_responses",
            "user_scorecards",
        }
    ),
    related=_frozen(
        {
            "candidate": "candidates",
            "comments": "comments",
            "custom_attributes": "custom_attributes",
            "job": "jobs",
        }
    ),
)

# ---- comments (`comments_attributes_post`; post-comments; no PUT) ---------------------------
COMMENTS = ResourceFacts(
    type="comments",
    model="Comment",
    operations=frozenset({"list", "show", "create", "destroy"}),
    readable=frozenset(
        {"body_text", "commentable_id", "commentable_type", "user_id", "private_comment"}
    )
    | _TIMESTAMPS,
    writable=_frozen({"create": frozenset({"body_text", "category"})}),
    required_on_create=frozenset({"body_text"}),
    relationships=_frozen(
        {
            "create": _frozen(
                {
                    "commentable": RelationshipFacts(
                        frozenset({"applications", "job_seekers", "candidates"}), required=True
                    )
                }
            )
        }
    ),
    filters=_frozen(
        {
            "commentable_id": FilterFacts(),
            "commentable_type": FilterFacts(values=COMMENTABLE_TYPE_VALUES),
            **_time_filters(),
        }
    ),
    sorts=_STANDARD_SORTS,
    includes=frozenset({"user", "commentable"}),
)

# ---- custom fields (definitions) ------------------------------------------------------------
_CUSTOM_FIELD_PUT = frozenset(
    {"name", "description", "options", "position", "required", "sample_value"}
)
CUSTOM_FIELDS = ResourceFacts(
    type="custom_fields",
    model="CustomField",
    operations=OPERATIONS,
    readable=frozenset(
        {
            "name",
            "description",
            "field_type",
            "resource_type",
            "options",
            "position",
            "required",
            "sample_value",
            "unique_reference",
        }
    )
    | _TIMESTAMPS,
    writable=_frozen(
        {"create": _CUSTOM_FIELD_PUT | {"field_type", "resource_type"}, "update": _CUSTOM_FIELD_PUT}
    ),
    required_on_create=frozenset({"name", "field_type", "resource_type"}),
    relationships=_frozen(
        {
            op: _frozen(
                {
                    "custom_field_options": RelationshipFacts(
                        frozenset({"custom_field_options"}), sidepost_methods=SIDEPOST_ALL
                    )
                }
            )
            for op in ("create", "update")
        }
    ),
    filters=_frozen(
        {
            "resource_type": FilterFacts(values=CUSTOM_FIELD_RESOURCE_TYPES),
            "template_custom_field_id": FilterFacts(),
        }
    ),
    sorts=frozenset({"id"}),
    includes=frozenset({"custom_field_options"}),
)

# ---- custom attributes (values) -------------------------------------------------------------
CUSTOM_ATTRIBUTES = ResourceFacts(
    type="custom_attributes",
    model="CustomAttribute",
    operations=OPERATIONS,
    readable=frozenset({"value", "field_name", "option_value", "option_label"}) | _TIMESTAMPS,
    writable=_frozen(
        {"create": CUSTOM_ATTRIBUTE_VALUE_ATTRIBUTES, "update": CUSTOM_ATTRIBUTE_VALUE_ATTRIBUTES}
    ),
    required_on_create=frozenset(),
    relationships=_frozen(
        {
            "create": _frozen(
                {
                    "custom_field": RelationshipFacts(frozenset({"custom_fields"}), required=True),
                    "custom_attributable": RelationshipFacts(
                        frozenset(
                            {
                                "applications",
                                "candidates",
                                "job_seekers",
                                "jobs",
                                "offers",
                                "positions",
                            }
                        )
                    ),
                }
            ),
            "update": _frozen({}),
        }
    ),
    filters=_frozen(
        {
            "custom_attributable_id": FilterFacts(),
            "custom_attributable_type": FilterFacts(values=CUSTOM_ATTRIBUTABLE_TYPE_VALUES),
            **_time_filters(),
        }
    ),
    sorts=_STANDARD_SORTS,
    includes=frozenset({"custom_field", "custom_attributable"}),
    related=_frozen({"custom_field": "custom_fields"}),
)

# ---- jobs (only read by the worker; their write schemas are not modelled here) --------------
JOBS = ResourceFacts(
    type="jobs",
    model="Job",
    operations=OPERATIONS,
    readable=frozenset(
        {
            "title",
            "status",
            "external_system_reference",
            "description",
            "opened_at",
            "closed_at",
            "filled_at",
            "requisition_id",
            "url",
            "visibility",
            "uuid",
        }
    )
    | _TIMESTAMPS,
    writable=_frozen({}),
    required_on_create=frozenset(),
    relationships=_frozen({}),
    filters=_frozen(
        {
            "status": FilterFacts(),
            "external_system_reference": FilterFacts(many=True),
            "search": FilterFacts(),
            **_time_filters(),
        }
    ),
    sorts=_STANDARD_SORTS | {"opened_at"},
    includes=frozenset(
        {
            "applications",
            "company",
            "creator_user",
            "custom_attributes",
            "department",
            "division",
            "hiring_manager_user",
            "job_postings",
            "location",
            "questions",
            "recruitment_manager_user",
            "stages",
            "structure_custom_group_one",
            "structure_link",
        }
    ),
    related=_frozen({"applications": "applications", "custom_attributes": "custom_attributes"}),
)

RESOURCES: Mapping[str, ResourceFacts] = MappingProxyType(
    {
        facts.type: facts
        for facts in (
            CANDIDATES,
            JOB_SEEKERS,
            APPLICATIONS,
            COMMENTS,
            CUSTOM_FIELDS,
            CUSTOM_ATTRIBUTES,
            JOBS,
        )
    }
)

#: JSON:API type -> model name (what `commentable_type` / `custom_attributable_type` hold).
MODEL_OF_TYPE: Mapping[str, str] = MappingProxyType({f.type: f.model for f in RESOURCES.values()})

# ---- destination fields ---------------------------------------------------------------------
#: Attributes a write accepts that are not facts about the person: files, our own record
#: reference, tag commands, and switches of the write itself.
_NOT_PERSON_FIELDS = frozenset(
    {
        "documents_base64",
        "cv_base64_data",
        "cv_base64_filename",
        "cv_signed_id",
        "cover_letter_base64_data",
        "cover_letter_base64_filename",
        "external_system_reference",
        "equality_monitoring_option_ids",
        "skip_notifications_on_create",
        "create_pdf_application",
        "is_demo",
        "blocked",
        "hired_at",
        "start_on",
    }
    | TAG_COMMANDS
)
_DESTINATION_RESOURCE = {"job_seeker": JOB_SEEKERS, "application": APPLICATIONS}


def destination_fields(destination: str) -> frozenset[str]:
    """The standard attributes a team's settings may name as a Pinpoint field for `destination`.

    Rule: a field is nameable when the worker can write it for that destination, i.e. it is in
    the destination record's create schema (`job_seekers_attributes_post` or
    `applications_attributes_post`) or in `candidates_attributes_put` (the person's own record,
    written when an existing person is updated); minus everything that is not a fact about the
    person: files and base64 payloads, ids and our own `external_system_reference`, tag commands,
    and switches of the write itself (`skip_notifications_on_create`, `create_pdf_application`,
    `is_demo`, `blocked`, `hired_at`, `start_on`, `equality_monitoring_option_ids`).
    Relationships are never fields. So `linkedin_url` is nameable for applications only (no other
    schema has it), `middle_name` only through the candidate, and the place fields are `town` and
    `state_province` (the reference has no `city` or `region`).

    Raises ValueError for an unknown destination: a caller passing one is a programming error.
    """
    try:
        record = _DESTINATION_RESOURCE[destination]
    except KeyError:
        raise ValueError(f"unknown destination {destination!r}") from None
    return (record.writes("create") | CANDIDATES.writes("update")) - _NOT_PERSON_FIELDS


# ---- the country rule of addresses ---------------------------------------------------------
_US = frozenset({"us", "usa", "united states", "united states of america"})


def is_us_country(country: object) -> bool:
    """Whether a `country` attribute value names the United States (ISO code or name)."""
    return isinstance(country, str) and country.strip().lower() in _US


def address_attributes_refused(attributes: Mapping[str, object]) -> frozenset[str]:
    """The address attributes a write may not carry for its country: `state_province` is only
    for US addresses and `address2` only for others (put-candidate, post-applications prose).

    A blank value is no violation (clearing a field is always allowed); without a `country` in
    the same write nothing can be judged and nothing is refused.
    """
    if "country" not in attributes or attributes["country"] in (None, ""):
        return frozenset()
    us = is_us_country(attributes["country"])
    refused = set()
    if not us and attributes.get("state_province") not in (None, ""):
        refused.add("state_province")
    if us and attributes.get("address2") not in (None, ""):
        refused.add("address2")
    return frozenset(refused)


# ---- query checks shared by the simulator and the contract gate ----------------------------
def include_path_allowed(resource: str, path: str) -> bool:
    """Whether `include=<path>` (a dot path, e.g. `custom_attributes.custom_field`) is in the
    include lists, walking from `resource` through each relationship's target resource."""
    current = RESOURCES.get(resource)
    parts = path.split(".")
    for index, part in enumerate(parts):
        if current is None or part not in current.includes:
            return False
        target = current.related.get(part)
        if index < len(parts) - 1:
            current = RESOURCES.get(target) if target else None
    return True


def sort_allowed(resource: str, sort: str) -> bool:
    """Whether every comma-separated key of `sort=` (optionally `-` prefixed) is sortable."""
    facts = RESOURCES.get(resource)
    if facts is None:
        return False
    keys = [key.strip() for key in sort.split(",")]
    return all(key and key.removeprefix("-") in facts.sorts for key in keys)
