"""Who sends an effect: the one rule every effect's call site goes through.

A claim in the state store's ledger (``StateStore.claim_effect``) answers NEW, DONE, BUSY or
RECLAIMED; this module turns that answer into what the caller does:

- ``NEW``: send;
- ``DONE``: never send, reuse Pinpoint's id;
- ``BUSY``: another holder's attempt may still land: wait until its window ends, claim again;
- ``RECLAIMED``: an earlier attempt (a crash, a timeout, a fenced holder) may have landed: wait
  until it no longer can (``previous_attempt_until``), reconcile against Pinpoint (the caller's
  ``reconcile``: a record by its external reference, a note by its reference marker) and send
  only if nothing was found.

Reconciling before the earlier attempt's window has passed could miss a write still on its way
(a POST the server completes after the client gave up), and the effect would be sent twice: so
the wait is not optional. ``gate`` is checked right before saying "send": a worker that can no
longer prove it owns the partition (lease not renewed, group heartbeat failing) starts nothing.
The clock and the sleep are parameters so that tests drive time.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.store.base import Claim, ClaimStatus, Fence, StateStore

Reconcile = Callable[[], Awaitable[str | None]]
"""Look the effect up in Pinpoint: its id if it exists there, else ``None``."""


class StartGate:
    """Whether this worker may start calls for a partition; closed once its ownership is in
    doubt (lease not renewed, heartbeat failing, fenced). Calls in flight are never cut."""

    def __init__(self, in_doubt: Callable[[], bool] | None = None) -> None:
        self._closed: set[tuple[str, int]] = set()
        self._all_closed = False
        self.in_doubt = in_doubt
        """Asked at every check: True closes the gate for every partition (e.g. the group's
        heartbeats have failed too long: this member may have been evicted already)."""

    def close(self, topic: str, partition: int) -> None:
        self._closed.add((topic, partition))

    def open(self, topic: str, partition: int) -> None:
        self._closed.discard((topic, partition))

    def close_all(self, closed: bool = True) -> None:
        """Close (or open again) for every partition at once (e.g. heartbeats failing)."""
        self._all_closed = closed

    def allows(self, fence: Fence | None) -> bool:
        if fence is None:
            # A worker's effect made without a lease: only the heartbeat doubt applies.
            return self.in_doubt is None or not self.in_doubt()
        if self._all_closed or (fence.topic, fence.partition) in self._closed:
            return False
        return self.in_doubt is None or not self.in_doubt()


class NotOwnedError(Exception):
    """This worker may not start the call: its ownership of the partition is in doubt."""


class Verdict(enum.Enum):
    SEND = "send"
    """The caller holds the claim and nothing was found in Pinpoint: send the effect."""
    DONE = "done"
    """The effect exists (the ledger says so, or reconciliation found it): do not send."""


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    verdict: Verdict
    pinpoint_id: str | None
    reclaimed: bool
    """The claim took over an earlier attempt (a ``DONE`` found by reconciling needs
    ``complete_effect``; a release is never safe for it: that attempt may have landed)."""
    claim: Claim


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def decide_claim(
    store: StateStore, key: str, *, team_id: str, kind: str, fence: Fence | None,
    window_s: float, reconcile: Reconcile, gate: StartGate | None = None,
    clock: Callable[[], datetime] = _utc_now,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_busy_waits: int = 1000,
) -> ClaimDecision:
    """Claim ``key`` and say whether to send. Raises `FencedError` (from the store) if the
    partition moved on, `NotOwnedError` if ``gate`` is closed when a send would start."""
    waits = 0
    while True:
        claim = await store.claim_effect(key, team_id=team_id, kind=kind, fence=fence,
                                         attempt_window_s=window_s)
        if claim.status is ClaimStatus.DONE:
            return ClaimDecision(Verdict.DONE, claim.pinpoint_id, reclaimed=False, claim=claim)
        if claim.status is ClaimStatus.BUSY:
            waits += 1
            if waits > max_busy_waits:
                raise TimeoutError(f"effect {key!r} stayed busy with another holder")
            await _sleep_until(claim.previous_attempt_until, clock, sleep, minimum=0.05)
            continue
        if claim.status is ClaimStatus.RECLAIMED:
            await _sleep_until(claim.previous_attempt_until, clock, sleep)
            found = await reconcile()
            if found is None:
                # Checked once more right before sending: a write may land at the very end of
                # its window, and a second look costs one GET against a duplicate.
                found = await reconcile()
            if found is not None:
                return ClaimDecision(Verdict.DONE, found, reclaimed=True, claim=claim)
            _check_gate(gate, fence, key)
            return ClaimDecision(Verdict.SEND, None, reclaimed=True, claim=claim)
        _check_gate(gate, fence, key)
        return ClaimDecision(Verdict.SEND, None, reclaimed=False, claim=claim)


def _check_gate(gate: StartGate | None, fence: Fence | None, key: str) -> None:
    if gate is not None and not gate.allows(fence):
        raise NotOwnedError(f"not starting {key!r}: this worker's ownership of the partition is"
                            " in doubt")


async def _sleep_until(until: datetime | None, clock: Callable[[], datetime],
                       sleep: Callable[[float], Awaitable[None]], *,
                       minimum: float = 0.0) -> None:
    delay = minimum
    if until is not None:
        delay = max((until - clock()).total_seconds(), minimum)
    if delay > 0:
        await sleep(delay)


def may_release(decision: ClaimDecision, *, attempt_may_have_landed: bool) -> bool:
    """Whether the claim may be released after a refusal (401/403/404/422): only when no
    attempt of this claim can have reached Pinpoint. A reclaimed claim never: the earlier
    attempt's write may be there, and releasing would lose the intent that says so."""
    return not decision.reclaimed and not attempt_may_have_landed
