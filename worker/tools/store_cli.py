"""``pinpoint-sync store status|migrate|prune``: look after the configured state store.

Reads the same ``PINPOINT_SYNC_*`` configuration as ``run`` (``STATE_URL`` or ``STATE_PATH``,
the password sources, ``LEDGER_RETENTION_DAYS``). ``status`` never migrates (it shows a store
that is behind as such); ``migrate`` applies what is missing under the store's migration lock,
safe while workers run; ``prune`` deletes done ledger entries and done marks older than the
retention (never intents, leases or held events). Exit codes: 0 done, 1 the store's schema is
behind (``status``), 2 bad arguments, configuration, or a store that cannot be used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from worker.config import ConfigError, WorkerConfig, load_config
from worker.store.errors import StateStoreError
from worker.store.factory import make_state_store

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (a bare number is days)."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (e.g. 30d, 12h, 90m, 45s, 2w)")
    value = timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError("the duration must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinpoint-sync store",
        description="Status, migrations and pruning of the state store named by "
        "PINPOINT_SYNC_STATE_URL (or the SQLite file at PINPOINT_SYNC_STATE_PATH).",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("status", "schema version and rows per table"),
                       ("migrate", "apply the missing migrations"),
                       ("prune", "delete done ledger entries older than the retention")):
        action = sub.add_parser(name, help=text)
        action.add_argument("--json", action="store_true", help="one JSON object on stdout")
        if name == "prune":
            action.add_argument("--older-than", type=parse_duration, default=None,
                                help="retention, e.g. 30d or 12h (default: "
                                "PINPOINT_SYNC_LEDGER_RETENTION_DAYS days)")
    return parser


async def _act(args: argparse.Namespace, cfg: WorkerConfig) -> tuple[int, dict[str, Any]]:
    store = make_state_store(cfg, migrate=False)
    await store.open()
    try:
        if args.action == "migrate":
            applied = await store.migrate()
            status = await store.status()
            return 0, {"applied": applied, "schema_version": status.schema_version,
                       "location": status.location}
        status = await store.status()
        result: dict[str, Any] = {
            "backend": status.backend, "location": status.location,
            "schema_version": status.schema_version,
            "supported_version": status.supported_version, "counts": dict(status.counts),
        }
        if args.action == "status":
            behind = status.schema_version < status.supported_version
            return (1 if behind else 0), result
        if status.schema_version < status.supported_version:
            return 1, {**result, "error": "schema behind: run `pinpoint-sync store migrate`"}
        older_than: timedelta = args.older_than or timedelta(days=cfg.ledger_retention_days)
        removed = await store.prune(older_than)
        return 0, {"older_than_s": older_than.total_seconds(), "removed": removed,
                   "location": status.location}
    finally:
        await store.close()


def _print_text(action: str, result: dict[str, Any]) -> None:
    if action == "status":
        print(f"{result['backend']} state store at {result['location']}")
        print(f"schema version {result['schema_version']} "
              f"(this release: {result['supported_version']})")
        for table, count in result["counts"].items():
            print(f"  {table:18} {count}")
        if result["schema_version"] < result["supported_version"]:
            print("schema behind: run `pinpoint-sync store migrate`")
    elif action == "migrate":
        applied = result["applied"]
        what = ", ".join(map(str, applied)) if applied else "none (already up to date)"
        print(f"{result['location']}: migrations applied: {what}; "
              f"schema version {result['schema_version']}")
    elif "error" in result:
        print(result["error"])
    else:
        removed = result["removed"]
        print(f"{result['location']}: pruned {removed['effects_done']} done ledger entries and "
              f"{removed['done_marks']} done marks older than "
              f"{timedelta(seconds=result['older_than_s'])}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pinpoint-sync store``."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        cfg = load_config()
    except ConfigError as exc:
        sys.stderr.write(f"pinpoint-sync: invalid configuration\n{exc}\n")
        return 2
    try:
        code, result = asyncio.run(_act(args, cfg))
    except StateStoreError as exc:
        sys.stderr.write(f"pinpoint-sync store: {exc}\n")
        return 2
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        _print_text(args.action, result)
    return code
