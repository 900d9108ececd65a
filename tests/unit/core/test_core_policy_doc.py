"""docs/policy.md's tables are the code's behaviour: every case they cover is run through decide."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from worker.core.decision import (
    CandidateState,
    Decision,
    KeepForBackfill,
    NoteDraft,
    PushCandidate,
    UpdateCandidate,
    WriteNote,
    decide,
)
from worker.core.enums import NoteType, SyncTrigger
from worker.core.policy import resolve_policy

from .factories import ACTIVE, candidate_dict, make_event, make_settings

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "policy.md"

ACTIVITIES = {
    "candidate added": "added",
    "step sent": "sent",
    "replied": "replied",
    "marked interested": "interested",
    "marked not interested": "not_interested",
    "unsubscribed": "unsubscribed",
    "candidate updated": "updated",
}
GROUPS = {
    "any": list(ACTIVITIES),
    "outreach or response": [
        "step sent",
        "replied",
        "marked interested",
        "marked not interested",
        "unsubscribed",
    ],
}
NO_NOTE = {"candidate added", "candidate updated"}
PENDING = (
    NoteDraft(
        ref="sw-aaaaaaaaaaaa", text="Email sent\nSourceWhale ref: sw-aaaaaaaaaaaa", event_id="old-1"
    ),
    NoteDraft(
        ref="sw-bbbbbbbbbbbb", text="SMS sent\nSourceWhale ref: sw-bbbbbbbbbbbb", event_id="old-2"
    ),
)


def table(marker: str) -> list[dict[str, str]]:
    """The rows of the markdown table between `<!-- {marker}:start/end -->` in docs/policy.md."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    lines = [ln.strip() for ln in body.strip().splitlines() if ln.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    assert all(len(r) == len(header) for r in rows), f"{marker}: ragged table"
    return [dict(zip(header, r, strict=True)) for r in rows]


def stage_table() -> dict[tuple[str, str], bool]:
    """(activity, sync upon) → reached, from the doc."""
    out = {}
    for row in table("stages-table"):
        for trigger in SyncTrigger:
            out[(row["activity"], trigger.value)] = row[f"sync upon {trigger.value}"] == "yes"
    return out


def test_stage_table_matches_code() -> None:
    """The doc's 'which activities count for sync upon' table is what the code does."""
    doc = stage_table()
    assert {a for a, _ in doc} == set(ACTIVITIES)
    for (activity, trigger), reached in doc.items():
        event = make_event(ACTIVITIES[activity])
        policy = resolve_policy(make_settings(sync={"sync_upon": trigger}), "user-1")
        code = event.stage is not None and event.stage >= policy.sync_stage
        assert code is reached, (activity, trigger)


def _matches(cell: str, value: str) -> bool:
    return cell in {"any", value}


def _case_key(row: dict[str, str]) -> list[str]:
    activity = row["activity"]
    return GROUPS.get(activity, [activity])


def _expected_actions(what: str, backfill: bool, pending: int) -> list[str]:
    out: list[str] = []
    for part in what.split(" + "):
        match part:
            case "nothing":
                pass
            case "push":
                out.append("push")
            case "kept notes":
                out.extend(["backfilled"] * (pending if backfill else 0))
            case "note":
                out.append("note")
            case "keep note for later":
                out.append("keep")
            case "update record":
                out.append("update")
            case _:
                raise AssertionError(f"unknown phrase in 'what happens': {part!r}")
    return out


def _actual_actions(decision: Decision) -> list[str]:
    out = []
    for action in decision.actions:
        if isinstance(action, PushCandidate):
            out.append("push")
        elif isinstance(action, WriteNote):
            out.append("backfilled" if action.backfilled else "note")
        elif isinstance(action, KeepForBackfill):
            out.append("keep")
        elif isinstance(action, UpdateCandidate):
            out.append("update")
    return out


def test_decision_table_matches_code_and_is_complete() -> None:
    """Every combination of the table's columns is covered, consistently, and decide agrees."""
    rows = table("decision-table")
    reaches = stage_table()
    on_off = ["on", "off"]
    checked = 0
    mismatches: list[str] = []
    for (
        activity,
        active,
        trigger,
        selected,
        only,
        backfill,
        manual,
        where,
        mandatory,
    ) in itertools.product(
        ACTIVITIES,
        ["active", "inactive"],
        [t.value for t in SyncTrigger],
        ["selected", "not selected"],
        on_off,
        on_off,
        on_off,
        ["yes", "no", "no, notes kept"],
        ["filled", "missing"],
    ):
        reached = "yes" if reaches[(activity, trigger)] else "no"
        note_cell = "—" if activity in NO_NOTE else selected
        in_pinpoint = "yes" if where == "yes" else "no"
        situation = {
            "integration": active,
            "sync upon reached": reached,
            "note for it": note_cell,
            "only notes on synced records": only,
            "backfill": backfill,
            "sync manual updates": manual,
            "in Pinpoint": in_pinpoint,
            "mandatory fields": mandatory,
        }
        matching = [
            r
            for r in rows
            if activity in _case_key(r)
            and all(_matches(r[col], value) for col, value in situation.items())
        ]
        label = f"{activity} / {situation}"
        assert matching, f"no row of docs/policy.md covers: {label}"
        verdicts = {(r["what happens"], r["outcome"], r["reason"]) for r in matching}
        assert len(verdicts) == 1, f"rows disagree for {label}: {verdicts}"
        what, outcome, reason = verdicts.pop()

        groups: dict[str, Any] = {
            "integration": dict(ACTIVE) if active == "active" else {"active": False},
            "general": {
                "create_notes_upon": [n.value for n in NoteType] if selected == "selected" else [],
                "sync_manual_updates": manual == "on",
            },
            "sync": {
                "sync_upon": trigger,
                "only_notes_on_synced": only == "on",
                "backfill_on_sync": backfill == "on",
            },
            "fields": {"mandatory": ["email"]},
        }
        policy = resolve_policy(make_settings(**groups), "user-1", "cmp-1")
        candidate = candidate_dict(emails=[] if mandatory == "missing" else ["ada@example.com"])
        event = make_event(ACTIVITIES[activity], candidate=candidate)
        pending = PENDING if where == "no, notes kept" else ()
        state = CandidateState(synced=where == "yes", pending_notes=pending)
        decision = decide(event, policy, state)
        expected = (_expected_actions(what, backfill == "on", len(pending)), outcome, reason)
        actual = (_actual_actions(decision), decision.outcome.value, decision.reason.value)
        if expected != actual:
            mismatches.append(f"{label}: doc says {expected}, code does {actual}")
        checked += 1
    assert not mismatches, "\n".join(mismatches[:10])
    assert checked == 7 * 2 * 3 * 2 * 2 * 2 * 2 * 3 * 2


def test_every_table_row_is_reachable() -> None:
    """No row of the decision table is dead: each matches at least one real situation."""
    rows = table("decision-table")
    for row in rows:
        assert row["outcome"]
        assert row["reason"]
        assert row["activity"] in ACTIVITIES or row["activity"] in GROUPS
