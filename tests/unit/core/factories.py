"""Builders of events, settings and policies for the core's unit tests."""

from __future__ import annotations

import json
from typing import Any

from worker.core.events import CampaignEvent, parse_event
from worker.core.policy import EffectivePolicy, resolve_policy
from worker.core.settings import TeamSettings, settings_from_dict

TEAM = "team-1"
CANDIDATE = "cand-1"

SHORT_TYPES = {
    "added": "com.sourcewhale.candidate.added",
    "sent": "com.sourcewhale.outreach.sent",
    "replied": "com.sourcewhale.candidate.replied",
    "interested": "com.sourcewhale.candidate.interested",
    "not_interested": "com.sourcewhale.candidate.not_interested",
    "updated": "com.sourcewhale.candidate.updated",
    "unsubscribed": "com.sourcewhale.candidate.unsubscribed",
}


def candidate_dict(**overrides: Any) -> dict[str, Any]:
    """A complete candidate snapshot."""
    cand: dict[str, Any] = {
        "id": CANDIDATE,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "emails": ["ada@example.com", "ada@work.example"],
        "phones": ["+44 20 7946 0000"],
        "job_title": "Engineer",
        "company": "Analytical Engines",
        "location": "London",
        "social": {
            "linkedin": "https://www.linkedin.com/in/ada",
            "github": "https://github.com/ada",
        },
        "variables": {"skills": ["maths", "poetry"], "seniority": "senior"},
        "tagged_fields": {},
    }
    cand.update(overrides)
    return cand


def event_dict(kind: str = "sent", event_id: str = "evt-1", **data: Any) -> dict[str, Any]:
    """A valid event of the short `kind` (see SHORT_TYPES), with `data` fields overridden."""
    payload: dict[str, Any] = {
        "team_id": TEAM,
        "user_id": "user-1",
        "campaign_id": "cmp-1",
        "campaign_name": "Senior engineers",
        "candidate": candidate_dict(),
    }
    if kind == "sent":
        payload["step"] = {"number": 2, "channel": "email", "subject": "A role", "body": "Hi Ada"}
    if kind == "replied":
        payload["reply"] = {"channel": "email", "snippet": "Happy to talk"}
    if kind == "updated":
        payload["changed_fields"] = []
    payload.update(data)
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "sourcewhale/outreach",
        "type": SHORT_TYPES[kind],
        "time": "2024-05-01T10:00:00Z",
        "subject": f"candidate/{payload['candidate']['id']}",
        "datacontenttype": "application/json",
        "data": payload,
    }


def raw_event(kind: str = "sent", **data: Any) -> bytes:
    """`event_dict` as record bytes."""
    return json.dumps(event_dict(kind, **data)).encode()


def make_event(kind: str = "sent", event_id: str = "evt-1", **data: Any) -> CampaignEvent:
    """A parsed event."""
    return parse_event(json.dumps(event_dict(kind, event_id, **data)).encode())


ACTIVE = {"active": True, "subdomain": "acme", "api_key_ref": "acme-key"}


def make_settings(**groups: Any) -> TeamSettings:
    """An active team's settings with the given groups (e.g. sync={...})."""
    doc: dict[str, Any] = {"team_id": TEAM, "version": 1, "integration": dict(ACTIVE)}
    doc.update(groups)
    return settings_from_dict(doc)


def make_policy(
    user_id: str | None = "user-1", campaign_id: str = "cmp-1", **groups: Any
) -> EffectivePolicy:
    """The effective policy of `make_settings(**groups)` for a user and campaign."""
    return resolve_policy(make_settings(**groups), user_id, campaign_id)
