"""The decision function: every setting and their interactions, table-driven and property-based."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.decision import (
    CandidateState,
    Decision,
    KeepForBackfill,
    NoteDraft,
    PushCandidate,
    UpdateCandidate,
    WriteNote,
    decide,
    external_ref,
)
from worker.core.enums import ActionKind, DestinationKind, NoteType, Outcome, Reason, SyncTrigger
from worker.core.events import EVENT_STAGES, CampaignEvent
from worker.core.fields import map_fields, map_filterable
from worker.core.notes import note_ref
from worker.core.policy import INACTIVE_POLICY, EffectivePolicy, resolve_policy

from .factories import SHORT_TYPES, candidate_dict, make_event, make_policy, make_settings

pytestmark = pytest.mark.unit

SYNCED = CandidateState(
    synced=True,
    pinpoint_candidate_id="p-1",
    record_kind=DestinationKind.JOB_SEEKER,
    record_id="js-1",
)
UNSYNCED = CandidateState()
ALL_KINDS = sorted(SHORT_TYPES)


def kinds(decision: Decision) -> list[str]:
    """The action class names of a decision, in order."""
    return [type(a).__name__ for a in decision.actions]


def push_of(decision: Decision) -> PushCandidate:
    """The decision's PushCandidate action."""
    action = decision.actions[0]
    assert isinstance(action, PushCandidate)
    return action


# --- sync_upon by event type ---------------------------------------------------------------

REACHES = {
    ("added", "added"): True,
    ("sent", "added"): True,
    ("replied", "added"): True,
    ("interested", "added"): True,
    ("not_interested", "added"): True,
    ("unsubscribed", "added"): True,
    ("updated", "added"): False,
    ("added", "replied"): False,
    ("sent", "replied"): False,
    ("replied", "replied"): True,
    ("interested", "replied"): True,
    ("not_interested", "replied"): True,
    ("unsubscribed", "replied"): False,
    ("updated", "replied"): False,
    ("added", "interested"): False,
    ("sent", "interested"): False,
    ("replied", "interested"): False,
    ("interested", "interested"): True,
    ("not_interested", "interested"): False,
    ("unsubscribed", "interested"): False,
    ("updated", "interested"): False,
}


@pytest.mark.parametrize(("kind", "sync_upon"), sorted(REACHES))
def test_sync_upon_threshold_per_event_type(kind: str, sync_upon: str) -> None:
    """An unsynced candidate is pushed exactly when the event reaches sync_upon (no notes)."""
    policy = make_policy(general={"create_notes_upon": []}, sync={"sync_upon": sync_upon})
    decision = decide(make_event(kind), policy, UNSYNCED)
    pushed = decision.outcome is Outcome.SYNCED
    assert pushed is REACHES[(kind, sync_upon)]
    if pushed:
        assert decision.reason is Reason.SYNC_TRIGGER_REACHED
        assert kinds(decision) == ["PushCandidate"]
    else:
        assert decision.actions == ()
        assert decision.outcome is Outcome.SKIPPED


def test_stage_table_is_complete() -> None:
    """Every event type has a stage entry."""
    assert {t.value for t in EVENT_STAGES} == set(SHORT_TYPES.values())


# --- only_notes_on_synced by synced ----------------------------------------------------------


@pytest.mark.parametrize(
    ("only_synced", "state", "expected_kinds", "outcome", "reason"),
    [
        (True, SYNCED, ["WriteNote"], Outcome.NOTED, Reason.NOTE_WRITTEN),
        (False, SYNCED, ["WriteNote"], Outcome.NOTED, Reason.NOTE_WRITTEN),
        (True, UNSYNCED, [], Outcome.SKIPPED, Reason.NOT_SYNCED_YET),
        (False, UNSYNCED, ["PushCandidate", "WriteNote"], Outcome.SYNCED, Reason.PUSHED_FOR_NOTE),
    ],
)
def test_only_notes_on_synced(
    only_synced: bool,
    state: CandidateState,
    expected_kinds: list[str],
    outcome: Outcome,
    reason: Reason,
) -> None:
    """A note below the sync trigger is written, skipped, or pushes first, per the toggle."""
    policy = make_policy(sync={"sync_upon": "interested", "only_notes_on_synced": only_synced})
    decision = decide(make_event("sent"), policy, state)
    assert (kinds(decision), decision.outcome, decision.reason) == (expected_kinds, outcome, reason)


# --- each note type in and out of create_notes_upon -----------------------------------------

NOTE_EVENTS: list[tuple[str, dict[str, Any], NoteType]] = [
    *(
        ("sent", {"step": {"number": 1, "channel": ch.value}}, NoteType(ch.value))
        for ch in NoteType
        if ch.value not in {"replied", "interested", "not_interested", "unsubscribed"}
    ),
    ("replied", {}, NoteType.REPLIED),
    ("interested", {}, NoteType.INTERESTED),
    ("not_interested", {}, NoteType.NOT_INTERESTED),
    ("unsubscribed", {}, NoteType.UNSUBSCRIBED),
]


@pytest.mark.parametrize(("kind", "data", "note_type"), NOTE_EVENTS)
@pytest.mark.parametrize("selected", [True, False])
def test_each_note_type_in_and_out_of_create_notes_upon(
    kind: str, data: dict[str, Any], note_type: NoteType, selected: bool
) -> None:
    """A synced candidate's activity is noted exactly when its note type is selected."""
    notes = [note_type.value] if selected else [n.value for n in NoteType if n is not note_type]
    policy = make_policy(general={"create_notes_upon": notes})
    decision = decide(make_event(kind, **data), policy, SYNCED)
    if selected:
        assert decision.outcome is Outcome.NOTED
        (action,) = decision.actions
        assert isinstance(action, WriteNote)
        assert action.backfilled is False
    else:
        assert (decision.outcome, decision.reason) == (
            Outcome.SKIPPED,
            Reason.NOTE_TYPE_NOT_SELECTED,
        )


def test_added_event_of_synced_candidate_is_already_synced() -> None:
    """A candidate added to another campaign after being synced is not pushed again."""
    decision = decide(make_event("added"), make_policy(), SYNCED)
    assert (decision.outcome, decision.reason, decision.actions) == (
        Outcome.SKIPPED,
        Reason.ALREADY_SYNCED,
        (),
    )


# --- do_not_merge, destination, external reference ------------------------------------------


@pytest.mark.parametrize("do_not_merge", [True, False])
def test_do_not_merge_controls_the_first_push(do_not_merge: bool) -> None:
    """do_not_merge makes the first push create (merge=False); later events only note."""
    policy = make_policy(general={"do_not_merge": do_not_merge})
    first = decide(make_event("added"), policy, UNSYNCED)
    assert push_of(first).merge is (not do_not_merge)
    assert push_of(first).external_ref == external_ref("team-1", "cand-1")
    later = decide(make_event("replied", event_id="evt-2"), policy, SYNCED)
    assert kinds(later) == ["WriteNote"]


def test_external_ref_is_stable_and_per_team() -> None:
    """The external reference depends only on team and candidate."""
    assert external_ref("t1", "c1") == external_ref("t1", "c1") == "sourcewhale:t1:c1"
    assert external_ref("t1", "c1") != external_ref("t2", "c1")


def test_push_destination_follows_campaign_jobs() -> None:
    """A candidate of a campaign mapped to a job is pushed as an application to that job."""
    settings = make_settings(destination={"campaign_jobs": {"cmp-1": "job-7"}})
    push = push_of(
        decide(make_event("added"), resolve_policy(settings, "user-1", "cmp-1"), UNSYNCED)
    )
    assert (push.destination, push.job_id, push.create_kind) == (
        DestinationKind.APPLICATION,
        "job-7",
        ActionKind.CREATE_APPLICATION,
    )
    plain = push_of(decide(make_event("added"), make_policy(), UNSYNCED))
    assert (plain.destination, plain.job_id, plain.create_kind) == (
        DestinationKind.JOB_SEEKER,
        None,
        ActionKind.CREATE_JOB_SEEKER,
    )


# --- mandatory fields ---------------------------------------------------------------------


def test_missing_mandatory_fields_block_then_a_later_event_succeeds() -> None:
    """A push without mandatory values is blocked naming them; once filled, the next succeeds."""
    policy = make_policy(fields={"mandatory": ["email", "phone", "first_name"]})
    bare = candidate_dict(emails=[], phones=["  "])
    blocked = decide(make_event("added", candidate=bare), policy, UNSYNCED)
    assert blocked.outcome is Outcome.BLOCKED_MANDATORY_FIELDS
    assert blocked.reason is Reason.MISSING_MANDATORY_FIELDS
    assert blocked.missing_fields == ("email", "phone")
    assert blocked.actions == ()
    later = decide(make_event("sent", event_id="evt-2"), policy, UNSYNCED)
    assert later.outcome is Outcome.SYNCED
    assert kinds(later) == ["PushCandidate", "WriteNote"]


def test_blocked_push_keeps_note_only_with_backfill() -> None:
    """When a push is blocked, the activity's note is kept if backfill is on, else dropped."""
    bare = candidate_dict(emails=[])
    on = decide(
        make_event("sent", candidate=bare), make_policy(sync={"backfill_on_sync": True}), UNSYNCED
    )
    off = decide(make_event("sent", candidate=bare), make_policy(), UNSYNCED)
    assert kinds(on) == ["KeepForBackfill"]
    assert off.actions == ()
    assert on.outcome is off.outcome is Outcome.BLOCKED_MANDATORY_FIELDS


def test_tagging_can_fill_a_mandatory_field() -> None:
    """A displayed field tagged by a user satisfies a mandatory field."""
    policy = make_policy(fields={"mandatory": ["custom:5"], "displayed": ["custom:5"]})
    missing = decide(make_event("added"), policy, UNSYNCED)
    tagged = decide(
        make_event("added", candidate=candidate_dict(tagged_fields={"custom:5": "Referral"})),
        policy,
        UNSYNCED,
    )
    assert missing.missing_fields == ("custom:5",)
    assert push_of(tagged).fields["custom:5"] == "Referral"


# --- protected fields, displayed filtering, mappings ----------------------------------------


def test_protected_fields_are_passed_to_push_and_update() -> None:
    """Protected fields go with every push and update, for the executor to respect."""
    policy = make_policy(fields={"protected": ["phone", "email"]})
    push = push_of(decide(make_event("added"), policy, UNSYNCED))
    assert push.protected == frozenset({"phone", "email"})
    update = decide(make_event("updated"), policy, SYNCED).actions[0]
    assert isinstance(update, UpdateCandidate)
    assert update.protected == frozenset({"phone", "email"})


def test_tags_outside_displayed_fields_are_ignored_and_reported() -> None:
    """Tagged values count only for displayed fields; others are ignored and listed."""
    policy = make_policy(fields={"displayed": ["custom:1"]})
    cand = candidate_dict(tagged_fields={"custom:1": "yes", "custom:2": "no", "email": "x@y.z"})
    decision = decide(make_event("added", candidate=cand), policy, UNSYNCED)
    fields = push_of(decision).fields
    assert fields["custom:1"] == "yes"
    assert "custom:2" not in fields
    assert fields["email"] == "ada@example.com"
    assert decision.ignored_tagged_fields == ("custom:2", "email")


def test_default_mapping() -> None:
    """By default names, first e-mail and first phone are pushed (job seekers have no
    LinkedIn attribute, so no social profile is mapped by default)."""
    push = push_of(decide(make_event("added"), make_policy(), UNSYNCED))
    assert dict(push.fields) == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
    }
    assert push.email == "ada@example.com"


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (
            {
                "string": {
                    "first_name": "first_name",
                    "last_name": "last_name",
                    "email": "email",
                    "company": "custom:1",
                    "seniority": "custom:2",
                    "skills": "custom:3",
                }
            },
            {"custom:1": "Analytical Engines", "custom:2": "senior", "custom:3": "maths, poetry"},
        ),
        (
            {"list": {"skills": ["custom:4", "custom:5"], "emails": ["custom:6"]}},
            {
                "custom:4": "maths, poetry",
                "custom:5": "maths, poetry",
                "custom:6": "ada@example.com, ada@work.example",
            },
        ),
        (
            {"social": {"github": "custom:7", "twitter": "custom:8"}},
            {"custom:7": "https://github.com/ada"},
        ),
    ],
)
def test_each_mapping_kind(mapping: dict[str, Any], expected: dict[str, str]) -> None:
    """String, list and social mappings fill their fields; list values are joined with ', '."""
    policy = make_policy(field_mapping=mapping)
    fields = push_of(decide(make_event("added"), policy, UNSYNCED)).fields
    for name, value in expected.items():
        assert fields[name] == value
    assert "custom:8" not in fields


def test_tag_overrides_mapping_and_empty_values_are_dropped() -> None:
    """A displayed tag wins over the mapped value; blank values are never pushed."""
    cand = candidate_dict(tagged_fields={"phone": "+1 555"}, last_name="  ", social={})
    policy = make_policy(fields={"displayed": ["phone"], "mandatory": ["email"]})
    fields = push_of(decide(make_event("added", candidate=cand), policy, UNSYNCED)).fields
    assert fields["phone"] == "+1 555"
    assert "last_name" not in fields
    assert "linkedin_url" not in fields


def test_filterable_values_in_every_decision() -> None:
    """The filterable fields' values are reported whatever the outcome."""
    policy = make_policy(
        fields={"filterable": ["custom:1", "custom:3"]},
        field_mapping={
            "string": {
                "first_name": "first_name",
                "last_name": "last_name",
                "email": "email",
                "company": "custom:1",
            },
            "social": {"linkedin": "custom:3"},
        },
    )
    for state in (SYNCED, UNSYNCED):
        decision = decide(make_event("interested"), policy, state)
        assert dict(decision.filterable) == {
            "custom:1": "Analytical Engines",
            "custom:3": "https://www.linkedin.com/in/ada",
        }


# --- integration inactive or absent ---------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("state", [SYNCED, UNSYNCED])
def test_inactive_or_absent_integration_skips(kind: str, state: CandidateState) -> None:
    """Without settings or with the integration off, every event is skipped, never dead-lettered."""
    inactive = resolve_policy(make_settings(integration={"active": False}), "user-1")
    for policy in (INACTIVE_POLICY, inactive):
        decision = decide(make_event(kind), policy, state)
        assert (decision.outcome, decision.reason, decision.actions) == (
            Outcome.SKIPPED,
            Reason.INTEGRATION_INACTIVE,
            (),
        )


# --- backfill --------------------------------------------------------------------------------


def test_backfill_keeps_notes_and_writes_them_in_order_on_push() -> None:
    """With backfill on, notes before the push are kept, then written oldest first after it."""
    policy = make_policy(
        sync={"sync_upon": "interested", "only_notes_on_synced": True, "backfill_on_sync": True}
    )
    state = UNSYNCED
    for i, kind in enumerate(["sent", "sent", "replied"]):
        decision = decide(make_event(kind, event_id=f"e{i}"), policy, state)
        assert (decision.outcome, decision.reason) == (Outcome.DEFERRED, Reason.KEPT_FOR_BACKFILL)
        (keep,) = decision.actions
        assert isinstance(keep, KeepForBackfill)
        state = CandidateState(pending_notes=(*state.pending_notes, keep.note))
    final = decide(make_event("interested", event_id="e3"), policy, state)
    assert kinds(final) == ["PushCandidate", "WriteNote", "WriteNote", "WriteNote", "WriteNote"]
    notes = [a for a in final.actions if isinstance(a, WriteNote)]
    assert [n.note.event_id for n in notes] == ["e0", "e1", "e2", "e3"]
    assert [n.backfilled for n in notes] == [True, True, True, False]


def test_backfill_off_skips_and_drops_kept_notes() -> None:
    """With backfill off, notes before the push are skipped and stale kept notes are dropped."""
    policy = make_policy(sync={"sync_upon": "interested", "only_notes_on_synced": True})
    skipped = decide(make_event("sent"), policy, UNSYNCED)
    assert (skipped.outcome, skipped.reason, skipped.actions) == (
        Outcome.SKIPPED,
        Reason.NOT_SYNCED_YET,
        (),
    )
    stale = NoteDraft(ref="sw-000000000000", text="x sw-000000000000", event_id="old")
    final = decide(make_event("interested"), policy, CandidateState(pending_notes=(stale,)))
    assert kinds(final) == ["PushCandidate", "WriteNote"]


# --- candidate.updated ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manual", "state", "outcome", "reason"),
    [
        (True, SYNCED, Outcome.UPDATED, Reason.MANUAL_UPDATE_SYNCED),
        (False, SYNCED, Outcome.SKIPPED, Reason.MANUAL_UPDATES_DISABLED),
        (True, UNSYNCED, Outcome.SKIPPED, Reason.NOT_SYNCED_YET),
        (False, UNSYNCED, Outcome.SKIPPED, Reason.NOT_SYNCED_YET),
    ],
)
def test_manual_updates(
    manual: bool, state: CandidateState, outcome: Outcome, reason: Reason
) -> None:
    """candidate.updated updates a synced record only with sync_manual_updates on."""
    policy = make_policy(general={"sync_manual_updates": manual})
    decision = decide(make_event("updated"), policy, state)
    assert (decision.outcome, decision.reason) == (outcome, reason)


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["phones"], {"phone": "+44 20 7946 0000"}),
        (["email"], {"email": "ada@example.com"}),
        (["social.linkedin"], {"custom:3": "https://www.linkedin.com/in/ada"}),
        (["candidate.first_name", "last_name"], {"first_name": "Ada", "last_name": "Lovelace"}),
        (["variables.skills"], {"custom:9": "maths, poetry"}),
        (["variables"], {"custom:9": "maths, poetry"}),
    ],
)
def test_update_writes_only_changed_fields(changed: list[str], expected: dict[str, str]) -> None:
    """An update carries only the Pinpoint fields fed by the changed candidate fields."""
    policy = make_policy(field_mapping={"list": {"skills": ["custom:9"]},
                                        "social": {"linkedin": "custom:3"}})
    decision = decide(make_event("updated", changed_fields=changed), policy, SYNCED)
    (update,) = decision.actions
    assert isinstance(update, UpdateCandidate)
    assert dict(update.fields) == expected


def test_update_of_unmapped_field_is_nothing_to_update() -> None:
    """Changes to fields no mapping uses leave Pinpoint alone."""
    decision = decide(make_event("updated", changed_fields=["job_title"]), make_policy(), SYNCED)
    assert (decision.outcome, decision.reason) == (Outcome.SKIPPED, Reason.NOTHING_TO_UPDATE)


# --- notes -----------------------------------------------------------------------------------


def test_note_reads_well_and_ends_with_its_ref() -> None:
    """A note names the activity, step, subject, excerpt, campaign and time, then its ref."""
    body = "<p>Hi Ada,</p>\n\n  I came across   your profile. " + "More words. " * 60
    event = make_event(
        "sent", step={"number": 3, "channel": "linkedin_inmail", "subject": "A role", "body": body}
    )
    (note,) = decide(event, make_policy(), SYNCED).actions
    assert isinstance(note, WriteNote)
    text = note.note.text
    lines = text.splitlines()
    assert lines[0] == "LinkedIn InMail sent (step 3)"
    assert "Subject: A role" in lines
    assert "Campaign: Senior engineers (cmp-1)" in lines
    assert lines[3].startswith('"Hi Ada, I came across your profile. More words.')
    assert lines[3].endswith('…"')
    assert len(lines[3]) <= 282
    assert "When: 2024-05-01 10:00 UTC" in lines
    assert note.note.ref == note_ref("team-1", "evt-1")
    assert text.endswith(note.note.ref)


@pytest.mark.parametrize(
    ("kind", "first_line"),
    [
        ("replied", "Replied by Email"),
        ("interested", "Marked as interested"),
        ("not_interested", "Marked as not interested"),
        ("unsubscribed", "Unsubscribed from SourceWhale outreach"),
    ],
)
def test_response_notes(kind: str, first_line: str) -> None:
    """Responses, including not interested and unsubscribed, become readable notes."""
    (note,) = decide(make_event(kind), make_policy(), SYNCED).actions
    assert isinstance(note, WriteNote)
    assert note.note.text.splitlines()[0] == first_line


def test_note_ref_is_stable_and_distinct() -> None:
    """The note reference depends on team and event only, and has the documented shape."""
    ref = note_ref("t1", "e1")
    assert ref == note_ref("t1", "e1")
    assert ref != note_ref("t2", "e1") != note_ref("t1", "e2")
    assert ref.startswith("sw-")
    assert len(ref) == 15
    assert all(c in "0123456789abcdef" for c in ref[3:])


# --- properties ------------------------------------------------------------------------------

_names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_candidates = st.builds(
    candidate_dict,
    first_name=_names,
    last_name=_names,
    emails=st.lists(_names, max_size=3),
    phones=st.lists(_names, max_size=2),
    social=st.dictionaries(st.sampled_from(["linkedin", "github", "twitter"]), _names, max_size=3),
    variables=st.dictionaries(
        st.sampled_from(["skills", "seniority", "first_name", "x"]),
        _names | st.lists(_names, max_size=3),
        max_size=4,
    ),
    tagged_fields=st.dictionaries(
        st.sampled_from(["custom:1", "custom:2", "phone"]), _names, max_size=3
    ),
)


@st.composite
def _events(draw: st.DrawFn) -> CampaignEvent:
    kind = draw(st.sampled_from(ALL_KINDS))
    data: dict[str, Any] = {"candidate": draw(_candidates)}
    if kind == "sent":
        data["step"] = {
            "number": draw(st.integers(1, 50)),
            "channel": draw(st.sampled_from([n.value for n in NoteType][:6])),
            "subject": draw(st.none() | _names),
            "body": draw(st.none() | st.text(max_size=600)),
        }
    if kind == "replied":
        data["reply"] = {"channel": "sms", "snippet": draw(st.none() | _names)}
    if kind == "updated":
        data["changed_fields"] = draw(
            st.lists(
                st.sampled_from(
                    ["phones", "emails", "variables", "social.github", "tagged_fields", "job_title"]
                ),
                max_size=3,
            )
        )
    return make_event(kind, event_id=draw(st.text(min_size=1, max_size=20)), **data)


@st.composite
def _policies(draw: st.DrawFn) -> EffectivePolicy:
    if draw(st.booleans()) and draw(st.booleans()):
        return INACTIVE_POLICY
    notes = draw(st.lists(st.sampled_from([n.value for n in NoteType]), unique=True))
    field_names = ["custom:1", "custom:2", "phone", "email", "first_name"]
    settings_doc = {
        "general": {
            "do_not_merge": draw(st.booleans()),
            "create_notes_upon": notes,
            "sync_manual_updates": draw(st.booleans()),
        },
        "sync": {
            "sync_upon": draw(st.sampled_from([t.value for t in SyncTrigger])),
            "only_notes_on_synced": draw(st.booleans()),
            "backfill_on_sync": draw(st.booleans()),
        },
        "fields": {
            "displayed": ["custom:1", "custom:2"],
            "mandatory": draw(st.lists(st.sampled_from(field_names), max_size=3)),
            "protected": draw(st.lists(st.sampled_from(field_names), max_size=3)),
            "filterable": draw(st.lists(st.sampled_from(field_names), max_size=2)),
        },
    }
    return resolve_policy(make_settings(**settings_doc), "user-1", "cmp-1")


_states = st.builds(
    CandidateState,
    synced=st.booleans(),
    pending_notes=st.lists(
        st.builds(
            NoteDraft, ref=st.just("sw-0"), text=_names.map(lambda t: f"{t}\nsw-0"), event_id=_names
        ),
        max_size=3,
    ).map(tuple),
)


@settings(max_examples=400, deadline=None)
@given(event=_events(), policy=_policies(), state=_states)
def test_decide_never_raises_and_is_deterministic(
    event: CampaignEvent, policy: EffectivePolicy, state: CandidateState
) -> None:
    """decide never raises for valid input and returns equal decisions for equal input."""
    first = decide(event, policy, state)
    second = decide(event, policy, state)
    assert first == second
    assert isinstance(first.outcome, Outcome)
    assert isinstance(first.reason, Reason)
    pushes = [a for a in first.actions if isinstance(a, PushCandidate)]
    assert len(pushes) <= 1
    if pushes:
        assert first.actions[0] is pushes[0]
        assert not state.synced
        assert all(f not in first.missing_fields for f in pushes[0].fields)
    for action in first.actions:
        if isinstance(action, WriteNote | KeepForBackfill):
            assert action.note.text.endswith(action.note.ref)


@settings(max_examples=300, deadline=None)
@given(candidate=_candidates, policy=_policies())
def test_filterable_mapping_agrees_with_full_mapping(
    candidate: dict[str, Any], policy: EffectivePolicy
) -> None:
    """The reduced mapping used for filterable fields gives the full mapping's values and tags."""
    snapshot = make_event("added", candidate=candidate).data.candidate
    full = map_fields(snapshot, policy)
    reduced = map_filterable(snapshot, policy)
    for name in policy.filterable:
        assert reduced.values.get(name) == full.values.get(name)
    assert reduced.ignored_tags == full.ignored_tags
