"""``pinpoint-sync run``: configuration from the environment, logging, then the worker."""

from __future__ import annotations

import asyncio
import gc
import sys

import structlog

from worker.config import ConfigError, load_config
from worker.kafka.access import check_access
from worker.kafka.errors import KafkaAccessRefused
from worker.observability.logging import configure_logging
from worker.runtime.app import Worker
from worker.store.errors import StateStoreError

_ACCESS_SETTINGS = {
    "credentials": "PINPOINT_SYNC_KAFKA_SASL_USERNAME and PINPOINT_SYNC_KAFKA_SASL_PASSWORD"
                   " (or the kafka-sasl-password file in PINPOINT_SYNC_SECRETS_DIR)",
    "tls": "PINPOINT_SYNC_KAFKA_SSL_CAFILE (the CA that signed the brokers' certificates),"
           " PINPOINT_SYNC_KAFKA_SSL_CERTFILE/KEYFILE and PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL",
    "unknown": "the PINPOINT_SYNC_KAFKA_* security settings",
}
"""What to check for each cause of a refused Kafka connection."""

GC_YOUNG_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation (CPython's default: 700)."""


def tune_garbage_collector() -> None:
    """Collect less often, and never rescan what start-up built.

    The worker allocates a few short-lived objects for every event (most freed at once by
    reference counting); with CPython's defaults the cyclic collector runs every 700 allocations
    and its full passes walk every object alive, the modules and models included. Freezing what
    exists at start-up takes those out of every later pass, and a higher young threshold makes
    the passes rarer: together a fifth less CPU per skipped event (``bench/bench_skip.py``).
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run_from_environment(log_format: str | None = None) -> int:
    """Load ``PINPOINT_SYNC_*``, refuse a bad configuration before connecting, run the worker."""
    overrides = {"log_format": log_format} if log_format else {}
    try:
        config = load_config(**overrides)
    except ConfigError as exc:
        sys.stderr.write(f"pinpoint-sync: invalid configuration\n{exc}\n")
        return 2
    configure_logging(config.log_format.value if config.log_format else None, config.log_level)
    log = structlog.get_logger("pinpoint_sync")
    try:
        # Wrong credentials or CA are a configuration problem: said in one line, exit 2.
        check_access(config.kafka_client_options())
    except KafkaAccessRefused as exc:
        sys.stderr.write(f"pinpoint-sync: {exc}; check {_ACCESS_SETTINGS[exc.cause]}\n")
        return 2
    tune_garbage_collector()
    try:
        return asyncio.run(Worker(config).run())
    except StateStoreError as exc:
        log.error("state store unusable", error=str(exc))  # noqa: TRY400 - no traceback
        return 2
    except KeyboardInterrupt:
        return 130
