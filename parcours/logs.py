"""structlog configuration: JSON in production, console in development.

Never log patient identity: INS, names and birth dates are not passed to a
logger anywhere; as a second line of defence, values of keys that name
identity are masked.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_IDENTITY_KEYS = frozenset(
    {"ins", "birth_name", "first_names", "birth_date", "name", "patient", "identity", "birthplace"}
)


def _mask_identity(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in _IDENTITY_KEYS.intersection(event_dict):
        event_dict[key] = "[masked]"
    return event_dict


def configure_logging(fmt: str = "json", level: str = "info", stream: Any = None) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # plain tracebacks: rich's default shows every frame's locals, which is slow on big
        # objects (gigabytes for a pool) and could print patient identity into a log
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_identity,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
