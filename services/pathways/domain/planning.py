"""From an activity and a reference instant to dated occurrences (earliest, due).

Days are calendar days in Europe/Paris: D0 is the local date of the reference
instant; ``earliest_days = 1, due_days = 7`` gives earliest = D0+1 at 00:00 and
due = D0+7 at 23:59:59 local time (stored in UTC). Hours are exact offsets.
Recurrences are planned eagerly (every occurrence at once): worklists and
indicators see the whole plan, and a stop fact cancels what is left.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from pathways.domain.protocol import Activity, Season, Window

LOCAL_TZ = ZoneInfo("Europe/Paris")
_MAX_OCCURRENCES = 500


class Planned(NamedTuple):
    occurrence: int  # from 1
    role: str
    earliest: datetime
    due: datetime


# Pure functions of immutable values, called tens of times per enrolment with few distinct
# arguments (time zone conversions are the costly part of planning): cached.
@lru_cache(maxsize=16384)
def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


@lru_cache(maxsize=4096)
def day_start(d: date) -> datetime:
    return datetime.combine(d, time(0, 0), LOCAL_TZ).astimezone(UTC)


@lru_cache(maxsize=4096)
def day_end(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59), LOCAL_TZ).astimezone(UTC)


def _role(activity: Activity, n: int) -> str:
    roles = [activity.role, *activity.alternate_roles]
    return roles[n % len(roles)]


def season_bounds(season: Season, on_or_after: date) -> tuple[date, date]:
    """The first season (start, end dates) that has not ended on ``on_or_after``."""
    sm, sd = (int(x) for x in season.start.split("-"))
    em, ed = (int(x) for x in season.end.split("-"))
    for year in (on_or_after.year - 1, on_or_after.year):
        start = date(year, sm, sd)
        end = date(year + (1 if (em, ed) < (sm, sd) else 0), em, ed)
        if end >= on_or_after:
            return start, end
    raise AssertionError("unreachable: the season of next year always qualifies")


def single_window(w: Window, ref: datetime) -> tuple[datetime, datetime]:
    if w.season is not None:
        start, end = season_bounds(w.season, local_date(ref))
        return day_start(start), day_end(end)
    if w.due_hours is not None:
        return ref + timedelta(hours=w.earliest_hours or 0), ref + timedelta(hours=w.due_hours)
    assert w.due_days is not None
    d0 = local_date(ref)
    earliest = max(ref, day_start(d0 + timedelta(days=w.earliest_days or 0)))
    return earliest, day_end(d0 + timedelta(days=w.due_days))


def plan(activity: Activity, ref: datetime, expected_delivery: date | None = None) -> list[Planned]:
    """Every occurrence of ``activity`` counted from ``ref``."""
    r = activity.recurrence
    if r is None:
        earliest, due = single_window(activity.window, ref)
        return [Planned(1, _role(activity, 0), earliest, due)]
    d0 = local_date(ref)
    first = activity.window.earliest_days or 0
    out: list[Planned] = []
    for n in range(_MAX_OCCURRENCES):
        if r.count is not None and n >= r.count:
            break
        period, slot = divmod(n, r.per_period)
        base = first + period * r.period_days
        lo = base + slot * r.period_days // r.per_period
        hi = base + (slot + 1) * r.period_days // r.per_period - 1
        if r.horizon_days is not None and lo > r.horizon_days:
            break
        if (
            r.until_expected_delivery
            and expected_delivery
            and d0 + timedelta(lo) >= expected_delivery
        ):
            break
        earliest = max(ref, day_start(d0 + timedelta(days=lo)))
        out.append(Planned(n + 1, _role(activity, n), earliest, day_end(d0 + timedelta(days=hi))))
    return out
