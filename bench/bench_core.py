"""Micro-benchmark of the pure core: parse + resolve + decide, in events per second on one core.

A realistic mix: three teams with different settings (defaults; sync upon replied with notes only
on synced records, backfill, mappings and filterable fields; sync upon interested with a locked
team and user overrides), 2,000 candidates each living through a campaign (added, up to four
steps on various channels, replies, interest marks, unsubscribes, edits), interleaved as a
partition would deliver them. Each candidate's sync state is carried from one decision to the
next, as the state store would. Run: `.venv/bin/python bench/bench_core.py`.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.core.decision import (
    CandidateState,
    Decision,
    KeepForBackfill,
    PushCandidate,
    decide,
)
from worker.core.events import parse_event
from worker.core.policy import resolve_policy
from worker.core.settings import TeamSettings, settings_from_dict

TARGET = 50_000
CANDIDATES = 2_000
CHANNELS = [
    "email",
    "email",
    "email",
    "sms",
    "linkedin_inmail",
    "linkedin_connection_request",
    "phone_call",
    "task",
]
BODY = (
    "Hi {first},\n\nI came across your profile and thought you might be interested in a "
    "<b>Senior Engineer</b> role at one of our clients. They are building a platform for "
    "logistics teams and are growing fast. Would you be open to a quick call this week?\n\n"
    "Best regards,\nSam"
)


def team_settings() -> dict[str, TeamSettings]:
    """The three teams of the mix."""
    active = {"active": True, "subdomain": "acme", "api_key_ref": "acme-key"}
    return {
        "team-a": settings_from_dict({"team_id": "team-a", "version": 1, "integration": active}),
        "team-b": settings_from_dict(
            {
                "team_id": "team-b",
                "version": 7,
                "integration": {**active, "subdomain": "beta"},
                "general": {
                    "create_notes_upon": ["email", "replied", "interested", "not_interested"]
                },
                "sync": {
                    "sync_upon": "replied",
                    "only_notes_on_synced": True,
                    "backfill_on_sync": True,
                },
                "fields": {
                    "displayed": ["custom:10", "custom:11"],
                    "protected": ["phone"],
                    "filterable": ["custom:12", "custom:10"],
                    "mandatory": ["first_name", "last_name", "email"],
                },
                "field_mapping": {
                    "string": {
                        "first_name": "first_name",
                        "last_name": "last_name",
                        "email": "email",
                        "phone": "phone",
                        "company": "custom:12",
                    },
                    "list": {"skills": ["custom:20", "custom:21"]},
                    "social": {"linkedin": "linkedin_url", "github": "custom:30"},
                },
                "destination": {"campaign_jobs": {"cmp-b1": "job-9"}},
            }
        ),
        "team-c": settings_from_dict(
            {
                "team_id": "team-c",
                "version": 3,
                "integration": {**active, "subdomain": "gamma"},
                "sync": {
                    "sync_upon": "interested",
                    "locked": True,
                    "admins": ["u-admin"],
                    "user_overrides": {
                        "u-admin": {"sync_upon": "replied"},
                        "u-2": {"only_notes_on_synced": True},
                    },
                },
            }
        ),
    }


def candidate(rng: random.Random, team: str, n: int) -> dict[str, Any]:
    """A candidate snapshot."""
    first = rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"])
    return {
        "id": f"cand-{n}",
        "first_name": first,
        "last_name": rng.choice(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov"]),
        "emails": [f"{first.lower()}.{n}@example.com"] if rng.random() < 0.95 else [],
        "phones": ["+44 20 7946 0000"] if rng.random() < 0.6 else [],
        "job_title": "Software Engineer",
        "company": "Initech",
        "location": "London",
        "social": {
            "linkedin": f"https://www.linkedin.com/in/{first.lower()}-{n}",
            "github": f"https://github.com/{first.lower()}{n}",
        },
        "variables": {"skills": ["python", "kafka", "postgres"], "seniority": "senior"},
        "tagged_fields": {"custom:10": "Referral"} if team == "team-b" else {},
    }


def lifecycle(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """One candidate's events, in order."""
    team = ("team-a", "team-b", "team-c")[n % 3]
    cand = candidate(rng, team, n)
    base = datetime(2024, 5, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=n)
    user = rng.choice(["u-1", "u-2", "u-admin"])
    campaign = rng.choice(["cmp-b1", "cmp-2", "cmp-3"])
    events: list[dict[str, Any]] = []

    def emit(kind: str, **extra: Any) -> None:
        i = len(events)
        events.append(
            {
                "specversion": "1.0",
                "id": f"evt-{n}-{i}",
                "source": "sourcewhale/outreach",
                "type": f"com.sourcewhale.{kind}",
                "time": (base + timedelta(hours=i)).isoformat(),
                "subject": f"candidate/{cand['id']}",
                "datacontenttype": "application/json",
                "data": {
                    "team_id": team,
                    "user_id": user,
                    "campaign_id": campaign,
                    "campaign_name": "Senior engineers, London",
                    "candidate": cand,
                    **extra,
                },
            }
        )

    emit("candidate.added")
    for step in range(1, rng.randint(2, 5)):
        channel = rng.choice(CHANNELS)
        emit(
            "outreach.sent",
            step={
                "number": step,
                "channel": channel,
                "subject": "A role you may like" if channel == "email" else None,
                "body": BODY.format(first=cand["first_name"]),
            },
        )
        if rng.random() < 0.25:
            emit(
                "candidate.replied",
                reply={"channel": channel, "snippet": "Thanks, happy to talk on Thursday."},
            )
            roll = rng.random()
            if roll < 0.4:
                emit("candidate.interested")
            elif roll < 0.7:
                emit("candidate.not_interested")
            break
    if rng.random() < 0.05:
        emit("candidate.unsubscribed")
    if rng.random() < 0.1:
        emit("candidate.updated", changed_fields=["phones"])
    return events


def build_records(seed: int = 7) -> list[bytes]:
    """All records, interleaved round-robin across candidates (per-candidate order kept)."""
    rng = random.Random(seed)
    lives = [lifecycle(rng, n) for n in range(CANDIDATES)]
    records: list[bytes] = []
    depth = 0
    while True:
        row = [life[depth] for life in lives if depth < len(life)]
        if not row:
            return records
        records.extend(json.dumps(e).encode() for e in row)
        depth += 1


def apply(state: CandidateState, decision: Decision) -> CandidateState:
    """What the executor would record after carrying out `decision` successfully."""
    for action in decision.actions:
        if isinstance(action, PushCandidate):
            state = CandidateState(synced=True, pinpoint_candidate_id="p", record_id="r")
        elif isinstance(action, KeepForBackfill):
            state = replace(state, pending_notes=(*state.pending_notes, action.note))
    return state


def run(records: list[bytes], teams: dict[str, TeamSettings]) -> tuple[float, Counter[str]]:
    """One pass over the records; the CPU seconds it took and the outcomes."""
    states: dict[str, CandidateState] = {}
    outcomes: Counter[str] = Counter()
    empty = CandidateState()
    started = time.process_time()
    for raw in records:
        event = parse_event(raw)
        data = event.data
        policy = resolve_policy(teams.get(data.team_id), data.user_id, data.campaign_id)
        key = event.key
        decision = decide(event, policy, states.get(key, empty))
        if decision.actions:
            states[key] = apply(states.get(key, empty), decision)
        outcomes[decision.outcome] += 1
    return time.process_time() - started, outcomes


def main() -> None:
    """Build the mix, warm up, then time passes over it for about ten seconds at most."""
    records = build_records()
    teams = team_settings()
    run(records[:2_000], teams)
    best = float("inf")
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + 10
    passes = 0
    while passes < 5 and (passes < 2 or time.monotonic() < deadline):
        seconds, outcomes = run(records, {k: v.model_copy() for k, v in teams.items()})
        best = min(best, seconds)
        passes += 1
    rate = len(records) / best
    size = sum(map(len, records)) / len(records)
    print(
        f"events: {len(records)} per pass (mean {size:.0f} bytes), {passes} passes, "
        f"best pass {best:.3f} s CPU"
    )
    print("outcomes: " + ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))
    verdict = "OK" if rate >= TARGET else "BELOW TARGET"
    print(
        f"parse+resolve+decide: {rate:,.0f} events/s on one core (target >= {TARGET:,}): {verdict}"
    )


if __name__ == "__main__":
    main()
