"""``pinpoint-sync replay``: re-read event history and decide it again with today's settings.

A **dry run** (the default) changes nothing anywhere: it reads the selected events with an
assigned consumer of its own (no group, so no commit and nobody's offsets moved), today's team
settings from the settings topic, and the state store opened read-only; it decides each event
with the worker's own rules (`resolve_policy`, `decide`), looks up in the effect ledger which of
the decision's effects are already done, and matches each event's original outcome from the
outcomes topic by ``event_id``. It shows each event whose verdict changed or that has effects
not in the ledger yet, then a summary by change and totals. No Pinpoint request is sent.

Within one dry run the candidates' states move on as the decisions would move them (a push makes
the candidate synced for its later events, a kept note is pending for them), following the
executor's contract in `worker.core.decision`; nothing of it is written.

The outcomes topic is scanned over a bounded window: from the earliest selected event's
timestamp to the latest one's plus ``--outcomes-window`` (7 days by default, the longest an event
is held before it is dead-lettered), through the brokers' time index. An event whose outcome is
not in that window shows ``(none)`` as its original.

With ``--apply`` the selected events are published, key and value bytes unchanged, to the replay
topic (on the partition number they came from) with the headers ``replay.id``,
``replay.source.topic``, ``replay.source.partition`` and ``replay.source.offset``. The workers
consume that topic, decide those events again even if they were done, and apply them through
the ledger, so nothing is written twice. The command then follows the outcomes carrying its
replay id until every event has one. The replay id is derived from the selection (or given with
``--replay-id``): run again after an interruption, the command finds the records it already
published in the replay topic and sends only the rest. Records that cannot be decoded as events
are not replayed (they were dead-lettered when first read; `pinpoint-sync dlq` has them).

Exit status: 0 done, 1 failures seen (events dead-lettered by the replay, or outcomes missing
at the timeout), 2 bad arguments or configuration (including an unreachable broker).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TextIO

import orjson

from worker.config import ConfigError, WorkerConfig
from worker.core.decision import (
    Action,
    CandidateState,
    PushCandidate,
    UpdateCandidate,
    WriteNote,
    decide,
    inactive_decision,
)
from worker.core.enums import EventType, Outcome
from worker.core.errors import EventErrorReason, InvalidEvent
from worker.core.events import CampaignEvent, parse_envelope, parse_event
from worker.core.policy import integration_active, resolve_policy
from worker.core.settings import TeamSettings
from worker.kafka.errors import KafkaAdapterError, KafkaUnavailable
from worker.kafka.history import HistoryReader, OffsetRange, RecordWriter
from worker.kafka.records import InboundRecord
from worker.kafka.settings_follower import SettingsFollower
from worker.kafka.topics import ensure_replay_topic
from worker.runtime.ports import SettingsSource
from worker.runtime.settings_cache import SettingsCache
from worker.store.base import EffectStatus, StateStore
from worker.store.errors import StateStoreError
from worker.store.factory import make_state_store
from worker.tools.progress import Progress

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2

_EVENT_PREFIX = "com.sourcewhale."
_SHOWN_BARE = frozenset({Outcome.SYNCED, Outcome.NOTED, Outcome.UPDATED, Outcome.DEFERRED})
_NO_STATE = CandidateState()


class UsageError(Exception):
    """Bad arguments or configuration: one line for the operator, exit status 2."""


# ---- the ledger keys of effects (the executor's) ------------------------------------------------


def record_effect_key(team_id: str, candidate_id: str) -> str:
    """The ledger key of a candidate's one Pinpoint record."""
    return f"record:{team_id}:{candidate_id}"


def note_effect_key(team_id: str, note_ref: str) -> str:
    """The ledger key of one note (by the event's note reference)."""
    return f"note:{team_id}:{note_ref}"


def update_effect_key(team_id: str, event_id: str) -> str:
    """The ledger key of the record update an event makes."""
    return f"update:{team_id}:{event_id}"


# ---- arguments ----------------------------------------------------------------------------------


def parse_time(text: str) -> int:
    """RFC 3339 (``2026-11-02T09:00:00Z``) or epoch milliseconds → epoch milliseconds."""
    value = text.strip()
    if re.fullmatch(r"\d{1,16}", value):
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"bad time {text!r}: give RFC 3339 (2026-11-02T09:00:00Z) or epoch "
                         "milliseconds") from None
    if parsed.tzinfo is None:
        raise UsageError(f"bad time {text!r}: RFC 3339 needs an offset (Z or +HH:MM)")
    return int(parsed.timestamp() * 1000)


def parse_offsets(text: str) -> list[OffsetRange]:
    """``P:FROM-TO[,P:FROM-TO...]`` (both offsets included) → ranges."""
    ranges = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+):(\d+)-(\d+)\s*", part)
        if match is None:
            raise UsageError(f"bad offset range {part!r}: give PARTITION:FROM-TO, e.g. 0:100-250")
        partition, start, end = (int(g) for g in match.groups())
        if start > end:
            raise UsageError(f"bad offset range {part!r}: FROM is after TO")
        ranges.append(OffsetRange(partition, start, end + 1))
    return ranges


def event_type(text: str) -> str:
    """``candidate.added`` or ``com.sourcewhale.candidate.added`` → the full type."""
    full = text if text.startswith(_EVENT_PREFIX) else _EVENT_PREFIX + text
    if full not in {t.value for t in EventType}:
        known = ", ".join(t.value.removeprefix(_EVENT_PREFIX) for t in EventType)
        raise UsageError(f"unknown event type {text!r}; one of: {known}")
    return full


@dataclass(frozen=True)
class Selection:
    """Which events a replay is about: a time range or offset ranges, and filters."""

    from_ms: int | None = None
    to_ms: int | None = None
    offsets: tuple[OffsetRange, ...] = ()
    teams: frozenset[str] = frozenset()
    candidates: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.offsets and (self.from_ms is not None or self.to_ms is not None):
            raise UsageError("give either --from/--to or --offsets, not both")
        if not self.offsets and (self.from_ms is None or self.to_ms is None):
            raise UsageError("give --from and --to, or --offsets")
        if self.from_ms is not None and self.to_ms is not None and self.from_ms > self.to_ms:
            raise UsageError("--from is after --to")

    def replay_id(self, topic: str) -> str:
        """The same selection of the same topic always gives the same id."""
        canonical = json.dumps({
            "topic": topic, "from": self.from_ms, "to": self.to_ms,
            "offsets": [[r.partition, r.start, r.end] for r in sorted(self.offsets)],
            "teams": sorted(self.teams), "candidates": sorted(self.candidates),
            "types": sorted(self.types)}, sort_keys=True)
        return "replay-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def key_selected(self, key: bytes | None) -> tuple[str, str] | None:
        """(team, candidate) of a record key if the key passes the filters, else None (a key
        that is not ``team:candidate`` passes only when there is no team or candidate filter)."""
        text = key.decode("utf-8", "replace") if key is not None else ""
        team, _, candidate = text.partition(":")
        if self.teams and team not in self.teams:
            return None
        if self.candidates and candidate not in self.candidates:
            return None
        return team, candidate


@dataclass
class ReplayOptions:
    selection: Selection
    apply: bool = False
    json: bool = False
    replay_id: str | None = None
    limit: int = 1000
    """At most this many changed events listed one by one (all are counted)."""
    outcomes_window_s: float = 7 * 24 * 3600.0
    timeout_s: float | None = None
    """How long ``--apply`` follows outcomes (None: until all are in)."""


# ---- shared with `dlq` --------------------------------------------------------------------------


def load_settings(config: WorkerConfig, timeout_s: float = 30.0) -> SettingsCache:
    """Every team's settings as the workers see them now (the settings topic, read whole)."""
    cache = SettingsCache()

    def take(team_id: str, raw: bytes | None) -> None:
        cache.apply(team_id, raw)

    follower = SettingsFollower(config.kafka_client_options(), config.settings_topic,
                                take, missing_topic_grace_s=2.0,
                                client_id="pinpoint-sync-replay-settings")
    follower.start()
    try:
        if not follower.wait_caught_up(timeout_s):
            raise KafkaUnavailable(f"the settings topic {config.settings_topic!r} was not read "
                                   f"within {timeout_s:.0f}s")
    finally:
        follower.stop()
    return cache


async def open_store(config: WorkerConfig, *, read_only: bool) -> StateStore:
    """The state store the workers use (SQLite or PostgreSQL, as configured), opened; never
    created nor migrated here (a missing or older one is an error). ``read_only``: a store that
    can write nothing (`make_state_store`)."""
    if config.state_backend == "sqlite" and not config.state_sqlite_path.is_file():
        raise UsageError(f"no state store at {config.state_sqlite_path} "
                         "(PINPOINT_SYNC_STATE_URL / PINPOINT_SYNC_STATE_PATH)")
    store = make_state_store(config, migrate=False, read_only=read_only)
    try:
        return await store.open()
    except StateStoreError as exc:
        await store.close()
        raise UsageError(str(exc)) from None


def verdict_text(outcome: str, reason: str) -> str:
    """``synced`` for the verdicts whose reason is plain, ``skipped/not_synced_yet`` else."""
    return outcome if outcome in _SHOWN_BARE else f"{outcome}/{reason}"


def replay_headers(replay_id: str, record: InboundRecord) -> list[tuple[str, bytes]]:
    return [("replay.id", replay_id.encode()),
            ("replay.source.topic", record.tp.topic.encode()),
            ("replay.source.partition", str(record.tp.partition).encode()),
            ("replay.source.offset", str(record.offset).encode())]


def header(record: InboundRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None


def already_sent(reader: HistoryReader, topic: str, replay_id: str,
                 ) -> tuple[set[tuple[str, int, int]], int | None]:
    """What the replay topic already holds for ``replay_id``: the source coordinates (topic,
    partition, offset) and the earliest such record's timestamp. The whole topic is read (it
    only keeps replays, for its retention)."""
    ends = reader.end_offsets(topic)
    starts = reader.beginning_offsets(topic)
    sent: set[tuple[str, int, int]] = set()
    earliest: int | None = None
    ranges = [OffsetRange(p, starts[p], ends[p]) for p in sorted(ends)]
    for batch in reader.read(topic, ranges):
        for rec in batch:
            if header(rec, "replay.id") != replay_id:
                continue
            source_topic = header(rec, "replay.source.topic") or ""
            partition = header(rec, "replay.source.partition")
            offset = header(rec, "replay.source.offset")
            if partition is None or offset is None:
                continue
            sent.add((source_topic, int(partition), int(offset)))
            earliest = rec.timestamp_ms if earliest is None else min(earliest, rec.timestamp_ms)
    return sent, earliest


@dataclass
class Followed:
    """The outcomes a replay or redrive brought, by event id."""

    verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)
    complete: bool = False

    def counts(self) -> Counter[str]:
        return Counter(verdict_text(o, r) for o, r in self.verdicts.values())

    def dead_lettered(self) -> int:
        return sum(1 for o, _ in self.verdicts.values() if o == Outcome.DEAD_LETTERED)


def follow_outcomes(reader: HistoryReader, config: WorkerConfig, replay_id: str,
                    expected: Mapping[str, int], since_ms: int, *,
                    timeout_s: float | None, err: TextIO) -> Followed:
    """Read the outcomes topic from ``since_ms`` until every event id of ``expected`` (→ its
    source partition, for progress) has an outcome carrying ``replay_id``."""
    followed = Followed()
    totals: Counter[int] = Counter(expected.values())
    done: Counter[int] = Counter()
    progress = Progress("outcomes", len(expected), stream=err)
    progress.set_totals(totals)
    if not expected:
        followed.complete = True
        return followed
    starts = reader.offsets_for_time(config.outcomes_topic, since_ms)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    marker = replay_id.encode()
    for batch in reader.follow(config.outcomes_topic, starts):
        for rec in batch:
            value = rec.value
            if value is None or marker not in value:
                continue
            try:
                out = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            event_id = out.get("event_id")
            if out.get("replay_id") != replay_id or event_id not in expected:
                continue
            if event_id not in followed.verdicts:
                done[expected[event_id]] += 1
            followed.verdicts[event_id] = (str(out.get("outcome")), str(out.get("reason")))
        progress.update(done)
        if len(followed.verdicts) >= len(expected):
            followed.complete = True
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
    progress.finish()
    return followed


# ---- deciding again (the dry run) ---------------------------------------------------------------


class Planned(NamedTuple):
    """One selected event, decided again."""

    partition: int
    offset: int
    key: str
    event_id: str | None
    event_type: str | None
    outcome: str
    reason: str
    records: int
    """Records to create or merge (their effect not in the ledger)."""
    notes: int
    updates: int
    kept: int
    """Notes that would be kept for backfill (store only, no Pinpoint request)."""

    @property
    def pending(self) -> int:
        return self.records + self.notes + self.updates + self.kept

    def effects_text(self) -> str:
        parts = []
        for count, one, many in ((self.records, "record", "records"),
                                 (self.notes, "note", "notes"),
                                 (self.updates, "update", "updates")):
            if count:
                parts.append(f"{count} {one if count == 1 else many}")
        text = " and ".join(parts) + " to write" if parts else ""
        if self.kept:
            text += ("; " if text else "") + f"{self.kept} note(s) to keep for backfill"
        return text


class Planner:
    """Decides selected events again, read-only: today's settings, the store's state and
    ledger, and the states earlier events of this run would leave behind."""

    def __init__(self, settings: SettingsSource, store: StateStore, selection: Selection) -> None:
        self._settings = settings
        self._store = store
        self._selection = selection
        self._states: dict[tuple[str, str], CandidateState] = {}
        self._fresh: set[tuple[str, str]] = set()
        self._fresh_now = False
        """Candidates with no record in the ledger and not synced: none of their effects can be
        in the ledger either (a note or an update needs the record first), so their effects
        are counted as pending without a look-up each."""

    async def _done(self, key: str) -> bool:
        if self._fresh_now:
            return False
        effect = await self._store.get_effect(key)
        return effect is not None and effect.status is EffectStatus.DONE

    async def _load(self, who: tuple[str, str]) -> CandidateState:
        """A candidate's state from the store, the first time it is met in this run."""
        state = self._states[who] = await self._store.load_candidate(*who)
        if not state.synced and not await self._done(record_effect_key(*who)):
            self._fresh.add(who)
        return state

    async def prefetch(self, records: Iterable[InboundRecord]) -> None:
        """Load the states of a batch's candidates not met yet, all at once: the store answers
        concurrent reads together (one trip to its thread or pool for many), where one by one
        each would wait its own round trip. Only candidates whose team's integration is active:
        the others' events are decided without a state."""
        wanted: dict[tuple[str, str], None] = {}
        for record in records:
            who = self._selection.key_selected(record.key)
            if who is not None and who not in self._states and who not in wanted and (
                    integration_active(self._settings.get(who[0]))):
                wanted[who] = None
        if wanted:
            await asyncio.gather(*(self._load(who) for who in wanted))

    async def plan(self, record: InboundRecord) -> Planned | None:
        """The record decided again; None when the filters leave it out."""
        sel = self._selection
        who = sel.key_selected(record.key)
        if who is None:
            return None
        key_text = record.key_text or ""
        settings = self._settings.get(who[0])
        try:
            if not integration_active(settings):
                return self._inactive(record, key_text, who, settings)
            event = _event(record, key_text)
        except InvalidEvent as exc:
            return None if sel.types else self._invalid(record, key_text,
                                                        str(exc.reason.dead_letter_reason))
        if sel.types and event.type not in sel.types:
            return None
        policy = resolve_policy(settings, event.data.user_id, event.data.campaign_id)
        state = self._states.get(who)
        if state is None:
            state = await self._load(who)
        decision = decide(event, policy, state)
        counts, after = await self._effects(who, event.id, decision.actions, state)
        if decision.actions:
            self._states[who] = after
        return Planned(record.tp.partition, record.offset, key_text, event.id, event.type,
                       decision.outcome, decision.reason, *counts)

    def _inactive(self, record: InboundRecord, key_text: str, who: tuple[str, str],
                  settings: TeamSettings | None) -> Planned | None:
        """An event of a team without an active integration: read only as far as its
        envelope, as the worker's skip path does."""
        if record.value is None:
            raise InvalidEvent(EventErrorReason.INVALID_EVENT, "the record has no value")
        envelope = parse_envelope(record.value)
        if (envelope.team_id, envelope.candidate_id) != who:
            raise InvalidEvent(EventErrorReason.INVALID_EVENT, "the key does not match")
        if self._selection.types and envelope.type not in self._selection.types:
            return None
        decision = inactive_decision(settings.version if settings else None)
        return Planned(record.tp.partition, record.offset, key_text, envelope.id,
                       envelope.type, decision.outcome, decision.reason, 0, 0, 0, 0)

    async def _effects(self, who: tuple[str, str], event_id: str, actions: tuple[Action, ...],
                 state: CandidateState) -> tuple[tuple[int, int, int, int], CandidateState]:
        """(records, notes, updates, kept) not in the ledger yet, and the candidate's state
        once the actions are carried out (the executor's contract in `worker.core.decision`)."""
        team, candidate = who
        self._fresh_now = who in self._fresh
        records = notes = updates = kept = 0
        pending = list(state.pending_notes)
        after = state
        for action in actions:
            if isinstance(action, PushCandidate):
                records += not await self._done(record_effect_key(team, candidate))
                after = CandidateState(
                    synced=True, pinpoint_candidate_id=state.pinpoint_candidate_id,
                    record_kind=action.destination, record_id=state.record_id)
                pending = []  # written just after (backfill on) or dropped (off)
            elif isinstance(action, WriteNote):
                notes += not await self._done(note_effect_key(team, action.note.ref))
                if action.backfilled:
                    pending = [n for n in pending if n.ref != action.note.ref]
            elif isinstance(action, UpdateCandidate):
                updates += not await self._done(update_effect_key(team, event_id))
            elif all(n.ref != action.note.ref for n in pending):  # KeepForBackfill
                kept += 1
                pending.append(action.note)
        self._fresh_now = False
        if after is state and len(pending) == len(state.pending_notes):
            return (records, notes, updates, kept), state  # nothing moved (most notes)
        return (records, notes, updates, kept), CandidateState(
            synced=after.synced, pinpoint_candidate_id=after.pinpoint_candidate_id,
            record_kind=after.record_kind, record_id=after.record_id,
            pending_notes=tuple(pending))

    @staticmethod
    def _invalid(record: InboundRecord, key: str, reason: str) -> Planned:
        return Planned(record.tp.partition, record.offset, key, None, None,
                       Outcome.DEAD_LETTERED, reason, 0, 0, 0, 0)


def _event(record: InboundRecord, key_text: str) -> CampaignEvent:
    """The record's event, held to the worker's rules (a value, a key matching the event)."""
    if record.value is None:
        raise InvalidEvent(EventErrorReason.INVALID_EVENT, "the record has no value")
    event = parse_event(record.value)
    if event.key != key_text:
        raise InvalidEvent(EventErrorReason.INVALID_EVENT, "the key does not match the event")
    return event


def unchanged(original: tuple[str, str] | None, now: Planned) -> bool:
    """Whether the event is left out of the dry run's list: nothing to write and the same
    verdict, counting as the same what only says the event was applied already (its push made
    the candidate synced; its kept note was written on sync)."""
    if now.pending or original is None:
        return False
    if original == (now.outcome, now.reason):
        return True
    before = original[0]
    if before == Outcome.SYNCED and now.reason == "already_synced":
        return True
    return before == Outcome.DEFERRED and now.outcome == Outcome.NOTED


def original_outcomes(reader: HistoryReader, topic: str, from_ms: int, to_ms: int,
                      wanted: set[str]) -> dict[str, tuple[str, str]]:
    """The latest outcome of each wanted event id among the outcome records timestamped from
    ``from_ms`` to ``to_ms``."""
    found: dict[str, tuple[str, str]] = {}
    for batch in reader.read(topic, reader.time_ranges(topic, from_ms, to_ms)):
        for rec in batch:
            if rec.value is None:
                continue
            try:
                out = orjson.loads(rec.value)
            except orjson.JSONDecodeError:
                continue
            event_id = out.get("event_id") if isinstance(out, dict) else None
            if event_id in wanted:
                found[event_id] = (str(out.get("outcome")), str(out.get("reason")))
    return found


# ---- the command --------------------------------------------------------------------------------


def resolve_ranges(reader: HistoryReader, topic: str, sel: Selection) -> list[OffsetRange]:
    """The selection's offsets, checked against what the topic holds."""
    if not sel.offsets:
        assert sel.from_ms is not None
        assert sel.to_ms is not None
        return reader.time_ranges(topic, sel.from_ms, sel.to_ms)
    begins, ends = reader.beginning_offsets(topic), reader.end_offsets(topic)
    for r in sel.offsets:
        if r.partition not in ends:
            raise UsageError(f"{topic} has no partition {r.partition} (it has "
                             f"{len(ends)})")
        if r.start < begins[r.partition] or r.end > ends[r.partition]:
            raise UsageError(
                f"offsets {r.start}-{r.end - 1} are outside partition {r.partition} of {topic}"
                f" (it holds {begins[r.partition]}-{ends[r.partition] - 1})")
    return sorted(sel.offsets)


def _check_teams(settings: SettingsCache, teams: Iterable[str]) -> None:
    unknown = sorted(t for t in teams if settings.get(t) is None)
    if unknown:
        raise UsageError(f"unknown team(s) {', '.join(unknown)}: no settings in the settings "
                         "topic")


def read_selected(reader: HistoryReader, topic: str, ranges: list[OffsetRange],
                  err: TextIO, label: str) -> Iterator[list[InboundRecord]]:
    """The ranges' records, in batches, with progress per partition on stderr."""
    progress = Progress(label, sum(len(r) for r in ranges), stream=err)
    progress.set_totals({r.partition: len(r) for r in ranges})
    done: Counter[int] = Counter()
    for batch in reader.read(topic, ranges):
        yield batch
        for rec in batch:
            done[rec.tp.partition] += 1
        progress.update(done)
    progress.update(done, force=True)
    progress.finish()


def run(config: WorkerConfig, opts: ReplayOptions, *, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    """Run ``pinpoint-sync replay``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with HistoryReader(config.kafka_client_options(),
                           client_id="pinpoint-sync-replay") as reader:
            if opts.apply:
                return _apply(config, opts, reader, out, err)
            return _dry_run(config, opts, reader, out, err)
    except UsageError as exc:
        print(f"replay: {exc}", file=err)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"replay: {exc}", file=err)
        return EXIT_USAGE
    except KafkaAdapterError as exc:
        print(f"replay: Kafka at {config.kafka_bootstrap_servers}: {exc}", file=err)
        return EXIT_USAGE


@dataclass
class Decided:
    """What deciding a selection again came to."""

    read: int = 0
    planned: list[Planned] = field(default_factory=list)
    first_ts: int | None = None
    last_ts: int | None = None

    def take(self, decided: Iterable[tuple[Planned, int]]) -> None:
        for item, ts in decided:
            self.planned.append(item)
            self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
            self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)


def decide_ranges(reader: HistoryReader, topic: str, ranges: list[OffsetRange], *,
                  selection: Selection, settings: SettingsCache, config: WorkerConfig,
                  err: TextIO) -> Decided:
    """Read ``ranges`` and decide each selected record again, the store opened read-only
    (it can write nothing, on either backend)."""
    return asyncio.run(_decide_ranges(reader, topic, ranges, selection=selection,
                                      settings=settings, config=config, err=err))


async def _decide_ranges(reader: HistoryReader, topic: str, ranges: list[OffsetRange], *,
                         selection: Selection, settings: SettingsCache, config: WorkerConfig,
                         err: TextIO) -> Decided:
    decided = Decided()
    store = await open_store(config, read_only=True)  # there and readable, else exit 2 now
    try:
        planner = Planner(settings, store, selection)
        for batch in read_selected(reader, topic, ranges, err, "deciding"):
            decided.read += len(batch)
            await planner.prefetch(batch)
            for rec in batch:
                if (item := await planner.plan(rec)) is not None:
                    decided.take(((item, rec.timestamp_ms),))
    finally:
        await store.close()
    return decided


def _dry_run(config: WorkerConfig, opts: ReplayOptions, reader: HistoryReader, out: TextIO,
             err: TextIO) -> int:
    sel = opts.selection
    topic = config.events_topic
    ranges = resolve_ranges(reader, topic, sel)
    settings = load_settings(config)
    _check_teams(settings, sel.teams)
    decided = decide_ranges(reader, topic, ranges, selection=sel, settings=settings,
                            config=config, err=err)
    planned, read = decided.planned, decided.read
    first_ts, last_ts = decided.first_ts, decided.last_ts
    window: tuple[int, int] | None = None
    originals: dict[str, tuple[str, str]] = {}
    if first_ts is not None and last_ts is not None:
        window = (first_ts, last_ts + int(opts.outcomes_window_s * 1000) + 1)
        wanted = {p.event_id for p in planned if p.event_id is not None}
        originals = original_outcomes(reader, config.outcomes_topic, *window, wanted)
    report = _dry_run_report(config, opts, ranges, read=read, planned=planned,
                             originals=originals, window=window)
    if opts.json:
        print(json.dumps(report), file=out)
    else:
        _print_dry_run(report, out)
    return EXIT_OK


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _dry_run_report(config: WorkerConfig, opts: ReplayOptions, ranges: list[OffsetRange], *,
                    read: int, planned: list[Planned], originals: Mapping[str, tuple[str, str]],
                    window: tuple[int, int] | None) -> dict[str, Any]:
    changes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    listed: list[dict[str, Any]] = []
    changed = 0
    totals: Counter[str] = Counter()
    for p in planned:
        original = originals.get(p.event_id) if p.event_id is not None else None
        if unchanged(original, p):
            continue
        changed += 1
        before = verdict_text(*original) if original else "(none)"
        now = verdict_text(p.outcome, p.reason)
        change = changes[(before, now)]
        change["events"] += 1
        for name in ("records", "notes", "updates", "kept"):
            change[name] += getattr(p, name)
            totals[name] += getattr(p, name)
        if len(listed) < opts.limit:
            listed.append({"partition": p.partition, "offset": p.offset, "key": p.key,
                           "event_id": p.event_id, "event_type": p.event_type,
                           "original": before, "now": now,
                           "to_write": {"records": p.records, "notes": p.notes,
                                        "updates": p.updates},
                           "kept_for_backfill": p.kept, "effects": p.effects_text()})
    return {
        "mode": "dry_run",
        "topic": config.events_topic,
        "replay_id": opts.replay_id or opts.selection.replay_id(config.events_topic),
        "ranges": [{"partition": r.partition, "from": r.start, "to": r.end - 1}
                   for r in ranges if len(r)],
        "read": read,
        "selected": len(planned),
        "changed": changed,
        "listed": len(listed),
        "to_write": {"records": totals["records"], "notes": totals["notes"],
                     "updates": totals["updates"]},
        "kept_for_backfill": totals["kept"],
        "originals_found": sum(1 for p in planned if p.event_id in originals),
        "outcomes_window": None if window is None else
        {"from": _iso(window[0]), "to": _iso(window[1])},
        "changes": [{"from": before, "to": now, "events": c["events"],
                     "records": c["records"], "notes": c["notes"], "updates": c["updates"],
                     "kept_for_backfill": c["kept"]}
                    for (before, now), c in sorted(changes.items(),
                                                   key=lambda kv: -kv[1]["events"])],
        "events": listed,
    }


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _change_text(records: int, notes: int, updates: int, kept: int) -> str:
    parts = [_plural(n, one, many) for n, one, many in
             ((records, "record", "records"), (notes, "note", "notes"),
              (updates, "update", "updates")) if n]
    text = (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1
            else parts[0] if parts else "nothing") + " to write"
    if kept:
        text += f", {_plural(kept, 'note', 'notes')} to keep for backfill"
    return text


def _print_dry_run(report: Mapping[str, Any], out: TextIO) -> None:
    print(f"dry run over {report['topic']} (nothing is written; --apply replays): "
          f"{report['read']:,} events read, {report['selected']:,} selected", file=out)
    if report["events"]:
        print("", file=out)
        print("events that would change (partition:offset  key  type  original → now  "
              "effects):", file=out)
    for e in report["events"]:
        etype = (e["event_type"] or "?").removeprefix(_EVENT_PREFIX)
        effects = f"  {e['effects']}" if e["effects"] else ""
        print(f"  {e['partition']}:{e['offset']}  {e['key']}  {etype}  "
              f"{e['original']} → {e['now']}{effects}", file=out)
    if report["changed"] > report["listed"]:
        print(f"  ... and {report['changed'] - report['listed']:,} more (--limit)", file=out)
    print("", file=out)
    if report["changes"]:
        print("summary by change:", file=out)
        for c in report["changes"]:
            print(f"  {c['from']} → {c['to']}: {_plural(c['events'], 'event', 'events')}, "
                  f"{_change_text(c['records'], c['notes'], c['updates'], c['kept_for_backfill'])}",
                  file=out)
    else:
        print("no event would change", file=out)
    w = report["to_write"]
    print(f"total: {report['changed']:,} of {report['selected']:,} events would change; "
          f"{_change_text(w['records'], w['notes'], w['updates'], report['kept_for_backfill'])}",
          file=out)
    window = report["outcomes_window"]
    if window is not None:
        print(f"original outcomes: {report['originals_found']:,} of {report['selected']:,} "
              f"found in {window['from']} .. {window['to']}", file=out)
    print(f"replay id: {report['replay_id']}", file=out)


def _apply(config: WorkerConfig, opts: ReplayOptions, reader: HistoryReader, out: TextIO,
           err: TextIO) -> int:
    sel = opts.selection
    topic = config.events_topic
    replay_id = opts.replay_id or sel.replay_id(topic)
    ranges = resolve_ranges(reader, topic, sel)
    settings = load_settings(config)
    _check_teams(settings, sel.teams)
    ensure_replay_topic(config.kafka_client_options(), topic, config.replay_topic,
                        client_id="pinpoint-sync-replay")
    replay_partitions = len(reader.partitions(config.replay_topic))
    sent_before, earliest = already_sent(reader, config.replay_topic, replay_id)
    started_ms = int(time.time() * 1000)
    expected: dict[str, int] = {}
    published = skipped_before = undecodable = 0
    with RecordWriter(config.kafka_client_options(), client_id="pinpoint-sync-replay") as writer:
        for batch in read_selected(reader, topic, ranges, err, "publishing"):
            for rec in batch:
                if sel.key_selected(rec.key) is None:
                    continue
                try:
                    envelope = parse_envelope(rec.value if rec.value is not None else b"")
                except InvalidEvent:
                    undecodable += 1
                    continue
                if sel.types and envelope.type not in sel.types:
                    continue
                expected[envelope.id] = rec.tp.partition
                if (topic, rec.tp.partition, rec.offset) in sent_before:
                    skipped_before += 1
                    continue
                writer.send(config.replay_topic, rec.tp.partition % replay_partitions,
                            rec.key, rec.value, replay_headers(replay_id, rec))
                published += 1
            writer.flush()
    since = min(earliest, started_ms) if earliest is not None else started_ms
    followed = follow_outcomes(reader, config, replay_id, expected, since - 1000,
                               timeout_s=opts.timeout_s, err=err)
    return _report_applied(out, opts.json, "replay", replay_id, config.replay_topic,
                           published=published, sent_before=skipped_before,
                           expected=len(expected), followed=followed,
                           extra={"undecodable_not_replayed": undecodable})


def _report_applied(out: TextIO, as_json: bool, what: str, replay_id: str, topic: str, *,
                    published: int, sent_before: int, expected: int, followed: Followed,
                    extra: Mapping[str, Any] | None = None) -> int:
    missing = expected - len(followed.verdicts)
    failed = followed.dead_lettered()
    code = EXIT_FAILURES if failed or missing else EXIT_OK
    summary = {"mode": "apply", "command": what, "replay_id": replay_id, "topic": topic,
               "published": published, "already_published": sent_before,
               "events": expected, "outcomes": len(followed.verdicts), "missing": missing,
               "dead_lettered": failed, "verdicts": dict(followed.counts()), **(extra or {})}
    if as_json:
        print(json.dumps(summary), file=out)
        return code
    print(f"{what} {replay_id}: {published:,} records published to {topic}"
          + (f" ({sent_before:,} published by an earlier run, not again)" if sent_before
             else ""), file=out)
    for verdict, n in followed.counts().most_common():
        print(f"  {verdict}: {_plural(n, 'event', 'events')}", file=out)
    if extra:
        for name, value in extra.items():
            if value:
                print(f"  {name.replace('_', ' ')}: {value}", file=out)
    if missing:
        print(f"{missing:,} of {expected:,} events have no outcome yet: the workers are still "
              "at it (or held); run the same command again to keep following", file=out)
    elif failed:
        print(f"{failed:,} events were dead-lettered again: see `pinpoint-sync dlq list`",
              file=out)
    else:
        print(f"done: all {expected:,} events have their outcome", file=out)
    return code
