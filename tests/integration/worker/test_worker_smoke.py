"""The worker end to end: events in through Kafka, Pinpoint records and notes out, outcomes."""

from __future__ import annotations

import pytest

from worker.tools.sample import CampaignGenerator
from worker.tools.stack import settings_document

from .conftest import Stack

pytestmark = pytest.mark.integration


async def test_added_candidates_are_created_and_noted(stack: Stack) -> None:
    """Sync upon added: each candidate gets one job seeker; email steps become notes in order."""
    stack.tenant("acme", "acme-secret")
    stack.settings(settings_document(
        "acme", general={"create_notes_upon": ["email", "replied"]},
        sync={"sync_upon": "added"}))
    gen = CampaignGenerator(seed=11)
    events = gen.campaign(["acme"], 5, steps=2, reply_rate=1.0)
    outcomes = stack.reader(stack.outcomes_topic)
    await stack.start_worker()
    stack.produce(events)
    values = await stack.wait_outcomes(outcomes, len(events))
    state = stack.sim.tenant("acme").snapshot()
    assert len(state["job_seekers"]) == 5
    refs = sorted(js["external_system_reference"] for js in state["job_seekers"])
    assert refs == sorted(f"sourcewhale:acme:{e.candidate_id}" for e in events
                          if e.type.endswith("candidate.added"))
    noted = [v for v in values if v["outcome"] == "noted"]
    assert len(state["comments"]) == len(noted) + sum(
        1 for v in values if v["outcome"] == "synced" and len(v["actions"]) > 1)
    assert {v["outcome"] for v in values} <= {"synced", "noted", "skipped", "updated"}
