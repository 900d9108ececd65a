"""structlog set-up: JSON lines for machines, readable console output for people, masked.

`configure_logging` routes structlog and the standard library's ``logging`` (aiohttp,
kafka-python) through one handler, so every line, whoever wrote it, carries ``timestamp``
(ISO 8601, UTC), ``level``, ``logger`` and ``event`` plus the bound fields (the worker binds
``topic``, ``partition``, ``offset``, ``key``, ``team_id`` and ``event_id``), and passes through
`mask_event_dict` (personal data and secrets masked; see ``masking.py``) before rendering.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import ExcInfo, Processor

from worker.observability.masking import mask_event_dict, mask_pii, mask_secrets_inline

__all__ = ["LOG_FORMATS", "configure_logging", "mask_pii"]

LOG_FORMATS = ("json", "console")

_HANDLER_NAME = "pinpoint-sync"
# Libraries whose INFO lines are noise for an operator; they still log warnings and errors.
_CHATTY_LOGGERS = ("kafka", "aiohttp.access")


def _masked_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(mask_pii(mask_secrets_inline(buffer.getvalue())))


def _level_number(level: str) -> int:
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        choices = "debug, info, warning, error, critical"
        raise ValueError(f"unknown log level {level!r}; choose one of {choices}")
    return number


def configure_logging(
    fmt: str | None = None, level: str = "info", *, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's logging for the whole process.

    ``fmt`` is ``"json"`` (one JSON object per line) or ``"console"`` (coloured, aligned); when
    ``None`` it is console if the output is a terminal, else JSON. ``stream`` defaults to
    standard error. Calling it again replaces the earlier configuration.
    """
    out = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "console" if out.isatty() else "json"
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; choose one of {', '.join(LOG_FORMATS)}")
    number = _level_number(level)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    rendering: list[Processor]
    if fmt == "json":
        rendering = [
            structlog.processors.format_exc_info,
            mask_event_dict,
            structlog.processors.JSONRenderer(),
        ]
    else:
        rendering = [
            mask_event_dict,
            structlog.dev.ConsoleRenderer(
                colors=out.isatty(), exception_formatter=_masked_traceback
            ),
        ]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so that tests' structlog.testing.capture_logs sees every logger.
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.WARNING))
