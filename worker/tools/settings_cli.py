"""``pinpoint-sync settings``: validate team settings documents, publish them, remove a team.

```
pinpoint-sync settings validate FILE...
pinpoint-sync settings publish FILE... [--remove TEAM_ID]... [--bootstrap-servers B] [--topic T]
                               [--timeout SECONDS]
```

``validate`` prints ``OK`` or the validation error (naming the setting) for each file and exits 1
if any is invalid. ``publish`` validates every file first and publishes nothing unless all are
valid; each document goes to the settings topic unchanged, keyed by its ``team_id``, and each
``--remove TEAM_ID`` publishes a tombstone (the team's integration is removed). The settings topic
is created, compacted, if it does not exist yet. Broker address, security and topic come from the
``PINPOINT_SYNC_*`` environment (docs/configuration.md); the flags win. ``-`` reads standard input.

Exit status: 0 done, 1 an invalid document, 2 bad usage or configuration, 3 Kafka unreachable or
refusing the records.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from worker.config import ConfigError, WorkerConfig, load_config
from worker.core.errors import InvalidSettings
from worker.core.settings import TeamSettings, parse_settings
from worker.kafka.errors import KafkaAdapterError
from worker.kafka.producer import AsyncProducer
from worker.kafka.topics import TopicSpec, ensure_topics

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_KAFKA = 3


@dataclass(frozen=True)
class Checked:
    """One file read and validated: its bytes and settings, or why it is invalid."""

    name: str
    raw: bytes
    settings: TeamSettings | None
    problem: str | None


def check_file(name: str, stdin: TextIO | None = None) -> Checked:
    """Read and validate one settings file (``-``: standard input)."""
    try:
        raw = (stdin or sys.stdin).buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        return Checked(name, b"", None, f"cannot read: {exc.strerror or exc}")
    try:
        return Checked(name, raw, parse_settings(raw), None)
    except InvalidSettings as exc:
        return Checked(name, raw, None, f"{exc.reason.value}: {exc.detail}")


def _report(checked: list[Checked], out: TextIO) -> bool:
    """Print each file's verdict; True when all are valid."""
    for item in checked:
        if item.settings is not None:
            print(f"OK       {item.name} (team {item.settings.team_id}, "
                  f"version {item.settings.version})", file=out)
        else:
            print(f"INVALID  {item.name}: {item.problem}", file=out)
    return all(item.settings is not None for item in checked)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinpoint-sync settings",
        description="Validate team settings documents, or publish them to the settings topic.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = sub.add_parser("validate", help="check settings files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE", help="settings JSON (- for stdin)")
    publish = sub.add_parser(
        "publish", help="validate, then publish settings files keyed by their team_id")
    publish.add_argument("files", nargs="*", metavar="FILE", help="settings JSON (- for stdin)")
    publish.add_argument("--remove", action="append", default=[], metavar="TEAM_ID",
                         help="publish a tombstone for this team (repeatable)")
    publish.add_argument("--bootstrap-servers", default=None,
                         help="overrides PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS")
    publish.add_argument("--topic", default=None, help="overrides PINPOINT_SYNC_SETTINGS_TOPIC")
    publish.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                         help="give up reaching the brokers after this long (default 30)")
    return parser


async def publish(config: WorkerConfig, documents: Sequence[TeamSettings | bytes],
                  removals: Sequence[str] = (), *,
                  timeout_s: float = 30.0) -> list[tuple[str, int, int]]:
    """Publish raw documents (validated) and tombstones; returns (team, partition, offset)s.

    ``timeout_s`` bounds reaching the brokers and each record's delivery.

    A document given as `TeamSettings` is published as its JSON; bytes are published as given
    after validation. Raises `InvalidSettings` or `KafkaAdapterError`.
    """
    records: list[tuple[str, bytes | None]] = []
    for document in documents:
        if isinstance(document, TeamSettings):
            records.append((document.team_id, document.model_dump_json(by_alias=True).encode()))
        else:
            records.append((parse_settings(document).team_id, document))
    records.extend((team_id, None) for team_id in removals)
    options = config.kafka_client_options()
    timeout_ms = int(timeout_s * 1000)
    await asyncio.to_thread(
        ensure_topics, options, {config.settings_topic: TopicSpec(partitions=1, compacted=True)},
        client_id="pinpoint-sync-settings-cli", timeout_s=timeout_s)
    producer = await AsyncProducer.create(
        options, client_id="pinpoint-sync-settings-cli", connect_timeout=timeout_s,
        config={"request.timeout.ms": timeout_ms, "message.timeout.ms": timeout_ms + 1000})
    async with producer:
        results = []
        for team_id, value in records:
            partition, offset = await producer.send(
                config.settings_topic, key=team_id.encode("utf-8"), value=value)
            results.append((team_id, partition, offset))
        return results


def main(argv: list[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``pinpoint-sync settings ...``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    checked = [check_file(name) for name in args.files]
    valid = _report(checked, out)
    if args.action == "validate":
        return EXIT_OK if valid else EXIT_INVALID
    if not valid:
        print("nothing published: fix the invalid documents first", file=err)
        return EXIT_INVALID
    if not checked and not args.remove:
        print("publish: give at least one FILE or --remove TEAM_ID", file=err)
        return EXIT_USAGE
    return _publish_command(args, checked, out, err)


def _publish_command(args: argparse.Namespace, checked: list[Checked], out: TextIO,
                     err: TextIO) -> int:
    try:
        config = load_config(kafka_bootstrap_servers=args.bootstrap_servers,
                             settings_topic=args.topic)
    except ConfigError as exc:
        print(exc, file=err)
        return EXIT_USAGE
    try:
        results = asyncio.run(publish(config, [c.raw for c in checked], args.remove,
                                      timeout_s=args.timeout))
    except KafkaAdapterError as exc:
        print(f"publish failed ({config.kafka_bootstrap_servers}): {exc}", file=err)
        return EXIT_KAFKA
    names = [c.name for c in checked] + [f"tombstone for {team}" for team in args.remove]
    for name, (team_id, partition, offset) in zip(names, results, strict=True):
        print(f"published {name} → {config.settings_topic}[{partition}]@{offset} "
              f"(key {team_id})", file=out)
    return EXIT_OK
