"""Realistic sample campaign traffic: the demo's, the end-to-end tests' and the benchmarks'.

Deterministic for a given seed. Each candidate goes through a plausible campaign: added, then
outreach steps on several channels, then for some a reply, and for some of those a verdict
(interested / not interested); a few are edited by hand or unsubscribe. Events of one candidate
are in time order; candidates interleave, as they would on the topic.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken",
               "Radia", "Tim", "Frances", "Linus", "Hedy", "Dennis", "Katherine", "John")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton",
              "Thompson", "Perlman", "Berners-Lee", "Allen", "Torvalds", "Lamarr", "Ritchie")
COMPANIES = ("Initech", "Globex", "Hooli", "Umbrella", "Stark Industries", "Wayne Enterprises")
TITLES = ("Backend Engineer", "Data Scientist", "Engineering Manager", "SRE", "Product Designer")
CITIES = ("London", "Manchester", "Berlin", "Lisbon", "Dublin", "Amsterdam")
CHANNELS = ("email", "linkedin_inmail", "email", "sms", "linkedin_connection_request",
            "phone_call", "task")
SUBJECTS = ("Quick question about your next move", "A role at {company}", "Following up",
            "Are you open to a chat?")
SNIPPETS = ("Thanks for reaching out, happy to talk next week.",
            "Not looking right now, but keep me posted.",
            "Sounds interesting! What's the salary range?",
            "Please remove me from your list.")

EVENT_PREFIX = "com.sourcewhale."


@dataclass
class Candidate:
    team_id: str
    id: str
    snapshot: dict[str, Any]


@dataclass
class SampleEvent:
    """One event ready to produce: key and value bytes, plus what it is for assertions."""

    key: bytes
    value: bytes
    team_id: str
    candidate_id: str
    event_id: str
    type: str


@dataclass
class CampaignGenerator:
    """Builds events for teams' campaigns; ``seed`` makes the traffic reproducible."""

    seed: int = 7
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    _rng: random.Random = field(init=False)
    _n: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - sample data, not cryptography

    def candidate(self, team_id: str, index: int, *, with_phone: bool = True) -> Candidate:
        rng = self._rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        cid = f"cand-{index:06d}"
        handle = f"{first}.{last}.{index}".lower().replace(" ", "")
        company = rng.choice(COMPANIES)
        snapshot: dict[str, Any] = {
            "id": cid,
            "first_name": first,
            "last_name": last,
            "emails": [f"{handle}@example.com"],
            "phones": [f"+44 7700 {rng.randint(100000, 999999)}"] if with_phone else [],
            "job_title": rng.choice(TITLES),
            "company": company,
            "location": rng.choice(CITIES),
            "social": {"linkedin": f"https://www.linkedin.com/in/{handle}"},
            "variables": {"seniority": rng.choice(["junior", "mid", "senior"]),
                          "skills": rng.sample(["python", "kafka", "go", "sql", "k8s"], 2)},
            "tagged_fields": {},
        }
        return Candidate(team_id, cid, snapshot)

    def event(self, cand: Candidate, etype: str, *, at: datetime, campaign_id: str = "camp-1",
              user_id: str = "user-1", **data: Any) -> SampleEvent:
        self._n += 1
        event_id = f"evt-{cand.team_id}-{self.seed}-{self._n:08d}"
        body = {
            "specversion": "1.0",
            "id": event_id,
            "source": "sourcewhale/campaign-service",
            "type": EVENT_PREFIX + etype,
            "time": at.isoformat().replace("+00:00", "Z"),
            "subject": f"candidate/{cand.id}",
            "datacontenttype": "application/json",
            "data": {
                "team_id": cand.team_id,
                "user_id": user_id,
                "campaign_id": campaign_id,
                "campaign_name": "Backend hiring Q4",
                "candidate": cand.snapshot,
                **data,
            },
        }
        return SampleEvent(
            key=f"{cand.team_id}:{cand.id}".encode(),
            value=json.dumps(body, separators=(",", ":")).encode(),
            team_id=cand.team_id, candidate_id=cand.id, event_id=event_id,
            type=EVENT_PREFIX + etype,
        )

    def journey(self, cand: Candidate, *, steps: int = 3, reply_rate: float = 0.5,
                interested_rate: float = 0.5) -> list[SampleEvent]:
        """One candidate's campaign, in time order."""
        rng = self._rng
        at = self.start + timedelta(minutes=rng.randint(0, 600))
        events = [self.event(cand, "candidate.added", at=at)]
        company = cand.snapshot["company"]
        for number in range(1, steps + 1):
            at += timedelta(hours=rng.randint(1, 48))
            channel = CHANNELS[(number - 1 + rng.randint(0, 2)) % len(CHANNELS)]
            step: dict[str, Any] = {"number": number, "channel": channel}
            if channel == "email":
                step["subject"] = rng.choice(SUBJECTS).format(company=company)
                step["body"] = f"Hi {cand.snapshot['first_name']}, I came across your profile..."
            events.append(self.event(cand, "outreach.sent", at=at, step=step))
        if rng.random() < 0.05:
            at += timedelta(hours=1)
            events.append(self.event(cand, "candidate.updated", at=at,
                                     changed_fields=["job_title", "location"]))
        if rng.random() < reply_rate:
            at += timedelta(hours=rng.randint(1, 24))
            events.append(self.event(cand, "candidate.replied", at=at,
                                     reply={"channel": "email", "snippet": rng.choice(SNIPPETS)}))
            verdict = rng.random()
            if verdict < interested_rate:
                at += timedelta(minutes=rng.randint(5, 120))
                events.append(self.event(cand, "candidate.interested", at=at))
            elif verdict < interested_rate + 0.3:
                at += timedelta(minutes=rng.randint(5, 120))
                events.append(self.event(cand, "candidate.not_interested", at=at))
        elif rng.random() < 0.1:
            at += timedelta(hours=2)
            events.append(self.event(cand, "candidate.unsubscribed", at=at))
        return events

    def campaign(self, team_ids: list[str], candidates_per_team: int, **journey: Any,
                 ) -> list[SampleEvent]:
        """Every team's candidates' journeys, interleaved by time across candidates."""
        per_candidate: list[list[SampleEvent]] = []
        index = 0
        for team in team_ids:
            for _ in range(candidates_per_team):
                index += 1
                per_candidate.append(self.journey(self.candidate(team, index), **journey))
        return list(interleave(per_candidate, self._rng))


def interleave(streams: list[list[SampleEvent]], rng: random.Random) -> Iterator[SampleEvent]:
    """Merge per-candidate streams at random, keeping each stream's own order."""
    cursors = [0] * len(streams)
    live = [i for i, s in enumerate(streams) if s]
    while live:
        pick = rng.randrange(len(live))
        i = live[pick]
        yield streams[i][cursors[i]]
        cursors[i] += 1
        if cursors[i] == len(streams[i]):
            live[pick] = live[-1]
            live.pop()


def malformed_events(team_id: str) -> list[tuple[bytes, bytes]]:
    """A few records upstream services get wrong: each must be dead-lettered, never fatal."""
    valid_but_unknown = json.dumps({
        "specversion": "1.0", "id": "evt-bad-type", "source": "x", "time": "2026-11-02T09:00:00Z",
        "type": "com.sourcewhale.candidate.teleported", "data": {},
    }).encode()
    missing_candidate = json.dumps({
        "specversion": "1.0", "id": "evt-bad-data", "source": "x", "time": "2026-11-02T09:00:00Z",
        "type": "com.sourcewhale.candidate.added",
        "data": {"team_id": team_id, "campaign_id": "c"},
    }).encode()
    return [
        (f"{team_id}:cand-bad-1".encode(), b"{not json"),
        (f"{team_id}:cand-bad-2".encode(), b"\xff\xfe\x00garbage"),
        (f"{team_id}:cand-bad-3".encode(), valid_but_unknown),
        (f"{team_id}:cand-bad-4".encode(), missing_candidate),
    ]
