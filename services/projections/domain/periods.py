"""Reporting periods: a month ``2026-03``, a quarter ``2026-Q1`` or a year ``2026``.

A case belongs to the period that holds the local date (Europe/Paris) of its
enrolment's anchor. Periods are half-open date ranges ``[start, end)``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

LOCAL_TZ = ZoneInfo("Europe/Paris")
Granularity = Literal["month", "quarter", "year"]
_YEARS = r"(19\d\d|2[01]\d\d)"  # 1900-2199: a year 0 has no dates (and a trend goes back)
_MONTH = re.compile(rf"^{_YEARS}-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(rf"^{_YEARS}-Q([1-4])$")
_YEAR = re.compile(rf"^{_YEARS}$")


class PeriodError(ValueError):
    pass


class Period(msgspec.Struct, frozen=True):
    granularity: Granularity
    year: int
    index: int  # month 1-12, quarter 1-4, or 1 for a year

    @property
    def label(self) -> str:
        if self.granularity == "month":
            return f"{self.year}-{self.index:02d}"
        if self.granularity == "quarter":
            return f"{self.year}-Q{self.index}"
        return f"{self.year}"

    @property
    def _months(self) -> int:
        return {"month": 1, "quarter": 3, "year": 12}[self.granularity]

    @property
    def start(self) -> dt.date:
        first_month = self.index if self.granularity == "month" else (self.index - 1) * 3 + 1
        return dt.date(self.year, 1 if self.granularity == "year" else first_month, 1)

    @property
    def end(self) -> dt.date:
        return add_months(self.start, self._months)

    def shifted(self, n: int) -> Period:
        """The period ``n`` steps later (negative: earlier), of the same granularity."""
        per_year = {"month": 12, "quarter": 4, "year": 1}[self.granularity]
        k = self.year * per_year + (self.index - 1) + n
        return Period(self.granularity, k // per_year, k % per_year + 1)

    def previous(self, count: int) -> list[Period]:
        """The ``count`` periods ending with this one, oldest first."""
        return [self.shifted(-i) for i in range(count - 1, -1, -1)]


def add_months(d: dt.date, months: int) -> dt.date:
    k = d.year * 12 + d.month - 1 + months
    return dt.date(k // 12, k % 12 + 1, 1)


def parse_period(text: str) -> Period:
    text = text.strip()
    if m := _MONTH.match(text):
        return Period("month", int(m.group(1)), int(m.group(2)))
    if m := _QUARTER.match(text):
        return Period("quarter", int(m.group(1)), int(m.group(2)))
    if m := _YEAR.match(text):
        return Period("year", int(m.group(1)), 1)
    raise PeriodError(
        "a period is a month (2026-03), a quarter (2026-Q1) or a year (2026), from 1900 to 2199"
    )


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(LOCAL_TZ).date()


def days_between(anchor: dt.datetime, at: dt.datetime) -> int:
    """Calendar days (Europe/Paris) from the anchor's date to ``at``'s date."""
    return (local_day(at) - local_day(anchor)).days
