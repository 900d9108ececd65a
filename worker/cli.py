"""The ``pinpoint-sync`` command line: parse, configure, hand over. No business logic here.

Subcommands (DESIGN 5.4): ``run`` (the worker), ``replay`` (re-decide event history; dry run
unless ``--apply``), ``dlq`` (list, show, redrive dead letters), ``dev`` (the whole local stack
for a demo), ``settings`` (validate or publish a team's settings), ``schemas`` (regenerate
``schemas/``), ``store`` (state store status, migrations, pruning), ``simulator`` (the Pinpoint
simulator), ``kafka`` (a local Apache Kafka broker).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from worker import __version__

Handler = Callable[[argparse.Namespace, list[str]], int]


def _cmd_run(args: argparse.Namespace, _rest: list[str]) -> int:
    from worker.runtime.main import run_from_environment  # noqa: PLC0415

    return int(run_from_environment(log_format=args.log_format))


def _cmd_dev(_args: argparse.Namespace, rest: list[str]) -> int:
    from worker.tools.dev import main as dev_main  # noqa: PLC0415

    return dev_main(rest)


def _cmd_kafka(args: argparse.Namespace, _rest: list[str]) -> int:
    from worker.kafka.broker import run_foreground  # noqa: PLC0415

    return run_foreground(args.port, Path(args.run_dir) if args.run_dir else None)


def _cmd_simulator(_args: argparse.Namespace, rest: list[str]) -> int:
    from worker.simulator import main as simulator_main  # noqa: PLC0415

    return simulator_main(rest)


def _cmd_schemas(args: argparse.Namespace, _rest: list[str]) -> int:
    from worker.core.schemagen import check_schemas, write_schemas  # noqa: PLC0415

    out = Path(args.out)
    if args.check:
        stale = check_schemas(out)
        for name in stale:
            print(f"out of date: {name}")
        if stale:
            print("run `pinpoint-sync schemas` to regenerate them")
            return 1
        print(f"{out}: up to date")
        return 0
    for path in write_schemas(out):
        print(f"wrote {path}")
    return 0


def _cmd_settings(_args: argparse.Namespace, rest: list[str]) -> int:
    from worker.tools.settings_cli import main as settings_main  # noqa: PLC0415

    return int(settings_main(rest))


def _tool_config(err_prefix: str) -> object:
    from worker.config import ConfigError, load_config  # noqa: PLC0415
    from worker.runtime.main import access_refused  # noqa: PLC0415

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"{err_prefix}: {exc}", file=sys.stderr)
        return None
    if (refused := access_refused(config)) is not None:
        print(f"{err_prefix}: {refused}", file=sys.stderr)
        return None
    return config


def _quiet_logs() -> None:
    # The tools' own output is on stdout (and progress on stderr); the libraries' log lines go
    # to stderr, warnings and worse only (a refused settings document is one of those).
    import logging  # noqa: PLC0415

    from worker.observability.logging import configure_logging  # noqa: PLC0415

    configure_logging("console" if sys.stderr.isatty() else "json", "warning")
    # kafka-python's own lines (a metadata refresh cancelled on close...) say nothing to an
    # operator: the tools report what failed, in one line, themselves.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def _cmd_replay(args: argparse.Namespace, _rest: list[str]) -> int:
    from worker.config import WorkerConfig  # noqa: PLC0415
    from worker.tools import replay  # noqa: PLC0415

    config = _tool_config("replay")
    if not isinstance(config, WorkerConfig):
        return replay.EXIT_USAGE
    _quiet_logs()
    try:
        selection = replay.Selection(
            from_ms=replay.parse_time(args.from_) if args.from_ is not None else None,
            to_ms=replay.parse_time(args.to) if args.to is not None else None,
            offsets=tuple(r for text in args.offsets for r in replay.parse_offsets(text)),
            teams=frozenset(args.team), candidates=frozenset(args.candidate),
            types=frozenset(replay.event_type(t) for t in args.type))
    except replay.UsageError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return replay.EXIT_USAGE
    options = replay.ReplayOptions(
        selection=selection, apply=args.apply, json=args.json, replay_id=args.replay_id,
        limit=args.limit, outcomes_window_s=args.outcomes_window * 3600.0,
        timeout_s=args.timeout)
    return replay.run(config, options)


def _cmd_dlq(args: argparse.Namespace, _rest: list[str]) -> int:
    from worker.config import WorkerConfig  # noqa: PLC0415
    from worker.tools import dlq  # noqa: PLC0415
    from worker.tools.replay import EXIT_USAGE, UsageError, parse_time  # noqa: PLC0415

    config = _tool_config("dlq")
    if not isinstance(config, WorkerConfig):
        return EXIT_USAGE
    _quiet_logs()
    if args.action == "show":
        return dlq.show_command(config, args.where)
    try:
        flt = dlq.DlqFilter(
            reasons=frozenset(args.reason), teams=frozenset(args.team),
            since_ms=parse_time(args.since) if args.since else None,
            until_ms=parse_time(args.until) if args.until else None)
    except UsageError as exc:
        print(f"dlq: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "list":
        return dlq.list_command(config, flt, as_json=args.json)
    return dlq.redrive_command(config, flt, apply=args.apply, max_attempts=args.max_attempts,
                               as_json=args.json, timeout_s=args.timeout)


_REPLAY_HELP = """\
Re-read campaign events and decide them again with today's team settings and state.

Without --apply (the default) this is a dry run: it writes nothing anywhere (no Pinpoint
request, no commit of the workers' group, no write to the state store or to any topic). It
lists each event whose verdict would change, or that has effects not yet in the effect
ledger, as "original -> now" with those effects, then a summary by change and totals.

With --apply the selected events are published unchanged to the replay topic
(PINPOINT_SYNC_REPLAY_TOPIC); the workers decide them again and apply them through the
ledger, so nothing is written twice. The command follows their outcomes until all are in.
Interrupted, run the same command again: it sends only what it had not sent yet.

TIME is RFC 3339 (2026-11-02T09:00:00Z) or epoch milliseconds; --from is included, --to
excluded. --offsets P:FROM-TO includes both offsets. Configuration comes from the
PINPOINT_SYNC_* variables, as for `run`.

exit status: 0 done, 1 failures seen, 2 bad arguments or configuration"""

_DLQ_HELP = """\
List, show and redrive dead letters (the PINPOINT_SYNC_DLQ_TOPIC topic).

  list      one row per dead letter: partition:offset, time, reason, team, key, attempts, error
  show      one dead letter's headers and value
  redrive   send dead letters back to the workers through the replay topic (dry run unless
            --apply); records at --max-attempts stay parked; the state store remembers what
            was sent, so the same redrive run twice sends nothing twice

exit status: 0 done, 1 failures seen (parked records, events dead-lettered again), 2 bad
arguments or configuration"""


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser("replay", help="re-decide event history (dry run unless --apply)",
                            description=_REPLAY_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("--from", dest="from_", metavar="TIME", help="first event time")
    replay.add_argument("--to", metavar="TIME", help="end of the time range (excluded)")
    replay.add_argument("--offsets", action="append", default=[], metavar="P:FROM-TO[,...]",
                        help="offset ranges of the events topic instead of a time range")
    replay.add_argument("--team", action="append", default=[], metavar="T",
                        help="only this team's events (repeatable)")
    replay.add_argument("--candidate", action="append", default=[], metavar="C",
                        help="only this candidate's events (repeatable)")
    replay.add_argument("--type", action="append", default=[], metavar="TYPE",
                        help="only this event type, e.g. candidate.replied (repeatable)")
    replay.add_argument("--apply", action="store_true",
                        help="publish the events to the replay topic for the workers")
    replay.add_argument("--replay-id", default=None,
                        help="the replay's id (default: derived from the selection)")
    replay.add_argument("--json", action="store_true", help="one JSON summary on stdout")
    replay.add_argument("--limit", type=int, default=1000, metavar="N",
                        help="list at most N changed events one by one (default 1000)")
    replay.add_argument("--outcomes-window", type=float, default=168.0, metavar="HOURS",
                        help="original outcomes are looked for from the first event's time to "
                        "the last one's plus this (default 168)")
    replay.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="with --apply: stop following outcomes after this long (exit 1 "
                        "if some are missing; default: until all are in)")
    replay.set_defaults(handler=_cmd_replay)


def _add_dlq(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser("dlq", help="list, show and redrive dead letters",
                         description=_DLQ_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--reason", action="append", default=[], metavar="R",
                       help="only this dlq.reason, e.g. retries_exhausted (repeatable)")
        p.add_argument("--team", action="append", default=[], metavar="T",
                       help="only this team's dead letters (repeatable)")
        p.add_argument("--since", metavar="TIME", help="dead-lettered at or after TIME")
        p.add_argument("--until", metavar="TIME", help="dead-lettered before TIME")
        p.add_argument("--json", action="store_true", help="one JSON object on stdout")

    listing = actions.add_parser("list", help="one row per dead letter")
    filters(listing)
    show = actions.add_parser("show", help="one dead letter's headers and decoded value")
    show.add_argument("where", metavar="PARTITION:OFFSET")
    redrive = actions.add_parser(
        "redrive", help="send dead letters to the replay topic (dry run unless --apply)")
    filters(redrive)
    redrive.add_argument("--apply", action="store_true", help="send them")
    redrive.add_argument("--max-attempts", type=int, default=5, metavar="N",
                         help="dead letters with N attempts or more stay parked (default 5)")
    redrive.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                         help="with --apply: stop following outcomes after this long")
    dlq.set_defaults(handler=_cmd_dlq)


def _cmd_store(_args: argparse.Namespace, rest: list[str]) -> int:
    from worker.tools.store_cli import main as store_main  # noqa: PLC0415

    return store_main(rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinpoint-sync",
        description="Keeps Pinpoint ATS in step with SourceWhale campaign events.",
    )
    parser.add_argument("--version", action="version", version=f"pinpoint-sync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the worker (configured by PINPOINT_SYNC_* variables)")
    run.add_argument("--log-format", choices=["json", "console"], default=None,
                     help="overrides PINPOINT_SYNC_LOG_FORMAT")
    run.set_defaults(handler=_cmd_run)

    _add_replay(sub)
    _add_dlq(sub)

    dev = sub.add_parser("dev", add_help=False,
                         help="the whole local stack for a demo (see `dev --help`)")
    dev.set_defaults(handler=_cmd_dev)

    settings = sub.add_parser("settings", add_help=False,
                              help="validate a settings file or publish it (`settings --help`)")
    settings.set_defaults(handler=_cmd_settings)

    store = sub.add_parser("store", add_help=False,
                           help="state store status, migrations, pruning (`store --help`)")
    store.set_defaults(handler=_cmd_store)

    schemas = sub.add_parser("schemas", help="regenerate the JSON Schemas and AsyncAPI document")
    schemas.add_argument("--out", default="schemas", help="output directory (default: schemas)")
    schemas.add_argument("--check", action="store_true",
                         help="only report files that differ from the models; exit 1 if any")
    schemas.set_defaults(handler=_cmd_schemas)

    sim = sub.add_parser("simulator", add_help=False,
                         help="run the Pinpoint simulator (see `simulator --help`)")
    sim.set_defaults(handler=_cmd_simulator)

    kafka = sub.add_parser("kafka", help="run a local Apache Kafka broker in the foreground")
    kafka.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    kafka.add_argument("--run-dir", default=None,
                       help="data and log directory (default var/kafka/PORT, wiped at start)")
    kafka.set_defaults(handler=_cmd_kafka)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(list(argv) if argv is not None else sys.argv[1:])
    passthrough = {"dev", "simulator", "settings", "store"}
    if rest and args.command not in passthrough:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    handler: Handler = args.handler
    try:
        return handler(args, rest)
    except KeyboardInterrupt:
        return 130
