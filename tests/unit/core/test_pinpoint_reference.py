"""The reference facts: the points the worker, the simulator and the contract gate rely on."""

from __future__ import annotations

import pytest

from worker.core import pinpoint_reference as ref


def test_resources_cover_everything_the_worker_touches() -> None:
    """Every resource the worker reads or writes has facts, keyed by its JSON:API type."""
    assert set(ref.RESOURCES) == {
        "candidates",
        "job_seekers",
        "applications",
        "comments",
        "custom_fields",
        "custom_attributes",
        "jobs",
    }
    assert all(facts.type == name for name, facts in ref.RESOURCES.items())
    assert all(facts.operations <= ref.OPERATIONS for facts in ref.RESOURCES.values())


def test_candidates_cannot_be_created_or_deleted_and_comments_cannot_be_updated() -> None:
    """Candidates have no POST/DELETE and comments no PUT, as the reference lists."""
    assert ref.RESOURCES["candidates"].operations == {"list", "show", "update"}
    assert "update" not in ref.RESOURCES["comments"].operations
    assert ref.RESOURCES["comments"].writes("update") == frozenset()


def test_write_only_and_application_only_attributes() -> None:
    """linkedin_url and skip_notifications_on_create are application attributes only."""
    for name in ("linkedin_url", "skip_notifications_on_create"):
        assert name in ref.APPLICATIONS.writes("create")
        assert name not in ref.JOB_SEEKERS.writes("create")
        assert name not in ref.CANDIDATES.writes("update")
    assert "summary" not in ref.APPLICATIONS.writes("update")
    assert not ref.TAG_COMMANDS & ref.JOB_SEEKERS.readable
    assert not ref.CUSTOM_ATTRIBUTE_VALUE_ATTRIBUTES & ref.CUSTOM_ATTRIBUTES.readable
    assert {"candidate_id", "job_id"} <= ref.APPLICATIONS.readable
    assert {"commentable_id", "commentable_type"} <= ref.COMMENTS.readable


def test_no_email_filter_on_candidates_and_model_names_for_commentable_type() -> None:
    """Candidates cannot be filtered by e-mail; commentable_type takes model names."""
    assert "email" not in ref.CANDIDATES.filters
    assert "candidate_email" in ref.APPLICATIONS.filters
    values = ref.COMMENTS.filters["commentable_type"].values
    assert values is not None
    assert {"JobSeeker", "Application", "Candidate"} <= values
    assert "job_seekers" not in values


def test_application_create_requires_person_and_job() -> None:
    """An application's create needs first/last name, e-mail and the job relationship."""
    assert ref.APPLICATIONS.required_on_create == ref.PERSON_FIELDS_REQUIRED_ON_CREATE
    assert ref.APPLICATIONS.relationships_for("create")["job"].required
    assert "job" not in ref.APPLICATIONS.relationships_for("update")


def test_destination_fields_follow_the_schemas() -> None:
    """Nameable fields: person attributes of the create and of the candidate's PUT, no files."""
    job_seeker = ref.destination_fields("job_seeker")
    application = ref.destination_fields("application")
    assert {
        "first_name",
        "email",
        "town",
        "state_province",
        "middle_name",
        "pipeline_source",
    } <= job_seeker
    assert "linkedin_url" in application
    assert "linkedin_url" not in job_seeker
    for fields in (job_seeker, application):
        assert (
            not {
                "city",
                "region",
                "cv_base64_data",
                "documents_base64",
                "external_system_reference",
            }
            & fields
        )
        assert not ref.TAG_COMMANDS & fields
        assert fields >= ref.PERSON_FIELDS_REQUIRED_ON_CREATE
    assert "skip_notifications_on_create" not in application
    with pytest.raises(ValueError):
        ref.destination_fields("candidate")


def test_address_rule_depends_on_country() -> None:
    """state_province is for US addresses only, address2 for non-US only."""
    assert ref.address_attributes_refused({"country": "GB", "state_province": "Kent"}) == {
        "state_province"
    }
    assert ref.address_attributes_refused({"country": "US", "address2": "Apt 1"}) == {"address2"}
    assert ref.address_attributes_refused({"country": "US", "state_province": "NY"}) == frozenset()
    assert ref.address_attributes_refused({"state_province": "NY", "address2": "x"}) == frozenset()


def test_include_paths_and_sorts() -> None:
    """Dot include paths are walked through the target resources; sorts are allow-listed."""
    assert ref.include_path_allowed("candidates", "custom_attributes.custom_field")
    assert ref.include_path_allowed("job_seekers", "candidate,".rstrip(","))
    assert not ref.include_path_allowed("candidates", "custom_fields")
    assert not ref.include_path_allowed("candidates", "custom_attributes.user")
    assert ref.sort_allowed("jobs", "-opened_at,id")
    assert not ref.sort_allowed("custom_fields", "created_at")
    assert not ref.sort_allowed("comments", "body_text")
