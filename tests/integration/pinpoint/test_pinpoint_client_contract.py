"""Contract tests: the client against the simulator over real HTTP, operation by operation."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.pinpoint import (
    AuthError,
    InvalidRequestError,
    NotFoundError,
    PinpointClient,
    RecordKind,
    RecordRef,
    TenantCredentials,
)
from worker.simulator import FaultConfig, SimulatorServer

pytestmark = pytest.mark.integration

PERSON = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada+sw@example.com"}


async def test_create_job_seeker_and_find_it_by_reference(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """A job seeker is created with its reference, found by it, and sends no notification."""
    created = await client.create_job_seeker(acme, PERSON, "sw:team1:cand1")
    assert created.ref.kind is RecordKind.JOB_SEEKERS
    found = await client.find_record_by_external_reference(acme, "sw:team1:cand1")
    assert found == created
    missing = await client.find_record_by_external_reference(acme, "sw:team1:other")
    assert missing is None
    state = sim.tenant("acme").snapshot()
    assert state["notifications"] == []
    assert state["candidates"][0]["attributes"]["email"] == PERSON["email"]


async def test_create_application_to_a_job(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """An application is created for a job and found by its reference, whichever kind is
    looked at first."""
    created = await client.create_application(acme, "2", PERSON, "sw:app:1")
    assert created.ref.kind is RecordKind.APPLICATIONS
    assert sim.tenant("acme").records["applications"][created.ref.id].job_id == "2"
    for prefer in RecordKind:
        assert await client.find_record_by_external_reference(acme, "sw:app:1", prefer) == created


async def test_application_to_unknown_job_is_invalid(
    client: PinpointClient, acme: TenantCredentials
) -> None:
    """An unknown job is a validation error carrying Pinpoint's detail and pointer."""
    with pytest.raises(InvalidRequestError) as info:
        await client.create_application(acme, "999", PERSON, "sw:app:2")
    assert info.value.status == 422
    assert info.value.pointer == "/data/relationships/job"
    assert "Job 999" in (info.value.detail or "")


async def test_records_attach_to_an_existing_candidate(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """With candidate_id, the new record joins that candidate instead of making another
    (an application still carries the person's names and e-mail: post-applications needs them)."""
    first = await client.create_job_seeker(acme, PERSON, "sw:1")
    app = await client.create_application(
        acme, "1", PERSON, "sw:1:app", candidate_id=first.candidate_id
    )
    assert app.candidate_id == first.candidate_id
    cand = await client.get_candidate(acme, first.candidate_id)
    assert cand.job_seeker_ids == [first.ref.id]
    found = await client.find_record_by_external_reference(acme, "sw:1:app")
    assert found == app
    assert len(sim.tenant("acme").candidates) == 1


async def test_creates_send_only_what_the_resource_writes(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """Custom fields, and attributes a job seeker does not have, are never in its POST."""
    fields = {**PERSON, "custom:25": "CTO", "linkedin_url": "https://linkedin.com/in/ada"}
    await client.create_job_seeker(acme, fields, "sw:x")
    await client.create_application(acme, "1", fields, "sw:y")
    seeker, application = (r for r in sim.tenant("acme").requests if r.method == "POST")
    assert seeker.body is not None
    assert application.body is not None
    seeker_attrs = seeker.body["data"]["attributes"]
    assert "custom:25" not in seeker_attrs
    assert "linkedin_url" not in seeker_attrs
    assert "skip_notifications_on_create" not in seeker_attrs
    assert application.body["data"]["attributes"]["skip_notifications_on_create"] is True
    assert application.body["data"]["attributes"]["linkedin_url"] == fields["linkedin_url"]


async def test_find_people_by_email(client: PinpointClient, acme: TenantCredentials) -> None:
    """E-mail lookup (applications and job seekers) ignores case and keeps plus signs."""
    created = await client.create_job_seeker(acme, PERSON, "sw:1")
    await client.create_job_seeker(acme, {**PERSON, "email": "other@example.com"}, "sw:2")
    applicant = await client.create_application(
        acme, "1", {**PERSON, "email": "applicant@example.com"}, "sw:3")
    assert await client.find_people_by_email(acme, "ADA+SW@example.com") == [
        created.candidate_id]
    assert await client.find_people_by_email(acme, "Applicant@example.com") == [
        applicant.candidate_id]
    assert await client.find_people_by_email(acme, "nobody@example.com") == []


async def test_update_person_standard_and_custom(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """Standard and custom fields are written by PUT; custom ones created then updated."""
    created = await client.create_job_seeker(acme, PERSON, "sw:1")
    await client.update_person(
        acme, created.candidate_id, {"phone": "+1 555", "custom:25": "CTO", "custom:26": "7"}
    )
    cand = await client.get_candidate(acme, created.candidate_id)
    assert cand.attributes["phone"] == "+1 555"
    assert cand.value("custom:25") == "CTO"
    assert cand.value("custom:26") == "7"
    ca_id = cand.custom_attributes["25"][0]
    await client.update_person(acme, created.candidate_id, {"custom:25": "CEO"})
    fetched = await client.get_candidate(acme, created.candidate_id)
    assert fetched.custom_attributes["25"] == (ca_id, "CEO")
    methods = {r.method for r in sim.tenant("acme").requests}
    assert "PUT" in methods
    assert "PATCH" not in methods


async def test_protected_fields_only_fill_blanks(
    client: PinpointClient, acme: TenantCredentials
) -> None:
    """A protected field is written only where Pinpoint's value is empty."""
    created = await client.create_job_seeker(acme, PERSON, "sw:1")
    cid = created.candidate_id
    await client.update_person(acme, cid, {"custom:25": "CTO"})
    await client.update_person(
        acme,
        cid,
        {"first_name": "Augusta", "phone": "+44 1", "custom:25": "Intern", "custom:27": "hi"},
        protected=frozenset({"first_name", "phone", "custom:25", "custom:27"}),
    )
    cand = await client.get_candidate(acme, cid)
    assert cand.attributes["first_name"] == "Ada"
    assert cand.attributes["phone"] == "+44 1"
    assert cand.value("custom:25") == "CTO"
    assert cand.value("custom:27") == "hi"


async def test_unknown_custom_field_is_invalid(
    client: PinpointClient, acme: TenantCredentials
) -> None:
    """A custom field of another resource (or none) is refused with a clear detail."""
    created = await client.create_job_seeker(acme, PERSON, "sw:1")
    with pytest.raises(InvalidRequestError) as info:
        await client.update_person(acme, created.candidate_id, {"custom:30": "x"})
    assert "30" in (info.value.detail or "")
    with pytest.raises(InvalidRequestError) as info:
        await client.update_person(acme, created.candidate_id, {"custom:31": "x"})
    assert "31" in (info.value.detail or "")


async def test_validation_error_detail_from_pinpoint(
    client: PinpointClient, acme: TenantCredentials
) -> None:
    """Pinpoint's 422 detail and pointer reach the caller."""
    created = await client.create_job_seeker(acme, PERSON, "sw:1")
    with pytest.raises(InvalidRequestError) as info:
        await client.update_person(acme, created.candidate_id, {"custom:25": "x" * 300})
    assert info.value.status == 422
    assert "too long" in (info.value.detail or "")
    assert (info.value.pointer or "").startswith("/included/0/")
    with pytest.raises(InvalidRequestError) as blank:
        await client.create_job_seeker(acme, {**PERSON, "email": ""}, "sw:2")
    assert blank.value.detail == "Email can't be blank"
    assert blank.value.pointer == "/data/attributes/email"


async def test_missing_candidate_is_invalid(
    client: PinpointClient, acme: TenantCredentials
) -> None:
    """A 404 is a NotFoundError (an invalid request), not retried."""
    with pytest.raises(NotFoundError) as info:
        await client.get_candidate(acme, "4040")
    assert info.value.status == 404


async def test_comments_written_and_listed_across_pages(
    client: PinpointClient, acme: TenantCredentials
) -> None:
    """A note is found by its marker among more than 100 notes, on its own record only."""
    created = await client.create_job_seeker(acme, PERSON, "sw:1")
    other = await client.create_application(acme, "1", PERSON, "sw:1:a", created.candidate_id)
    for n in range(105):
        await client.write_comment(acme, created.ref, f"note\n\nref: sw-{n:04d}", f"sw-{n:04d}")
    await client.write_comment(acme, other.ref, "on the application sw-app", "sw-app")
    found = await client.find_comment(acme, created.ref, "sw-0103")
    assert found is not None
    assert (found.body_text, found.commentable) == ("note\n\nref: sw-0103", created.ref)
    assert await client.find_comment(acme, created.ref, "sw-app") is None
    on_app = await client.find_comment(acme, other.ref, "sw-app")
    assert on_app is not None
    assert on_app.commentable == other.ref


async def test_comment_on_unknown_record_is_invalid(
    client: PinpointClient, acme: TenantCredentials
) -> None:
    """A comment on a record that does not exist is refused with detail."""
    with pytest.raises(InvalidRequestError) as info:
        await client.write_comment(acme, RecordRef(RecordKind.APPLICATIONS, "77"), "hi", "hi")
    assert info.value.pointer == "/data/relationships/commentable"


async def test_probe_and_auth_errors_are_not_retried(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer, observer: Any
) -> None:
    """401 (revoked key) and 403 (integration disabled) raise AuthError at once; restore works."""
    await client.probe(acme)
    tenant = sim.tenant("acme")
    tenant.api_key = "rotated"
    before = len(tenant.requests)
    with pytest.raises(AuthError) as revoked:
        await client.probe(acme)
    assert revoked.value.status == 401
    assert len(tenant.requests) == before + 1
    tenant.api_key = acme.api_key
    tenant.integration_enabled = False
    with pytest.raises(AuthError) as disabled:
        await client.probe(acme)
    assert disabled.value.status == 403
    tenant.integration_enabled = True
    await client.probe(acme)
    assert observer.retries == []


async def test_one_tenants_key_refused_for_another(
    client: PinpointClient, acme: TenantCredentials, globex: TenantCredentials
) -> None:
    """Acme's key does not open globex's account, nor the reverse."""
    with pytest.raises(AuthError):
        await client.probe(TenantCredentials("globex", acme.api_key))
    with pytest.raises(AuthError):
        await client.probe(TenantCredentials("acme", globex.api_key))
    await client.probe(globex)


async def test_tenants_see_only_their_own_records(
    client: PinpointClient, acme: TenantCredentials, globex: TenantCredentials
) -> None:
    """A record created in one tenant is invisible in another."""
    await client.create_job_seeker(acme, PERSON, "sw:1")
    assert await client.find_people_by_email(globex, PERSON["email"]) == []
    assert await client.find_record_by_external_reference(globex, "sw:1") is None


async def test_logs_carry_no_key_and_no_email(
    client: PinpointClient, acme: TenantCredentials, sim: SimulatorServer
) -> None:
    """Structured log lines of successes and failures never show the key or an e-mail."""
    with capture_logs() as logs:
        await client.find_people_by_email(acme, PERSON["email"])
        with pytest.raises(InvalidRequestError):
            await client.create_job_seeker(acme, {**PERSON, "email": "bad.example.com"}, "s")
        with pytest.raises(AuthError):
            await client.probe(TenantCredentials("acme", "wrong-key-123"))
        sim.set_faults(FaultConfig(script=(500,)))
        await client.probe(acme)
    assert logs
    text = repr(logs)
    assert acme.api_key not in text
    assert "wrong-key-123" not in text
    assert PERSON["email"] not in text
    assert {e["event"] for e in logs} >= {"pinpoint.request_failed", "pinpoint.retry"}


async def test_observer_sees_requests_by_status_class(
    client: PinpointClient, acme: TenantCredentials, observer: Any
) -> None:
    """Each HTTP exchange is reported with its operation, status class and duration."""
    await client.probe(acme)
    with pytest.raises(InvalidRequestError):
        await client.get_candidate(acme, "404")
    assert [(r[0], r[1], r[2]) for r in observer.requests] == [
        ("acme", "probe", "2xx"),
        ("acme", "get_candidate", "4xx"),
    ]
    assert all(r[3] >= 0 for r in observer.requests)
