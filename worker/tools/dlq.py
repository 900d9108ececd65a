"""``pinpoint-sync dlq``: look at dead letters and send them back to the workers.

- ``list`` reads the dead-letter topic whole (an assigned consumer: no group, no commit) and
  prints one row per dead letter: partition:offset, time, reason, team, key, attempts, error.
- ``show PARTITION:OFFSET`` prints one dead letter's headers and its value (pretty JSON when it
  is JSON, else the bytes escaped).
- ``redrive`` selects dead letters with the same filters. Without ``--apply`` it only says what
  it would do. With ``--apply`` each selected record goes to the replay topic, key and value
  bytes unchanged, on the partition its original came from, with its ``dlq.*`` headers kept,
  ``dlq.attempts`` incremented and the ``replay.*`` headers added; the workers decide it again
  and apply it through the ledger. A record whose attempts reached ``--max-attempts`` stays
  parked and is listed as such. The state store remembers each dead letter once it was sent
  (after the brokers acknowledged it), so the same redrive run again sends nothing twice; a
  dead letter that fails again is a new dead letter (with its attempts counted), which a later
  redrive may send. The command then follows the outcomes of what it sent.
  A digest dead letter (``dlq.truncated``: its event was too large for the dead-letter topic)
  holds no event: it is listed as a digest and never redriven; its event is re-read from the
  events topic with ``replay --offsets`` at its ``dlq.source.*`` coordinates.

Exit status: 0 done, 1 failures seen (records parked at the cap, events dead-lettered again,
outcomes missing at the timeout), 2 bad arguments or configuration.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from worker.config import ConfigError, WorkerConfig
from worker.core.digest import TRUNCATED_HEADER
from worker.core.errors import InvalidEvent
from worker.core.events import parse_envelope
from worker.kafka.errors import KafkaAdapterError
from worker.kafka.history import HistoryReader, OffsetRange, RecordWriter
from worker.kafka.records import InboundRecord
from worker.kafka.topics import ensure_replay_topic
from worker.store.base import StateStore
from worker.tools.replay import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    Followed,
    UsageError,
    follow_outcomes,
    header,
    open_store,
    replay_headers,
)

DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class DlqFilter:
    reasons: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    since_ms: int | None = None
    until_ms: int | None = None

    def __post_init__(self) -> None:
        if self.since_ms is not None and self.until_ms is not None and \
                self.since_ms > self.until_ms:
            raise UsageError("--since is after --until")

    def accepts(self, letter: DeadLetter) -> bool:
        if self.reasons and letter.reason not in self.reasons:
            return False
        if self.teams and letter.team not in self.teams:
            return False
        if self.since_ms is not None and letter.record.timestamp_ms < self.since_ms:
            return False
        return self.until_ms is None or letter.record.timestamp_ms < self.until_ms


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, with its headers read."""

    record: InboundRecord

    @property
    def where(self) -> str:
        return f"{self.record.tp.partition}:{self.record.offset}"

    @property
    def reason(self) -> str:
        return header(self.record, "dlq.reason") or "?"

    @property
    def error(self) -> str:
        return header(self.record, "dlq.error") or ""

    @property
    def is_digest(self) -> bool:
        """A digest (``dlq.truncated``) stands for an event too large for the dead-letter
        topic: its value is not the event, so it cannot be redriven; the event is re-read
        from its ``dlq.source.*`` coordinates with ``replay --offsets``."""
        return (header(self.record, TRUNCATED_HEADER) or "").lower() == "true"

    def replay_hint(self) -> str:
        """The command that re-reads a digest's event from the events topic."""
        offset = header(self.record, "dlq.source.offset") or "?"
        return f"pinpoint-sync replay --offsets {self.source_partition()}:{offset}-{offset}"

    @property
    def attempts(self) -> int:
        try:
            return int(header(self.record, "dlq.attempts") or 1)
        except ValueError:
            return 1

    @property
    def key(self) -> str:
        key = self.record.key
        return "" if key is None else key.decode("utf-8", "replace")

    @property
    def team(self) -> str:
        return self.key.partition(":")[0]

    @property
    def time(self) -> str:
        return datetime.fromtimestamp(self.record.timestamp_ms / 1000, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")

    def source_partition(self) -> int:
        try:
            return int(header(self.record, "dlq.source.partition") or self.record.tp.partition)
        except ValueError:
            return self.record.tp.partition

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "partition": self.record.tp.partition, "offset": self.record.offset,
            "time": self.time, "reason": self.reason, "team": self.team, "key": self.key,
            "attempts": self.attempts, "digest": self.is_digest, "error": self.error}
        if self.is_digest:
            row["replay"] = self.replay_hint()
        return row


def read_dead_letters(reader: HistoryReader, topic: str, flt: DlqFilter) -> list[DeadLetter]:
    """Every dead letter the filter accepts, in partition and offset order."""
    begins, ends = reader.beginning_offsets(topic), reader.end_offsets(topic)
    if flt.since_ms is not None:
        begins = {p: max(o, begins[p]) for p, o in
                  reader.offsets_for_time(topic, flt.since_ms).items()}
    ranges = [OffsetRange(p, begins[p], ends[p]) for p in sorted(ends)]
    letters = [DeadLetter(rec) for batch in reader.read(topic, ranges) for rec in batch]
    chosen = [d for d in letters if flt.accepts(d)]
    return sorted(chosen, key=lambda d: (d.record.tp.partition, d.record.offset))


def _table(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str, int]]) -> list[str]:
    """Rows as aligned text columns (``(title, field, max width)``; 0: no limit)."""
    cells = [[_cell(r, name, limit) for _, name, limit in columns] for r in rows]
    titles = [t for t, _, _ in columns]
    widths = [max([len(t)] + [len(c[i]) for c in cells]) for i, t in enumerate(titles)]
    lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return lines


def _cell(row: dict[str, Any], name: str, limit: int) -> str:
    if name == "where":
        text = f"{row['partition']}:{row['offset']}"
    elif name == "kind":
        text = "digest" if row.get("digest") else "event"
    else:
        text = str(row.get(name, "")).replace("\n", " ")
    return text if not limit or len(text) <= limit else text[: limit - 1] + "…"


_COLUMNS = [("P:OFFSET", "where", 0), ("TIME", "time", 0), ("REASON", "reason", 0),
            ("TEAM", "team", 24), ("KEY", "key", 40), ("ATTEMPTS", "attempts", 0),
            ("KIND", "kind", 0), ("ERROR", "error", 70)]

_DIGEST_TITLE = ("digests, not redrivable (the event was too large for the dead-letter topic; "
                 "re-read it with `pinpoint-sync replay --offsets P:O-O` from its dlq.source "
                 "coordinates)")


def parse_where(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+):(\d+)\s*", text)
    if match is None:
        raise UsageError(f"bad dead-letter position {text!r}: give PARTITION:OFFSET, e.g. 0:42")
    return int(match.group(1)), int(match.group(2))


def _guarded(config: WorkerConfig, err: TextIO, action: Any) -> int:
    try:
        with HistoryReader(config.kafka_client_options(), client_id="pinpoint-sync-dlq") as r:
            return int(action(r))
    except (UsageError, ConfigError) as exc:
        print(f"dlq: {exc}", file=err)
        return EXIT_USAGE
    except KafkaAdapterError as exc:
        print(f"dlq: Kafka at {config.kafka_bootstrap_servers}: {exc}", file=err)
        return EXIT_USAGE


def list_command(config: WorkerConfig, flt: DlqFilter, *, as_json: bool = False,
                 out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``dlq list``: one row per dead letter."""
    out, err = out or sys.stdout, err or sys.stderr

    def action(reader: HistoryReader) -> int:
        letters = read_dead_letters(reader, config.dlq_topic, flt)
        rows = [d.row() for d in letters]
        if as_json:
            print(json.dumps({"topic": config.dlq_topic, "count": len(rows),
                              "dead_letters": rows}), file=out)
        else:
            for line in _table(rows, _COLUMNS):
                print(line, file=out)
            print(f"{len(rows):,} dead letter(s) in {config.dlq_topic}", file=out)
        return EXIT_OK

    return _guarded(config, err, action)


def show_command(config: WorkerConfig, where: str, *, out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """``dlq show P:O``: one dead letter's headers and value."""
    out, err = out or sys.stdout, err or sys.stderr

    def action(reader: HistoryReader) -> int:
        partition, offset = parse_where(where)
        record = reader.read_one(config.dlq_topic, partition, offset)
        if record is None:
            raise UsageError(f"no dead letter at {partition}:{offset} in {config.dlq_topic}")
        print(f"dead letter {partition}:{offset} of {config.dlq_topic}", file=out)
        print(f"key: {DeadLetter(record).key}", file=out)
        print("headers:", file=out)
        for name, value in record.headers:
            print(f"  {name}: {'' if value is None else value.decode('utf-8', 'replace')}",
                  file=out)
        print("value:", file=out)
        print(_decoded(record.value), file=out)
        return EXIT_OK

    return _guarded(config, err, action)


def _decoded(value: bytes | None) -> str:
    if value is None:
        return "(null)"
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return repr(value)


def redrive_headers(letter: DeadLetter, replay_id: str) -> list[tuple[str, bytes]]:
    """The dead letter's ``dlq.*`` headers with ``dlq.attempts`` one more, then ``replay.*``."""
    kept: list[tuple[str, bytes]] = []
    for name, value in letter.record.headers:
        if not name.startswith("dlq.") or value is None:
            continue
        kept.append((name, str(letter.attempts + 1).encode() if name == "dlq.attempts"
                     else value))
    if not any(name == "dlq.attempts" for name, _ in kept):
        kept.append(("dlq.attempts", str(letter.attempts + 1).encode()))
    return kept + replay_headers(replay_id, letter.record)


def redrive_command(config: WorkerConfig, flt: DlqFilter, *, apply: bool = False,
                    max_attempts: int = DEFAULT_MAX_ATTEMPTS, as_json: bool = False,
                    timeout_s: float | None = None, out: TextIO | None = None,
                    err: TextIO | None = None) -> int:
    """``dlq redrive``: dry run, or ``apply`` (see the module docstring)."""
    out, err = out or sys.stdout, err or sys.stderr
    if max_attempts < 1:
        print("dlq: --max-attempts must be at least 1", file=err)
        return EXIT_USAGE

    def action(reader: HistoryReader) -> int:
        return asyncio.run(redrive(reader))

    async def redrive(reader: HistoryReader) -> int:
        topic = config.dlq_topic
        store = await open_store(config, read_only=not apply)
        try:
            letters = read_dead_letters(reader, topic, flt)
            digests = [d for d in letters if d.is_digest]
            parked = [d for d in letters if not d.is_digest and d.attempts >= max_attempts]
            done_before = [d for d in letters if not d.is_digest and d.attempts < max_attempts
                           and await store.redriven(topic, d.record.tp.partition,
                                                    d.record.offset) is not None]
            left = {d.where for d in (*digests, *parked, *done_before)}
            sending = [d for d in letters if d.where not in left]
            replay_id = "redrive-" + hashlib.sha256(json.dumps(
                [topic, [(d.record.tp.partition, d.record.offset) for d in sending]]
            ).encode()).hexdigest()[:16]
            followed = Followed(complete=True)
            expected: dict[str, int] = {}
            if apply and sending:
                followed, expected = await _send(config, reader, store, sending,
                                                 replay_id=replay_id, timeout_s=timeout_s,
                                                 err=err)
        finally:
            await store.close()
        return _redrive_report(out, as_json=as_json, apply=apply, replay_id=replay_id,
                               topic=config.replay_topic, sending=sending, parked=parked,
                               done_before=done_before, digests=digests, expected=expected,
                               followed=followed, max_attempts=max_attempts)

    return _guarded(config, err, action)


async def _send(config: WorkerConfig, reader: HistoryReader, store: StateStore,
                sending: list[DeadLetter], *, replay_id: str, timeout_s: float | None,
                err: TextIO) -> tuple[Followed, dict[str, int]]:
    partitions = ensure_replay_topic(config.kafka_client_options(), config.events_topic,
                                     config.replay_topic, client_id="pinpoint-sync-dlq")
    started_ms = int(time.time() * 1000)
    expected: dict[str, int] = {}
    with RecordWriter(config.kafka_client_options(), client_id="pinpoint-sync-dlq") as writer:
        for letter in sending:
            rec = letter.record
            writer.send(config.replay_topic, letter.source_partition() % partitions, rec.key,
                        rec.value, redrive_headers(letter, replay_id))
            try:
                if rec.value is not None:
                    expected[parse_envelope(rec.value).id] = letter.source_partition()
            except InvalidEvent:
                pass  # its outcome has no event id to follow it by
        writer.flush()
    for letter in sending:  # only once the brokers have them: a crash before sends again
        await store.remember_redrive(config.dlq_topic, letter.record.tp.partition,
                               letter.record.offset, replay_id)
    followed = follow_outcomes(reader, config, replay_id, expected, started_ms - 1000,
                               timeout_s=timeout_s, err=err)
    return followed, expected


def _redrive_report(out: TextIO, *, as_json: bool, apply: bool, replay_id: str, topic: str,
                    sending: list[DeadLetter], parked: list[DeadLetter],
                    done_before: list[DeadLetter], digests: list[DeadLetter],
                    expected: dict[str, int], followed: Followed, max_attempts: int) -> int:
    missing = len(expected) - len(followed.verdicts) if apply else 0
    failed = followed.dead_lettered()
    code = EXIT_FAILURES if parked or digests or failed or missing else EXIT_OK
    summary = {"mode": "apply" if apply else "dry_run", "command": "redrive",
               "replay_id": replay_id, "topic": topic, "max_attempts": max_attempts,
               "to_send" if not apply else "sent": [d.row() for d in sending],
               "parked": [d.row() for d in parked],
               "already_redriven": [d.row() for d in done_before],
               "digests": [d.row() for d in digests],
               "outcomes": len(followed.verdicts), "missing": missing,
               "dead_lettered": failed, "verdicts": dict(followed.counts())}
    if as_json:
        print(json.dumps(summary), file=out)
        return code
    verb = "sent to" if apply else "would be sent to"
    for title, group in ((f"{verb} {topic}", sending),
                         (f"parked (attempts at the cap of {max_attempts})", parked),
                         ("redriven before (not sent again)", done_before),
                         (_DIGEST_TITLE, digests)):
        if group:
            print(f"{title}:", file=out)
            for line in _table([d.row() for d in group], _COLUMNS):
                print(f"  {line}", file=out)
    print(f"{len(sending):,} {'sent' if apply else 'to send'}, {len(parked):,} "
          f"parked, {len(done_before):,} redriven before, {len(digests):,} digest(s) not "
          "redrivable", file=out)
    if apply:
        for verdict, n in followed.counts().most_common():
            print(f"  {verdict}: {n:,}", file=out)
        if missing:
            print(f"{missing:,} redriven events have no outcome yet; `pinpoint-sync dlq "
                  "redrive` again sends nothing twice", file=out)
        print(f"redrive id: {replay_id}", file=out)
    elif sending:
        print("nothing was sent: run again with --apply", file=out)
    return code
