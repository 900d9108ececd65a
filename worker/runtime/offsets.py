"""Per-partition offset tracking: which offset may be committed when work completes out of order.

Records of one partition are handed out in offset order but finish in any order (different keys
run concurrently). Kafka stores one committed offset per partition, meaning "everything before
this is done", so only the contiguous prefix of completed offsets may be committed: committing
past an unfinished record would lose it on a crash.

Offsets need not be dense (compaction and transaction markers leave gaps): the tracker only
knows the offsets it was given, in the order given.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class PartitionOffsets:
    """Outstanding offsets of one partition, and the commit point their completion allows."""

    __slots__ = ("_clock", "_committed", "_completed", "_first", "_last_seen", "_outstanding")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._outstanding: deque[tuple[int, float]] = deque()  # (offset, received at), in order
        self._completed: set[int] = set()
        self._last_seen: int | None = None
        self._first: int | None = None
        self._committed: int | None = None
        self._clock = clock

    def received(self, offset: int) -> None:
        """An offset was fetched and is now outstanding. Offsets must increase."""
        if self._last_seen is not None and offset <= self._last_seen:
            raise ValueError(f"offset {offset} received after {self._last_seen}")
        if self._first is None:
            self._first = offset
        self._last_seen = offset
        self._outstanding.append((offset, self._clock()))

    def completed(self, offset: int) -> None:
        """The work for ``offset`` is done (effects applied, dead-lettered or skipped)."""
        outstanding = self._outstanding
        if outstanding and outstanding[0][0] == offset:
            outstanding.popleft()
            completed = self._completed
            while outstanding and outstanding[0][0] in completed:
                completed.discard(outstanding.popleft()[0])
        else:
            self._completed.add(offset)

    def commit_point(self) -> int | None:
        """The offset to commit now ("next to read"), or None when nothing new is done."""
        if self._outstanding:
            point = self._outstanding[0][0]
        elif self._last_seen is not None:
            point = self._last_seen + 1
        else:
            return None
        # Before any commit, the group's committed offset is where fetching started (the first
        # offset received): reaching it again means nothing of this assignment is done yet.
        floor = self._committed if self._committed is not None else self._first
        if floor is not None and point <= floor:
            return None
        return point

    def mark_committed(self, offset: int) -> None:
        """The group now holds ``offset`` as committed."""
        if self._committed is None or offset > self._committed:
            self._committed = offset

    @property
    def committed(self) -> int | None:
        return self._committed

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    @property
    def last_seen(self) -> int | None:
        return self._last_seen

    def oldest_age(self) -> float | None:
        """Seconds the oldest outstanding record has waited, or None when none is outstanding."""
        if not self._outstanding:
            return None
        return self._clock() - self._outstanding[0][1]
