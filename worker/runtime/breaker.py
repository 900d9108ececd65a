"""A circuit breaker per team: a pure state machine, its clock injected.

::

    CLOSED ──(threshold transient failures within window, or one refusal)──► OPEN
    OPEN ──(probe_due: the caller probes with a read)──► probe ok ──► HALF_OPEN
                                                        probe failed ──► OPEN (backoff doubles)
    HALF_OPEN ──(the one event let through succeeds)──► CLOSED (backoff reset)
    HALF_OPEN ──(it fails or is refused)──► OPEN (backoff doubles)

Why a half-open state even for refused keys: a probe is a read, and a key that may read but not
write (a read-only key) passes it. Closing on a read would resume the team, refuse its first
write and pause it again, over and over. The breaker closes only on a real event that went
through, so such a key stays open (its status stays ``credentials_refused``) with a growing
probe interval.

Why the reason is kept: the team's published status depends on it (refused credentials,
Pinpoint failing, Pinpoint unreachable), and the reason of the latest failure wins.

No I/O, no asyncio: the scheduler drives it and reads it; tests drive it with a fake clock.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class FailureKind(enum.Enum):
    """Why a team's call failed, as far as the breaker cares."""

    FAILING = "failing"
    """Pinpoint answered 5xx (or 408) on every attempt of the call's retry budget."""
    UNREACHABLE = "unreachable"
    """Timeouts or connection errors on every attempt."""
    REFUSED = "refused"
    """The key was refused (401/403): opens at once, whatever the threshold."""


@dataclass(frozen=True)
class BreakerConfig:
    """How quickly a team trips, and how its probes back off."""

    threshold: int = 5
    """Transient failures within ``window_s`` that open the breaker."""
    window_s: float = 60.0
    probe_base_s: float = 5.0
    """First probe delay after opening; doubles on every failed probe or trial."""
    probe_max_s: float = 600.0
    jitter: float = 0.2
    """Each delay is spread by up to this fraction either way (teams do not probe in step)."""


@dataclass
class Breaker:
    """One team's breaker."""

    config: BreakerConfig
    clock: Callable[[], float]
    rand: Callable[[], float] = random.random
    state: BreakerState = BreakerState.CLOSED
    reason: FailureKind | None = None
    """Why it opened (the latest failure's kind while not closed); None when closed."""
    opened_at: float | None = None
    probe_at: float | None = None
    """When the next probe is due (OPEN only)."""
    read_ok_write_refused: bool = False
    """The last probe read fine but the trial event that followed was refused."""
    _failures: deque[float] = field(default_factory=deque)
    _delay: float = 0.0

    # ---- what the scheduler reports --------------------------------------------------------

    def failure(self, kind: FailureKind) -> bool:
        """A call of the team failed past its retry budget. True when this opened the breaker
        (the caller pauses the team)."""
        now = self.clock()
        if self.state is BreakerState.OPEN:
            self.reason = kind
            return False
        if self.state is BreakerState.HALF_OPEN:
            # The trial failed: back to open, with a longer wait than before.
            self.read_ok_write_refused = kind is FailureKind.REFUSED
            self._open(kind, now, grow=True)
            return True
        window = self.config.window_s
        failures = self._failures
        failures.append(now)
        while failures and failures[0] < now - window:
            failures.popleft()
        if kind is FailureKind.REFUSED or len(failures) >= self.config.threshold:
            self._open(kind, now, grow=False)
            return True
        return False

    def success(self) -> bool:
        """An event of the team went through. True when this closed the breaker."""
        self._failures.clear()
        if self.state is BreakerState.CLOSED:
            return False
        if self.state is BreakerState.OPEN:
            # An event that was in flight when the breaker opened and succeeded anyway: the
            # breaker stays open until a probe and a trial say so (no flapping on stragglers).
            return False
        self.state = BreakerState.CLOSED
        self.reason = None
        self.opened_at = self.probe_at = None
        self.read_ok_write_refused = False
        self._delay = 0.0
        return True

    @property
    def suspect(self) -> bool:
        """Closed, but with transient failures in its window: the team gets the floor share of
        in-flight slots until an event goes through again."""
        return self.state is BreakerState.CLOSED and bool(self._failures)

    # ---- probes ------------------------------------------------------------------------------

    def probe_delay(self) -> float:
        """Seconds until the next probe is due (0 when due or not open)."""
        if self.state is not BreakerState.OPEN or self.probe_at is None:
            return 0.0
        return max(0.0, self.probe_at - self.clock())

    def probe_result(self, ok: bool, kind: FailureKind | None = None) -> bool:
        """The outcome of a probe (a read). True when it moved the breaker to half-open (the
        caller lets one event through)."""
        if self.state is not BreakerState.OPEN:
            return False
        if ok:
            self.state = BreakerState.HALF_OPEN
            self.probe_at = None
            return True
        if kind is not None:
            self.reason = kind
        self._schedule_probe(self.clock(), grow=True)
        return False

    # ---- internals ---------------------------------------------------------------------------

    def _open(self, kind: FailureKind, now: float, *, grow: bool) -> None:
        if self.state is BreakerState.CLOSED:
            self.opened_at = now
        self.state = BreakerState.OPEN
        self.reason = kind
        self._failures.clear()
        self._schedule_probe(now, grow=grow)

    def _schedule_probe(self, now: float, *, grow: bool) -> None:
        cfg = self.config
        base = cfg.probe_base_s
        self._delay = min(self._delay * 2, cfg.probe_max_s) if grow and self._delay else base
        spread = 1.0 + cfg.jitter * (2 * self.rand() - 1)
        self.probe_at = now + self._delay * spread


def lane_backoff(attempt: int, *, base_s: float = 5.0, max_s: float = 600.0,
                 rand: Callable[[], float] = random.random) -> float:
    """The wait before a held lane is tried again, after its ``attempt``-th failed try (1, 2,
    ...): ``base_s`` doubling up to ``max_s``, spread by ±20% so lanes do not retry in step."""
    delay: float = min(base_s * 2.0 ** max(attempt - 1, 0), max_s)
    return delay * (0.8 + 0.4 * rand())
