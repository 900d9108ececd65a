"""``pinpoint-sync run``: configuration from the environment, logging, then the worker."""

from __future__ import annotations

import asyncio
import sys

import structlog

from worker.config import ConfigError, load_config
from worker.observability.logging import configure_logging
from worker.runtime.app import Worker
from worker.store.errors import StateStoreError


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
        return asyncio.run(Worker(config).run())
    except StateStoreError as exc:
        log.error("state store unusable", error=str(exc))  # noqa: TRY400 - no traceback
        return 2
    except KeyboardInterrupt:
        return 130
