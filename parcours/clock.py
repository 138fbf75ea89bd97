"""Time as an input: the wall clock, or a virtual clock shared through PostgreSQL.

In simulation mode every service reads the same virtual instant from the
``virtual_clock`` table; ``parcours clock advance 30d`` moves it (the pathways
service then fires every timer due on the way, in order).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol

import asyncpg

UTC = dt.UTC


class Clock(Protocol):
    async def now(self) -> dt.datetime: ...


class WallClock:
    virtual = False

    async def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to; starts at the wall time (or ``start``)."""

    virtual = True

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection, start: dt.datetime | None = None):
        self._db = db
        self._start = start

    async def now(self) -> dt.datetime:
        value = await self._db.fetchval("SELECT now FROM virtual_clock")
        if value is None:
            start = self._start or dt.datetime.now(UTC)
            value = await self._db.fetchval(
                """INSERT INTO virtual_clock (now) VALUES ($1)
                   ON CONFLICT (id) DO UPDATE SET now = virtual_clock.now RETURNING now""",
                start,
            )
        return value

    async def set(self, instant: dt.datetime, conn: asyncpg.Connection | None = None) -> None:
        db = conn or self._db
        await db.execute(
            """INSERT INTO virtual_clock (now) VALUES ($1)
               ON CONFLICT (id) DO UPDATE SET now = excluded.now""",
            instant,
        )


_DURATION = re.compile(r"^([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*(w|d|h|m|s|min)$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}
MAX_ADVANCE = dt.timedelta(days=100 * 366)  # the clock moves at most a century at once


def parse_duration(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90min``, ``2w`` … as a timedelta, at most ``MAX_ADVANCE``."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError("a duration is a number and a unit, such as 30d, 12h, 90min, 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_ADVANCE.total_seconds():
        raise ValueError(f"a duration is at most {MAX_ADVANCE.days} days")
    return dt.timedelta(seconds=seconds)
