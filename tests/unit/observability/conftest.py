"""Keep global logging configuration and registered secrets from leaking between tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from worker.observability.masking import forget_secrets


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {name: logging.getLogger(name).level for name in ("kafka", "aiohttp.access")}
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in chatty.items():
        logging.getLogger(name).setLevel(old)
    forget_secrets()
