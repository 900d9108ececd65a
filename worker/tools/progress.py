"""Progress of a long command on stderr: a live bar on a terminal, plain lines elsewhere.

Written here rather than taken from a library: what the replay and dead-letter tools show (done
of total, rate, ETA, and counts per partition) fits in one line, redrawn in place on a terminal
and printed every few seconds into a log otherwise; tqdm or rich would bring a dependency for
that, and their per-item bars are not per-partition counts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """``update(done_by_partition)`` as work advances; ``finish()`` at the end."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None,
                 interval_s: float | None = None, width: int = 24,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._label = label
        self._total = total
        self._stream = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self._live = bool(isatty and isatty())
        self._interval = interval_s if interval_s is not None else (0.2 if self._live else 5.0)
        self._width = width
        self._clock = clock
        self._started = clock()
        self._last_shown = float("-inf")
        self._done: Mapping[int, int] = {}
        self._totals: Mapping[int, int] = {}

    def set_totals(self, by_partition: Mapping[int, int]) -> None:
        """How many items each partition has in all (shown as done/total per partition)."""
        self._totals = dict(by_partition)

    def update(self, done_by_partition: Mapping[int, int], *, force: bool = False) -> None:
        self._done = dict(done_by_partition)
        now = self._clock()
        if force or now - self._last_shown >= self._interval:
            self._last_shown = now
            self._show(self.line(now))

    def finish(self) -> None:
        self._show(self.line(self._clock()))
        if self._live:
            self._stream.write("\n")
            self._stream.flush()

    def line(self, now: float) -> str:
        done = sum(self._done.values())
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed
        total = self._total
        parts = [self._label]
        if total > 0:
            fraction = min(done / total, 1.0)
            if self._live:
                filled = int(fraction * self._width)
                parts.append("[" + "#" * filled + "." * (self._width - filled) + "]")
            parts.append(f"{done:,}/{total:,} ({fraction:.0%})")
        else:
            parts.append(f"{done:,}")
        parts.append(f"{rate:,.0f}/s")
        if total > 0 and done < total:
            parts.append(f"ETA {_duration((total - done) / rate)}" if rate > 0 else "ETA ?")
        else:
            parts.append(f"in {_duration(elapsed)}")
        if self._done or self._totals:
            per = []
            for p in sorted(set(self._done) | set(self._totals)):
                of = self._totals.get(p)
                per.append(f"p{p} {self._done.get(p, 0):,}" + (f"/{of:,}" if of else ""))
            parts.append(" ".join(per))
        return "  ".join(parts)

    def _show(self, text: str) -> None:
        if self._live:
            self._stream.write("\r\x1b[2K" + text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
