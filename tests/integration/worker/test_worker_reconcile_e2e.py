"""Reconciliation end to end: what a crash left behind, and records Pinpoint lost, are found
again through the API as the reference documents it (external references in both record kinds,
notes by marker over every page, 404 on a known record)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from worker.core.decision import external_ref
from worker.core.enums import ActionKind
from worker.core.notes import REF_LABEL, note_ref
from worker.store.sqlite import SqliteStateStore
from worker.tools.sample import CampaignGenerator
from worker.tools.stack import settings_document

from .conftest import Stack, marker_of, wait_event_ids
from .test_worker_policy_e2e import Journey, by_id

pytestmark = pytest.mark.integration


async def api(stack: Stack, team: str, key: str, method: str, path: str,
              body: dict[str, Any] | None = None) -> Any:
    """One request to the team's Pinpoint (the simulator) as a person or another tool would."""
    url = f"{stack.sim.url}/tenants/{team}/api/v1{path}"
    headers = {"X-API-KEY": key, "Content-Type": "application/vnd.api+json"}
    async with aiohttp.ClientSession() as session, session.request(
            method, url, json=body, headers=headers) as resp:
        assert resp.status < 300, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json() if resp.status != 204 else None


async def claim(stack: Stack, key: str, team: str, kind: ActionKind) -> None:
    """The intent a worker claims before its call, left in its store by a crash."""
    async with SqliteStateStore(stack.tmp / "state.db") as store:
        await store.claim_effect(key, team_id=team, kind=str(kind), fence=None,
                                 attempt_window_s=0)


def person(cand: Any) -> dict[str, str]:
    snap = cand.snapshot
    return {"first_name": snap["first_name"], "last_name": snap["last_name"],
            "email": snap["emails"][0]}


async def test_a_record_made_before_a_crash_is_found_as_the_other_kind(stack: Stack) -> None:
    """A job seeker created just before a crash (its done mark never written) is found when the
    next push would make an application (the campaign got mapped to a job meanwhile): one
    record, reported as the job seeker it is."""
    stack.tenant("crash", "crash-secret", jobs=[{"id": "42", "title": "Engineer"}])
    stack.settings(settings_document("crash", destination={"campaign_jobs": {"camp-1": "42"}}))
    gen = CampaignGenerator(seed=31)
    cand = gen.candidate("crash", 1)
    ref = external_ref("crash", cand.id)
    made = await api(stack, "crash", "crash-secret", "POST", "/job_seekers", {"data": {
        "type": "job_seekers",
        "attributes": {**person(cand), "external_system_reference": ref}}})
    await claim(stack, f"record:crash:{cand.id}", "crash", ActionKind.CREATE_JOB_SEEKER)
    j = Journey(gen, cand)
    events = [j.added(), j.step("email")]

    outcomes = stack.reader(stack.outcomes_topic)
    await stack.start_worker()
    stack.produce(events)
    got = by_id(await wait_event_ids(outcomes, [e.event_id for e in events]))

    state = stack.sim.tenant("crash").snapshot()
    assert state["applications"] == []
    assert [r["external_system_reference"] for r in state["job_seekers"]] == [ref]
    assert got[events[0].event_id]["actions"][0] == {
        "kind": "create_job_seeker", "pinpoint_id": made["data"]["id"], "status": "reconciled"}
    (note,) = state["comments"]
    assert marker_of(note["body_text"]) == note_ref("crash", events[1].event_id)
    assert str(note["commentable_id"]) == made["data"]["id"]


async def test_a_note_written_before_a_crash_is_found_among_many(stack: Stack) -> None:
    """A note written just before a crash is found by its marker although its record holds
    more than 100 notes: it is not written twice."""
    stack.tenant("busy", "busy-secret")
    stack.settings(settings_document("busy"))
    gen = CampaignGenerator(seed=32)
    cand = gen.candidate("busy", 1)
    j = Journey(gen, cand)
    added = j.added()
    outcomes = stack.reader(stack.outcomes_topic)
    worker = await stack.start_worker()
    stack.produce([added])
    await wait_event_ids(outcomes, [added.event_id])
    await stack.stop_worker(worker)

    (record,) = stack.sim.tenant("busy").snapshot()["job_seekers"]
    mail = j.step("email")
    marker = note_ref("busy", mail.event_id)
    commentable = {"commentable": {"data": {"type": "job_seekers", "id": str(record["id"])}}}

    async def comment(text: str) -> None:
        await api(stack, "busy", "busy-secret", "POST", "/comments", {"data": {
            "type": "comments", "attributes": {"body_text": text},
            "relationships": commentable}})

    for n in range(110):
        await comment(f"a recruiter's note {n}")
    await comment(f"Email sent\n{REF_LABEL}{marker}")  # what the crashed worker wrote
    for n in range(5):
        await comment(f"a later note {n}")
    await claim(stack, f"note:busy:{marker}", "busy", ActionKind.WRITE_COMMENT)

    await stack.start_worker()
    stack.produce([mail])
    got = by_id(await wait_event_ids(outcomes, [mail.event_id]))
    assert got[mail.event_id]["outcome"] == "noted"
    assert got[mail.event_id]["actions"][0]["status"] == "reconciled"
    comments = stack.sim.tenant("busy").snapshot()["comments"]
    assert len(comments) == 116
    assert [marker_of(c["body_text"]) for c in comments].count(marker) == 1


async def test_a_known_record_that_answers_404_is_found_again_or_pushed_again(
        stack: Stack) -> None:
    """A note for a record deleted in Pinpoint goes to the record found by its external
    reference (here remade as an application), or, when none is left, to a record pushed
    afresh; nothing is dead-lettered."""
    stack.tenant("gone", "gone-secret", jobs=[{"id": "7", "title": "Designer"}])
    stack.settings(settings_document("gone"))
    gen = CampaignGenerator(seed=33)
    moved, deleted = gen.candidate("gone", 1), gen.candidate("gone", 2)
    jm, jd = Journey(gen, moved), Journey(gen, deleted)
    first = [jm.added(), jd.added()]
    outcomes = stack.reader(stack.outcomes_topic)
    dlq = stack.reader(stack.dlq_topic)
    await stack.start_worker()
    stack.produce(first)
    await wait_event_ids(outcomes, [e.event_id for e in first])

    seekers = {r["external_system_reference"]: r
               for r in stack.sim.tenant("gone").snapshot()["job_seekers"]}
    for cand in (moved, deleted):
        await api(stack, "gone", "gone-secret", "DELETE",
                  f"/job_seekers/{seekers[external_ref('gone', cand.id)]['id']}")
    remade = await api(stack, "gone", "gone-secret", "POST", "/applications", {"data": {
        "type": "applications",
        "attributes": {**person(moved), "external_system_reference": external_ref(
            "gone", moved.id), "skip_notifications_on_create": True},
        "relationships": {"job": {"data": {"type": "jobs", "id": "7"}}}}})

    second = [jm.step("email"), jd.step("email")]
    stack.produce(second)
    got = by_id(await wait_event_ids(outcomes, [e.event_id for e in second]))
    assert got[second[0].event_id]["outcome"] == "noted"
    assert got[second[1].event_id]["outcome"] == "synced"
    assert [a["kind"] for a in got[second[1].event_id]["actions"]] == [
        "create_job_seeker", "write_comment"]
    state = stack.sim.tenant("gone").snapshot()
    by_marker = {marker_of(c["body_text"]): c for c in state["comments"]}
    on_app = by_marker[note_ref("gone", second[0].event_id)]
    assert str(on_app["commentable_id"]) == remade["data"]["id"]
    (again,) = [r for r in state["job_seekers"]
                if r["external_system_reference"] == external_ref("gone", deleted.id)]
    on_new = by_marker[note_ref("gone", second[1].event_id)]
    assert str(on_new["commentable_id"]) == str(again["id"])
    assert dlq.values() == []
