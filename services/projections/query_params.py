"""Parsing of the query parameters every read route shares: ``period`` and ``as_of``.

Both are bounded to the years ``FIRST_YEAR``..``LAST_YEAR`` (1900-2199), so that
no date arithmetic behind them (a period's end, a trend of 36 periods back, an
offset applied to an instant) can leave the calendar: ``period=9999-12``,
``0000``, ``as_of=0001-01-01T00:00:00+01:00`` are 422s naming the parameter.
"""

from __future__ import annotations

import datetime as dt
import re

from parcours.problems import Problem
from projections.domain.periods import Period, PeriodError, parse_period

FIRST_YEAR, LAST_YEAR = 1900, 2199
_INSTANT = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$",
    re.IGNORECASE,
)


def _invalid(what: str, shape: str, field: str) -> Problem:
    return Problem(
        422,
        f"Invalid {what}",
        f"{field} is {shape}, from {FIRST_YEAR} to {LAST_YEAR}",
        field=field,
    )


def period_param(text: str | None, field: str = "period") -> Period:
    if not text:
        raise Problem(422, "Missing period", "give a period: 2026-03, 2026-Q1 or 2026", field=field)
    try:
        period = parse_period(text) if text.isascii() and len(text) <= 16 else None
    except PeriodError:
        period = None
    if period is None or not FIRST_YEAR <= period.year <= LAST_YEAR:
        raise _invalid("period", "a month (2026-03), a quarter (2026-Q1) or a year (2026)", field)
    return period


def as_of_param(text: str | None, field: str = "as_of") -> dt.datetime | None:
    """An instant with a UTC offset; ``None`` when absent."""
    if not text:
        return None
    # a '+' of the offset arrives as a space when the sender did not encode it
    text = text.strip().replace(" ", "+")
    at = None
    if text.isascii() and _INSTANT.match(text):
        try:
            parsed = dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            if FIRST_YEAR <= parsed.year <= LAST_YEAR and parsed.tzinfo is not None:
                at = parsed
        except (ValueError, OverflowError):
            at = None
    if at is None:
        raise _invalid("as_of", "an instant with a UTC offset, e.g. 2026-04-01T00:00:00Z", field)
    return at
