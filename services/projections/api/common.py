"""What the query routes share: parsing of period and as_of, the catalog, the reference day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar.datastructures import State

from contracts.roles import Role
from parcours.problems import Problem
from parcours.service import Resources
from projections.domain.cases import Catalog
from projections.domain.periods import Period, PeriodError, local_day, parse_period

AUDIT_READERS = (Role.AUDITOR, Role.COORDINATOR, Role.ADMIN)


def resources(state: State) -> Resources:
    return state.resources


def catalog(state: State) -> Catalog:
    return state.catalog


def period_param(text: str | None, field: str = "period") -> Period:
    if not text:
        raise Problem(422, "Missing period", "give a period: 2026-03, 2026-Q1 or 2026", field=field)
    try:
        return parse_period(text)
    except PeriodError as exc:
        raise Problem(422, "Invalid period", str(exc), field=field) from None


def as_of_param(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise Problem(
            422,
            "Invalid as_of",
            "as_of is an instant with a UTC offset, e.g. 2026-04-01T00:00:00Z",
            field="as_of",
        )
    return at


async def reference_day(state: State, as_of: dt.datetime | None) -> dt.date:
    """The local day against which open windows are judged: as_of, or the service clock."""
    at = as_of or await resources(state).clock.now()
    return local_day(at)


def ratio(numerator: int, denominator: int, kind: str) -> float | None:
    if kind == "count_enrolled":
        return float(numerator)
    return round(numerator / denominator, 4) if denominator else None


def title(obj: Any, lang: str) -> str:
    return getattr(obj.title, lang, obj.title.fr)
