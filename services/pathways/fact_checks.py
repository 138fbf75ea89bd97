"""Plausibility of a reported fact, checked before it is recorded (pure: ``now`` comes in).

The schema says a field is an instant; these say the instants make sense together
and against the clock: a discharge cannot precede its admission, and nothing can
have happened more than ``FUTURE_TOLERANCE`` after now (the tolerance absorbs
clock skew between a sender and us, and time zones mistaken for UTC), nor more
than ``FACT_PAST_HORIZON`` (30 years) before it. Dates that are about the future
by nature (``expected_delivery``) are checked against the horizon only.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from contracts.shapes import FACT_PAST_HORIZON
from parcours.problems import Problem

FUTURE_TOLERANCE = dt.timedelta(days=1)
FUTURE_BY_NATURE = frozenset({"expected_delivery"})

# (earlier field, later field): the later one may not precede the earlier one
ORDERED_FIELDS: tuple[tuple[str, str], ...] = (
    ("admitted_at", "discharged_at"),
    ("period_start", "period_end"),
)


def fact_problem(fact: msgspec.Struct, now: dt.datetime, prefix: str = "") -> Problem | None:
    """Why ``fact`` cannot have happened as reported, or None. ``prefix`` goes before the
    field path (``items[3].`` in a batch)."""
    latest = now + FUTURE_TOLERANCE
    for earlier, later in ORDERED_FIELDS:
        start, end = getattr(fact, earlier, None), getattr(fact, later, None)
        if start is not None and end is not None and end < start:
            return Problem(
                422,
                "Inconsistent dates",
                f"`{later}` is before `{earlier}`; check both instants and their time zones",
                field=f"{prefix}{later}",
            )
    earliest = now - FACT_PAST_HORIZON
    for name in fact.__struct_fields__:
        value = getattr(fact, name)
        if isinstance(value, dt.datetime):
            too_early, too_late = value < earliest, value > latest
        elif isinstance(value, dt.date):
            too_early, too_late = value < earliest.date(), value > latest.date()
        else:
            continue
        if too_early:
            return Problem(
                422,
                "Date too old",
                f"`{name}` is more than {FACT_PAST_HORIZON.days // 366} years before the "
                "current time; check the year",
                field=f"{prefix}{name}",
            )
        if name in FUTURE_BY_NATURE:
            continue
        if too_late:
            return Problem(
                422,
                "Date in the future",
                f"`{name}` is more than {FUTURE_TOLERANCE.days} day after the current time "
                f"({now.isoformat(timespec='minutes')}); a fact reports what already happened",
                field=f"{prefix}{name}",
            )
    return None
