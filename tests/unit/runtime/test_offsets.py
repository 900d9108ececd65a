"""PartitionOffsets: contiguous-prefix commit points over out-of-order completions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.runtime.offsets import PartitionOffsets

pytestmark = pytest.mark.unit


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracker_with(offsets: list[int], clock: FakeClock | None = None) -> PartitionOffsets:
    """A tracker that received ``offsets`` in order."""
    tracker = PartitionOffsets(clock or FakeClock())
    for offset in offsets:
        tracker.received(offset)
    return tracker


def test_nothing_committable_before_any_record() -> None:
    """A fresh tracker has no commit point, no outstanding work and no age."""
    tracker = PartitionOffsets()
    assert tracker.commit_point() is None
    assert tracker.outstanding == 0
    assert tracker.last_seen is None
    assert tracker.committed is None
    assert tracker.oldest_age() is None


def test_nothing_committable_before_any_completion() -> None:
    """Records received but none completed give no commit point."""
    tracker = tracker_with([5, 6, 7])
    assert tracker.commit_point() is None
    assert tracker.outstanding == 3
    assert tracker.last_seen == 7


def test_out_of_order_completion_commits_only_the_contiguous_prefix() -> None:
    """Completing later offsets first never moves the commit point past an unfinished one."""
    tracker = tracker_with([10, 11, 12, 13])
    tracker.completed(12)
    tracker.completed(13)
    assert tracker.commit_point() is None  # 10 is still running
    tracker.completed(10)
    assert tracker.commit_point() == 11  # 11 is still running
    tracker.completed(11)
    assert tracker.commit_point() == 14
    assert tracker.outstanding == 0


def test_gaps_in_offsets_are_skipped() -> None:
    """Offsets need not be dense (compaction, transaction markers): gaps never hold commits."""
    tracker = tracker_with([3, 7, 20])
    tracker.completed(7)
    assert tracker.commit_point() is None
    tracker.completed(3)
    assert tracker.commit_point() == 20
    tracker.completed(20)
    assert tracker.commit_point() == 21


def test_offsets_must_increase() -> None:
    """Receiving an offset not above the last one seen is refused."""
    tracker = tracker_with([5])
    with pytest.raises(ValueError, match="after 5"):
        tracker.received(5)
    with pytest.raises(ValueError, match="after 5"):
        tracker.received(4)


def test_mark_committed_hides_points_already_committed() -> None:
    """After a commit, the same point is not offered again; new progress is."""
    tracker = tracker_with([0, 1, 2])
    tracker.completed(0)
    assert tracker.commit_point() == 1
    tracker.mark_committed(1)
    assert tracker.committed == 1
    assert tracker.commit_point() is None
    tracker.completed(1)
    tracker.completed(2)
    assert tracker.commit_point() == 3
    tracker.mark_committed(3)
    tracker.mark_committed(2)  # an older commit acknowledged late never moves it back
    assert tracker.committed == 3
    assert tracker.commit_point() is None
    tracker.received(3)
    assert tracker.commit_point() is None  # 3 is outstanding and 3 is already committed


def test_oldest_age_follows_the_oldest_outstanding_record() -> None:
    """The age is the wait of the oldest unfinished record, and None once all are done."""
    clock = FakeClock()
    tracker = PartitionOffsets(clock)
    tracker.received(1)
    clock.now += 2.0
    tracker.received(2)
    clock.now += 3.0
    assert tracker.oldest_age() == pytest.approx(5.0)
    tracker.completed(2)
    assert tracker.oldest_age() == pytest.approx(5.0)  # 1 still waits
    tracker.completed(1)
    assert tracker.oldest_age() is None
    tracker.received(3)
    clock.now += 1.0
    assert tracker.oldest_age() == pytest.approx(1.0)


@st.composite
def offsets_and_order(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Increasing offsets with gaps, and a permutation of them (the completion order)."""
    start = draw(st.integers(min_value=0, max_value=1000))
    steps = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40))
    offsets = []
    current = start
    for step in steps:
        offsets.append(current)
        current += step
    order = draw(st.permutations(offsets))
    return offsets, list(order)


@given(offsets_and_order())
def test_commit_point_never_passes_an_incomplete_offset(case: tuple[list[int], list[int]]) -> None:
    """For any completion order, the commit point never passes an incomplete offset, and it
    reaches last+1 once all are done."""
    offsets, order = case
    tracker = tracker_with(offsets)
    done: set[int] = set()
    previous: int | None = None
    for offset in order:
        tracker.completed(offset)
        done.add(offset)
        point = tracker.commit_point()
        if point is not None:
            assert all(o in done for o in offsets if o < point), (offsets, order, point)
            assert previous is None or point >= previous
            previous = point
            if point % 3 == 0:
                tracker.mark_committed(point)
        prefix = next((i for i, o in enumerate(offsets) if o not in done), len(offsets))
        assert tracker.outstanding == len(offsets) - prefix
    final = tracker.commit_point()
    assert final == offsets[-1] + 1 or tracker.committed == offsets[-1] + 1
    assert tracker.outstanding == 0
