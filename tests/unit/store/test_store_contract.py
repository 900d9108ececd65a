"""The behaviour every StateStore keeps, run against the in-memory and the SQLite store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.decision import CandidateState, NoteDraft
from worker.core.enums import ActionKind, DestinationKind
from worker.store import (
    EffectStatus,
    InMemoryStateStore,
    SqliteStateStore,
    StateStore,
    StoreClosedError,
    UnknownEffectError,
)

from .conftest import FakeClock

pytestmark = pytest.mark.unit


def note(ref: str, text: str = "text") -> NoteDraft:
    return NoteDraft(ref=ref, text=f"{text} {ref}", event_id=f"evt-{ref}")


def test_unknown_candidate_is_unsynced(store: StateStore) -> None:
    """A candidate never seen loads as the default, unsynced state."""
    assert store.load_candidate("t1", "c1") == CandidateState()


def test_mark_synced_keeps_the_mapping(store: StateStore) -> None:
    """mark_synced records the Pinpoint ids, and load_candidate returns them."""
    store.mark_synced(
        "t1",
        "c1",
        pinpoint_candidate_id="pc-1",
        record_kind=DestinationKind.JOB_SEEKER,
        record_id="js-1",
    )
    assert store.load_candidate("t1", "c1") == CandidateState(
        synced=True,
        pinpoint_candidate_id="pc-1",
        record_kind=DestinationKind.JOB_SEEKER,
        record_id="js-1",
    )


def test_mark_synced_again_replaces_the_mapping(store: StateStore) -> None:
    """A second mark_synced for the same candidate replaces the earlier ids."""
    store.mark_synced(
        "t1",
        "c1",
        pinpoint_candidate_id="pc-1",
        record_kind=DestinationKind.JOB_SEEKER,
        record_id="js-1",
    )
    store.mark_synced(
        "t1",
        "c1",
        pinpoint_candidate_id="pc-1",
        record_kind=DestinationKind.APPLICATION,
        record_id="app-9",
    )
    state = store.load_candidate("t1", "c1")
    assert (state.record_kind, state.record_id) == (DestinationKind.APPLICATION, "app-9")


def test_candidates_are_separate_per_team(store: StateStore) -> None:
    """The same candidate id in two teams are two candidates."""
    store.mark_synced(
        "t1",
        "c1",
        pinpoint_candidate_id="pc-1",
        record_kind=DestinationKind.JOB_SEEKER,
        record_id="js-1",
    )
    store.add_pending_note("t1", "c1", note("n1"))
    assert store.load_candidate("t2", "c1") == CandidateState()


def test_pending_notes_come_back_in_insertion_order(store: StateStore) -> None:
    """Pending notes load in the order they were added, not sorted by ref."""
    for ref in ["z", "a", "m"]:
        store.add_pending_note("t1", "c1", note(ref))
    assert store.load_candidate("t1", "c1").pending_notes == (note("z"), note("a"), note("m"))


def test_add_pending_note_is_idempotent_by_ref(store: StateStore) -> None:
    """Adding a note whose ref is already pending keeps the first one, in its place."""
    store.add_pending_note("t1", "c1", note("a"))
    store.add_pending_note("t1", "c1", note("b"))
    store.add_pending_note("t1", "c1", note("a", text="other"))
    assert store.load_candidate("t1", "c1").pending_notes == (note("a"), note("b"))


def test_remove_pending_note(store: StateStore) -> None:
    """A removed note is gone; removing an unknown ref does nothing."""
    store.add_pending_note("t1", "c1", note("a"))
    store.add_pending_note("t1", "c1", note("b"))
    store.remove_pending_note("t1", "c1", "a")
    store.remove_pending_note("t1", "c1", "nope")
    store.remove_pending_note("t9", "c9", "a")
    assert store.load_candidate("t1", "c1").pending_notes == (note("b"),)


def test_note_added_again_after_removal_goes_last(store: StateStore) -> None:
    """A ref removed and added again is pending again, after the notes already pending."""
    store.add_pending_note("t1", "c1", note("a"))
    store.add_pending_note("t1", "c1", note("b"))
    store.remove_pending_note("t1", "c1", "a")
    store.add_pending_note("t1", "c1", note("a"))
    assert store.load_candidate("t1", "c1").pending_notes == (note("b"), note("a"))


def test_pending_notes_survive_mark_synced(store: StateStore) -> None:
    """Syncing the candidate leaves its pending notes for the caller to write and remove."""
    store.add_pending_note("t1", "c1", note("a"))
    store.mark_synced(
        "t1",
        "c1",
        pinpoint_candidate_id="pc",
        record_kind=DestinationKind.JOB_SEEKER,
        record_id="js",
    )
    state = store.load_candidate("t1", "c1")
    assert state.synced
    assert state.pending_notes == (note("a"),)


def test_begin_effect_records_an_intent(store: StateStore, clock: FakeClock) -> None:
    """begin_effect stores a new INTENDED entry stamped with the clock."""
    record = store.begin_effect("k1", team_id="t1", kind="create_job_seeker")
    assert (record.key, record.team_id, record.kind) == ("k1", "t1", "create_job_seeker")
    assert record.status is EffectStatus.INTENDED
    assert record.pinpoint_id is None
    assert record.created_at == record.updated_at == clock.now
    assert store.get_effect("k1") == record


def test_begin_effect_returns_the_existing_entry_unchanged(
    store: StateStore, clock: FakeClock
) -> None:
    """A key already in the ledger comes back as it was, whatever team and kind are passed."""
    first = store.begin_effect("k1", team_id="t1", kind="write_comment")
    clock.advance(5)
    again = store.begin_effect("k1", team_id="t2", kind="create_application")
    assert again == first


def test_effect_kind_may_be_an_enum(store: StateStore) -> None:
    """A StrEnum kind is stored as its plain string value."""
    record = store.begin_effect("k1", team_id="t1", kind=ActionKind.WRITE_COMMENT)
    assert type(record.kind) is str
    assert record.kind == "write_comment"


def test_complete_effect_marks_done(store: StateStore, clock: FakeClock) -> None:
    """complete_effect sets DONE, Pinpoint's id and a new updated_at, keeping created_at."""
    begun = store.begin_effect("k1", team_id="t1", kind="write_comment")
    clock.advance(2)
    store.complete_effect("k1", "cm-7")
    done = store.get_effect("k1")
    assert done is not None
    assert (done.status, done.pinpoint_id) == (EffectStatus.DONE, "cm-7")
    assert done.created_at == begun.created_at
    assert done.updated_at == clock.now
    assert store.begin_effect("k1", team_id="t1", kind="write_comment") == done


def test_mark_done_records_a_done_effect_at_once(store: StateStore) -> None:
    """mark_done leaves a DONE entry whether the key was unknown or only intended, and keeps
    a known id when given none."""
    store.mark_done("event:t1:e1", team_id="t1", kind="event")
    first = store.get_effect("event:t1:e1")
    assert first is not None
    assert (first.status, first.pinpoint_id, first.team_id) == (EffectStatus.DONE, None, "t1")
    store.begin_effect("k2", team_id="t1", kind="write_comment")
    store.mark_done("k2", team_id="t1", kind="write_comment", pinpoint_id="cm-1")
    store.mark_done("k2", team_id="t1", kind="write_comment")
    second = store.get_effect("k2")
    assert second is not None
    assert (second.status, second.pinpoint_id) == (EffectStatus.DONE, "cm-1")
    assert store.intended_effects() == []


def test_complete_effect_without_id_keeps_a_known_id(store: StateStore) -> None:
    """Completing again with None does not erase the id a first completion recorded."""
    store.begin_effect("k1", team_id="t1", kind="update_candidate")
    store.complete_effect("k1", "pc-1")
    store.complete_effect("k1", None)
    done = store.get_effect("k1")
    assert done is not None
    assert done.pinpoint_id == "pc-1"


def test_complete_unknown_effect_fails(store: StateStore) -> None:
    """Completing a key that was never begun is a programming error."""
    with pytest.raises(UnknownEffectError, match="k404"):
        store.complete_effect("k404", "x")


def test_get_unknown_effect_is_none(store: StateStore) -> None:
    """get_effect of a key never begun returns None."""
    assert store.get_effect("nope") is None


def test_intended_effects_lists_open_intents_oldest_first(
    store: StateStore, clock: FakeClock
) -> None:
    """intended_effects skips done entries and filters by team when asked."""
    for key, team in [("a", "t1"), ("b", "t2"), ("c", "t1"), ("d", "t1")]:
        store.begin_effect(key, team_id=team, kind="write_comment")
        clock.advance(1)
    store.complete_effect("c", "cm")
    assert [r.key for r in store.intended_effects()] == ["a", "b", "d"]
    assert [r.key for r in store.intended_effects("t1")] == ["a", "d"]
    assert store.intended_effects("t3") == []


def test_discard_effect_forgets_only_intents(store: StateStore) -> None:
    """discard_effect removes an INTENDED entry, but never a DONE one."""
    store.begin_effect("open", team_id="t1", kind="write_comment")
    store.begin_effect("done", team_id="t1", kind="write_comment")
    store.complete_effect("done", "cm")
    store.discard_effect("open")
    store.discard_effect("done")
    store.discard_effect("unknown")
    assert store.get_effect("open") is None
    done = store.get_effect("done")
    assert done is not None
    assert done.status is EffectStatus.DONE


def test_timestamps_are_utc(store: StateStore) -> None:
    """Ledger timestamps are timezone-aware UTC."""
    record = store.begin_effect("k", team_id="t", kind="write_comment")
    assert record.created_at.utcoffset() is not None
    assert record.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_use_after_close_fails(store: StateStore) -> None:
    """Every method refuses to work on a closed store; closing twice is fine."""
    store.close()
    store.close()
    with pytest.raises(StoreClosedError):
        store.load_candidate("t", "c")
    with pytest.raises(StoreClosedError):
        store.begin_effect("k", team_id="t", kind="x")


def test_context_manager_closes(tmp_path: Path) -> None:
    """Leaving the with block closes both implementations."""
    for made in (InMemoryStateStore(), SqliteStateStore(tmp_path / "s.db")):
        with made as entered:
            assert entered is made
        with pytest.raises(StoreClosedError):
            made.intended_effects()


_ids = st.sampled_from(["a", "b", "c"])
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _ids, _ids, _ids),
        st.tuples(st.just("remove"), _ids, _ids, _ids),
        st.tuples(st.just("sync"), _ids, _ids, _ids),
        st.tuples(st.just("begin"), _ids, _ids, _ids),
        st.tuples(st.just("complete"), _ids, _ids, _ids),
        st.tuples(st.just("discard"), _ids, _ids, _ids),
    ),
    max_size=30,
)


def _apply(target: StateStore, op: tuple[str, str, str, str]) -> object:
    name, team, candidate, ref = op
    if name == "add":
        target.add_pending_note(team, candidate, note(ref))
    elif name == "remove":
        target.remove_pending_note(team, candidate, ref)
    elif name == "sync":
        target.mark_synced(
            team,
            candidate,
            pinpoint_candidate_id=f"pc-{ref}",
            record_kind=DestinationKind.JOB_SEEKER,
            record_id=f"js-{ref}",
        )
    elif name == "begin":
        return target.begin_effect(f"{candidate}:{ref}", team_id=team, kind="write_comment")
    elif name == "complete":
        try:
            target.complete_effect(f"{candidate}:{ref}", f"id-{team}")
        except UnknownEffectError:
            return "unknown"
    else:
        target.discard_effect(f"{candidate}:{ref}")
    return None


@settings(max_examples=60, deadline=None)
@given(_operations)
def test_sqlite_and_memory_agree(operations: list[tuple[str, str, str, str]]) -> None:
    """Any sequence of operations leaves both implementations in the same observable state."""
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        memory = InMemoryStateStore(clock=clock)
        sqlite = SqliteStateStore(Path(tmp) / "s.db", clock=clock)
        with memory, sqlite:
            for op in operations:
                assert _apply(memory, op) == _apply(sqlite, op)
                clock.advance(1)
            for team in "abc":
                for candidate in "abc":
                    assert memory.load_candidate(team, candidate) == sqlite.load_candidate(
                        team, candidate
                    )
                assert memory.intended_effects(team) == sqlite.intended_effects(team)
            assert memory.intended_effects() == sqlite.intended_effects()


def test_redriven_dead_letters_are_remembered_once(store: StateStore) -> None:
    """remember_redrive is True only the first time; redriven gives back the first replay id."""
    assert store.redriven("dlq", 0, 7) is None
    assert store.remember_redrive("dlq", 0, 7, "redrive-a") is True
    assert store.remember_redrive("dlq", 0, 7, "redrive-b") is False
    assert store.redriven("dlq", 0, 7) == "redrive-a"
    assert store.redriven("dlq", 1, 7) is None
    assert store.redriven("other-dlq", 0, 7) is None
