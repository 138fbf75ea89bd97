"""A logged exception shows its traceback, never the values of the frames' locals: the
console renderer's default (rich) prints every local, which can be patient identity
(and takes seconds and gigabytes on a connection pool)."""

from __future__ import annotations

import io

import structlog

from parcours.logs import configure_logging


def test_a_console_traceback_names_the_error_but_no_local_value() -> None:
    out = io.StringIO()
    configure_logging("console", "info", stream=out)
    try:
        birth_name = "DUPONT-TRAITS-SECRET"  # noqa: F841 - a local the traceback must not show
        raise ValueError("the worker failed")
    except ValueError as exc:
        structlog.get_logger("test").error("worker stopped", exc_info=exc)
    finally:
        configure_logging("console", "warning")
    text = out.getvalue()
    assert "the worker failed" in text and "ValueError" in text
    assert "DUPONT-TRAITS-SECRET" not in text
