"""HL7 v2 timestamps (DTM: ``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``) to instants.

A timestamp without an offset is the sender's local time: Europe/Paris by
default, a per-sender setting for overseas hospitals (``zone`` parameter). In
the autumn hour that happens twice the first one is taken (``fold=0``); a
spring-forward time that does not exist is read with the offset before the gap,
as the hospital's clock showed it.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_DTM = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?(?:([+-])(\d{2})(\d{2}))?$"
)


class TimestampError(ValueError):
    pass


def parse_instant(text: str, zone: ZoneInfo) -> dt.datetime:
    """The instant (aware, UTC) that ``text`` names; ``zone`` when it carries no offset."""
    m = _DTM.match(text.strip())
    if not m:
        raise TimestampError("a timestamp is YYYYMMDD[HHMM[SS]] with an optional +/-HHMM offset")
    year, month, day, hour, minute, second, frac, sign, oh, om = m.groups()
    if month is None or day is None:
        raise TimestampError("a timestamp needs at least a year, a month and a day")
    micro = int((frac or "0").ljust(6, "0")[:6])
    if sign:
        offset = dt.timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
        tz: dt.tzinfo = dt.timezone(offset)
    else:
        tz = zone
    try:
        local = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError as exc:
        raise TimestampError(f"not a calendar date or time ({exc})") from None
    return local.astimezone(dt.UTC)


def parse_date(text: str) -> dt.date:
    m = _DTM.match(text.strip())
    if not m or m.group(2) is None or m.group(3) is None:
        raise TimestampError("a date is YYYYMMDD")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise TimestampError(f"not a calendar date ({exc})") from None
