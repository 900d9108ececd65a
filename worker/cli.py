"""The ``pinpoint-sync`` command line: parse, configure, hand over. No business logic here.

Subcommands (DESIGN 5.4): ``run`` (the worker), ``dev`` (the whole local stack for a demo),
``settings`` (validate or publish a team's settings), ``schemas`` (regenerate ``schemas/``),
``store`` (state store status, migrations, pruning), ``simulator`` (the Pinpoint simulator),
``kafka`` (a local Apache Kafka broker).
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
