"""Each sync-policy behaviour end to end: events through Kafka, seen in the simulator's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from worker.core.notes import note_ref
from worker.core.pinpoint_reference import MODEL_OF_TYPE
from worker.tools.sample import CampaignGenerator, Candidate, SampleEvent
from worker.tools.stack import settings_document

from .conftest import Stack, marker_of, wait_event_ids

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Journey:
    """Hand-written campaign events for one candidate, one hour apart."""

    def __init__(self, gen: CampaignGenerator, cand: Candidate, campaign_id: str = "camp-1"):
        self.gen, self.cand, self.campaign_id = gen, cand, campaign_id
        self.at = T0
        self.steps = 0

    def _next(self, etype: str, **data: Any) -> SampleEvent:
        self.at += timedelta(hours=1)
        return self.gen.event(self.cand, etype, at=self.at, campaign_id=self.campaign_id, **data)

    def added(self) -> SampleEvent:
        return self._next("candidate.added")

    def step(self, channel: str) -> SampleEvent:
        self.steps += 1
        step: dict[str, Any] = {"number": self.steps, "channel": channel}
        if channel == "email":
            step |= {"subject": f"Step {self.steps}", "body": "Hi, a role you may like..."}
        return self._next("outreach.sent", step=step)

    def replied(self) -> SampleEvent:
        return self._next("candidate.replied", reply={"channel": "email", "snippet": "Sure!"})

    def interested(self) -> SampleEvent:
        return self._next("candidate.interested")


def by_id(values: list[Any]) -> dict[str, Any]:
    return {v["event_id"]: v for v in values if v and v.get("event_id")}


def verdict(outcomes: dict[str, Any], event: SampleEvent) -> tuple[str, str]:
    out = outcomes[event.event_id]
    return out["outcome"], out["reason"]


def notes_of(stack: Stack, team: str, ext_ref: str, kind: str = "job_seekers") -> list[str]:
    """The markers of the notes on the team's record for ``ext_ref``, oldest first."""
    state = stack.sim.tenant(team).snapshot()
    (record,) = [r for r in state[kind] if r["external_system_reference"] == ext_ref]
    comments = [c for c in state["comments"] if c["commentable_id"] == record["id"]
                and c["commentable_type"] == MODEL_OF_TYPE[kind]]
    return [str(marker_of(c["body_text"])) for c in sorted(comments, key=lambda c: int(c["id"]))]


def refs(team: str, *events: SampleEvent) -> list[str]:
    return [note_ref(team, e.event_id) for e in events]


async def create_person(stack: Stack, team: str, api_key: str, **attributes: str) -> None:
    """A person already in Pinpoint (made outside pinpoint-sync), through the simulator's API."""
    body = {"data": {"type": "job_seekers", "attributes": attributes}}
    url = f"{stack.sim.url}/tenants/{team}/api/v1/job_seekers"
    async with aiohttp.ClientSession() as session, session.post(
            url, json=body, headers={"X-API-KEY": api_key,
                                     "Content-Type": "application/vnd.api+json"}) as resp:
        assert resp.status == 201, await resp.text()


async def test_sync_triggers_notes_backfill_and_inactive(stack: Stack) -> None:
    """sync upon added/replied, only notes on synced, backfill and inactive, seen in Pinpoint."""
    for team in ("added", "replied", "backfill", "inactive"):
        stack.tenant(team, f"{team}-secret")
    stack.settings(
        settings_document("added", general={"create_notes_upon": ["email"]},
                          sync={"sync_upon": "added"}),
        settings_document("replied", sync={"sync_upon": "replied", "only_notes_on_synced": True}),
        settings_document("backfill", sync={"sync_upon": "replied", "only_notes_on_synced": True,
                                            "backfill_on_sync": True}),
        settings_document("inactive", active=False),
    )
    gen = CampaignGenerator(seed=21)
    a1, a2 = (Journey(gen, gen.candidate("added", i)) for i in (1, 2))
    r = Journey(gen, gen.candidate("replied", 3))
    b = Journey(gen, gen.candidate("backfill", 4))
    inactive = Journey(gen, gen.candidate("inactive", 5))
    a1_added, a1_mail = a1.added(), a1.step("email")
    a2_added, a2_mail = a2.added(), a2.step("email")
    r_added, r_mail, r_sms = r.added(), r.step("email"), r.step("sms")
    b_added, b_mail, b_sms = b.added(), b.step("email"), b.step("sms")
    i_added, i_mail = inactive.added(), inactive.step("email")
    phase1 = [a1_added, a1_mail, a2_added, a2_mail, r_added, r_mail, r_sms,
              b_added, b_mail, b_sms, i_added, i_mail]

    outcomes = stack.reader(stack.outcomes_topic)
    await stack.start_worker()
    stack.produce(phase1)
    got = by_id(await wait_event_ids(outcomes, [e.event_id for e in phase1]))

    # sync upon added: the job seeker carries the candidate's fields and its external reference.
    assert verdict(got, a1_added) == ("synced", "sync_trigger_reached")
    assert [a["kind"] for a in got[a1_added.event_id]["actions"]] == ["create_job_seeker"]
    assert verdict(got, a1_mail) == ("noted", "note_written")
    added = stack.sim.tenant("added").snapshot()
    assert len(added["job_seekers"]) == 2
    for j in (a1, a2):
        snap = j.cand.snapshot
        (js,) = [x for x in added["job_seekers"]
                 if x["external_system_reference"] == f"sourcewhale:added:{j.cand.id}"]
        (person,) = [c for c in added["candidates"] if c["id"] == js["candidate_id"]]
        assert {
            "first_name": snap["first_name"], "last_name": snap["last_name"],
            "email": snap["emails"][0], "phone": snap["phones"][0],
        }.items() <= person["attributes"].items()
        assert {"channel": "sourced", "channel_source": "SourceWhale",
                "pipeline_source": "SourceWhale"}.items() <= js["attributes"].items()
    assert notes_of(stack, "added", f"sourcewhale:added:{a1.cand.id}") == refs("added", a1_mail)

    # sync upon replied with only notes on synced: nothing in Pinpoint before the reply.
    assert verdict(got, r_added) == ("skipped", "sync_trigger_not_reached")
    assert verdict(got, r_mail) == ("skipped", "not_synced_yet")
    assert verdict(got, r_sms) == ("skipped", "not_synced_yet")
    assert stack.sim.tenant("replied").snapshot()["job_seekers"] == []
    # with backfill, the skipped notes are kept for later
    assert verdict(got, b_mail) == ("deferred", "kept_for_backfill")
    assert verdict(got, b_sms) == ("deferred", "kept_for_backfill")
    assert stack.sim.tenant("backfill").snapshot()["job_seekers"] == []
    # an inactive integration: skipped, never a call to Pinpoint
    assert verdict(got, i_added) == ("skipped", "integration_inactive")
    assert verdict(got, i_mail) == ("skipped", "integration_inactive")

    a1_reply = a1.replied()
    r_reply, r_mail3, r_int = r.replied(), r.step("email"), r.interested()
    b_reply, b_mail3, b_int = b.replied(), b.step("email"), b.interested()
    i_reply = inactive.replied()
    phase2 = [a1_reply, r_reply, r_mail3, r_int, b_reply, b_mail3, b_int, i_reply]
    stack.produce(phase2)
    got |= by_id(await wait_event_ids(outcomes, [e.event_id for e in phase2]))

    assert verdict(got, a1_reply) == ("skipped", "note_type_not_selected")
    assert verdict(got, r_reply) == ("synced", "sync_trigger_reached")
    assert verdict(got, r_mail3) == ("noted", "note_written")
    assert notes_of(stack, "replied", f"sourcewhale:replied:{r.cand.id}") == refs(
        "replied", r_reply, r_mail3, r_int)
    # backfill: the earlier activity first, in order, right after the push
    assert verdict(got, b_reply) == ("synced", "sync_trigger_reached")
    assert notes_of(stack, "backfill", f"sourcewhale:backfill:{b.cand.id}") == refs(
        "backfill", b_mail, b_sms, b_reply, b_mail3, b_int)
    assert verdict(got, i_reply) == ("skipped", "integration_inactive")
    inactive_state = stack.sim.tenant("inactive").snapshot()
    assert inactive_state["candidates"] == []
    assert inactive_state["request_count"] == 0
    assert len(outcomes.values()) == len(phase1) + len(phase2)


async def test_do_not_merge_and_destination_application(stack: Stack) -> None:
    """do_not_merge: a second record for a known e-mail; a campaign mapped to a job: applications"""
    stack.tenant("nomerge", "nomerge-secret")
    stack.tenant("jobs", "jobs-secret", jobs=[{"id": "42", "title": "Backend Engineer"}])
    stack.settings(
        settings_document("nomerge", general={"do_not_merge": True}),
        settings_document("jobs", destination={"campaign_jobs": {"camp-1": "42"}},
                          field_mapping={"string": {"first_name": "first_name",
                                                    "last_name": "last_name",
                                                    "email": "email", "location": "town"},
                                         "social": {"linkedin": "linkedin_url"}}),
    )
    gen = CampaignGenerator(seed=22)
    dup = Journey(gen, gen.candidate("nomerge", 1))
    email = dup.cand.snapshot["emails"][0]
    await create_person(stack, "nomerge", "nomerge-secret", first_name="Earlier",
                        last_name="Record", email=email)
    j1, j2 = (Journey(gen, gen.candidate("jobs", i)) for i in (2, 3))
    other = Journey(gen, gen.candidate("jobs", 4), campaign_id="camp-2")
    events = [dup.added(), dup.step("email")]
    j1_events = [j1.added(), j1.step("email")]
    j2_events = [j2.added(), j2.step("sms")]
    other_events = [other.added(), other.step("email")]
    events += j1_events + j2_events + other_events

    outcomes = stack.reader(stack.outcomes_topic)
    await stack.start_worker()
    stack.produce(events)
    got = by_id(await wait_event_ids(outcomes, [e.event_id for e in events]))

    # do_not_merge: a new person and record although Pinpoint has the e-mail already
    state = stack.sim.tenant("nomerge").snapshot()
    same = [c for c in state["candidates"] if c["attributes"]["email"] == email]
    assert len(same) == 2
    assert {c["attributes"]["first_name"] for c in same} == {
        "Earlier", dup.cand.snapshot["first_name"]}
    ours = [r for r in state["job_seekers"]
            if r["external_system_reference"] == f"sourcewhale:nomerge:{dup.cand.id}"]
    assert len(ours) == 1
    assert len(state["job_seekers"]) == 2
    assert notes_of(stack, "nomerge", ours[0]["external_system_reference"]) == refs(
        "nomerge", events[1])

    # destination: campaign camp-1 maps to job 42 (applications); camp-2 lands as a job seeker
    state = stack.sim.tenant("jobs").snapshot()
    apps = {a["external_system_reference"]: a for a in state["applications"]}
    assert set(apps) == {f"sourcewhale:jobs:{j1.cand.id}", f"sourcewhale:jobs:{j2.cand.id}"}
    assert {a["job_id"] for a in apps.values()} == {"42"}
    assert [js["external_system_reference"] for js in state["job_seekers"]] == [
        f"sourcewhale:jobs:{other.cand.id}"]
    assert [a["kind"] for a in got[j1_events[0].event_id]["actions"]] == ["create_application"]
    # linkedin_url is written on applications only; the job seeker of camp-2 goes without it
    for j in (j1, j2):
        app = apps[f"sourcewhale:jobs:{j.cand.id}"]
        assert app["attributes"]["linkedin_url"] == j.cand.snapshot["social"]["linkedin"]
    (seeker,) = state["job_seekers"]
    assert "linkedin_url" not in seeker["attributes"]
    (other_person,) = [c for c in state["candidates"] if c["id"] == seeker["candidate_id"]]
    assert other_person["attributes"]["town"] == other.cand.snapshot["location"]
    assert notes_of(stack, "jobs", f"sourcewhale:jobs:{j1.cand.id}", "applications") == refs(
        "jobs", j1_events[1])
    assert notes_of(stack, "jobs", f"sourcewhale:jobs:{j2.cand.id}", "applications") == refs(
        "jobs", j2_events[1])


async def test_sync_upon_interested_mandatory_protected_and_mapped_fields(stack: Stack) -> None:
    """Mandatory fields block, then pass; protected fields survive a merge; mappings fill customs"""
    custom = [{"id": cf, "name": name} for cf, name in
              (("10", "Seniority"), ("11", "Skills"), ("12", "Skills (copy)"), ("13", "GitHub"),
               ("14", "LinkedIn"))]
    stack.tenant("strict", "strict-secret", custom_fields=custom)
    stack.settings(settings_document(
        "strict",
        sync={"sync_upon": "interested", "only_notes_on_synced": True},
        fields={"mandatory": ["first_name", "last_name", "email", "phone"],
                "protected": ["phone"]},
        field_mapping={
            "string": {"first_name": "first_name", "last_name": "last_name", "email": "email",
                       "phone": "phone", "seniority": "custom:10"},
            "list": {"skills": ["custom:11", "custom:12"]},
            "social": {"linkedin": "custom:14", "github": "custom:13"},
        },
    ))
    gen = CampaignGenerator(seed=23)
    # A lacks the mandatory phone at first; B exists in Pinpoint already; C is new.
    cand_a = gen.candidate("strict", 1, with_phone=False)
    cand_b = gen.candidate("strict", 2)
    cand_c = gen.candidate("strict", 3)
    for cand in (cand_a, cand_b, cand_c):
        cand.snapshot["social"]["github"] = f"https://github.com/{cand.id}"
    b_email = cand_b.snapshot["emails"][0]
    await create_person(stack, "strict", "strict-secret", first_name="Bobby", last_name="Old",
                        email=b_email, phone="+1 555 0100")
    a, b, c = Journey(gen, cand_a), Journey(gen, cand_b), Journey(gen, cand_c)
    a_added, a_int = a.added(), a.interested()
    b_events = [b.added(), b.step("email"), b.replied(), b.interested()]
    c_events = [c.added(), c.interested()]
    first = [a_added, a_int, *b_events, *c_events]

    outcomes = stack.reader(stack.outcomes_topic)
    await stack.start_worker()
    stack.produce(first)
    got = by_id(await wait_event_ids(outcomes, [e.event_id for e in first]))

    assert verdict(got, a_added) == ("skipped", "sync_trigger_not_reached")
    assert verdict(got, b_events[1]) == ("skipped", "not_synced_yet")
    assert verdict(got, b_events[2]) == ("skipped", "not_synced_yet")
    assert verdict(got, a_int) == ("blocked_mandatory_fields", "missing_mandatory_fields")
    assert got[a_int.event_id]["missing_fields"] == ["phone"]
    state = stack.sim.tenant("strict").snapshot()
    assert all(r["external_system_reference"] != f"sourcewhale:strict:{cand_a.id}"
               for r in state["job_seekers"])

    # B merged into the person Pinpoint had: protected phone kept, the rest written
    assert verdict(got, b_events[3]) == ("synced", "sync_trigger_reached")
    kinds = [x["kind"] for x in got[b_events[3].event_id]["actions"]]
    assert "update_candidate" in kinds
    (person_b,) = [p for p in state["candidates"] if p["attributes"]["email"] == b_email]
    assert person_b["attributes"]["phone"] == "+1 555 0100"
    assert person_b["attributes"]["first_name"] == cand_b.snapshot["first_name"]
    assert person_b["attributes"]["last_name"] == cand_b.snapshot["last_name"]
    assert len(person_b["job_seeker_ids"]) == 1

    def customs(person: dict[str, Any]) -> dict[str, Any]:
        return {ca["custom_field_id"]: ca["value"] for ca in person["custom_attributes"]}

    (js_c,) = [r for r in state["job_seekers"]
               if r["external_system_reference"] == f"sourcewhale:strict:{cand_c.id}"]
    (person_c,) = [p for p in state["candidates"] if p["id"] == js_c["candidate_id"]]
    assert person_c["attributes"]["phone"] == cand_c.snapshot["phones"][0]
    for cand, person in ((cand_b, person_b), (cand_c, person_c)):
        skills = ", ".join(cand.snapshot["variables"]["skills"])
        assert customs(person) == {"10": cand.snapshot["variables"]["seniority"],
                                   "11": skills, "12": skills,
                                   "13": f"https://github.com/{cand.id}",
                                   "14": cand.snapshot["social"]["linkedin"]}

    # A later event with the phone filled in pushes A
    cand_a.snapshot["phones"] = ["+44 7700 900123"]
    a_int2 = a.interested()
    stack.produce([a_int2])
    got |= by_id(await wait_event_ids(outcomes, [a_int2.event_id]))
    assert verdict(got, a_int2) == ("synced", "sync_trigger_reached")
    state = stack.sim.tenant("strict").snapshot()
    (js,) = [r for r in state["job_seekers"]
             if r["external_system_reference"] == f"sourcewhale:strict:{cand_a.id}"]
    (person_a,) = [p for p in state["candidates"] if p["id"] == js["candidate_id"]]
    assert person_a["attributes"]["phone"] == "+44 7700 900123"
