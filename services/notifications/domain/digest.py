"""The morning digest: when it is due, and what it says (pure).

Each professional receives at most one digest per local day (Europe/Paris, the
engine's time zone), at ``digest_hour`` (07:00 by default, before the engine's
08:00 reminders): their open tasks, and the open, unclaimed tasks of their
role's pools in their zones. No digest when there is nothing to say.

When the clock jumps (a virtual clock moved by 30 days), only the digest of
the day the clock lands on is sent: a digest summarises *now*; the days that
were skipped had nobody to read them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import msgspec

from contracts.notifications import DigestItem, Notification, Window

LOCAL_TZ = ZoneInfo("Europe/Paris")


class Recipient(msgspec.Struct, frozen=True):
    cpts: str
    rpps: str
    role: str
    zones: tuple[str, ...] = ()


class OpenTask(msgspec.Struct, frozen=True, kw_only=True):
    task_id: object
    patient_id: object
    activity: str
    status: str
    earliest: dt.datetime
    due: dt.datetime
    urgent: bool = False
    overdue: bool = False
    pool: bool = False


def digest_day(now: dt.datetime, hour: int) -> dt.date | None:
    """The local day whose digest is due at ``now``, or None before ``hour`` o'clock.

    An ``hour`` outside 0..23 (e.g. -1) means no digests at all.
    """
    if not 0 <= hour <= 23:
        return None
    local = now.astimezone(LOCAL_TZ)
    return local.date() if local.hour >= hour else None


def compose(
    recipient: Recipient, day: dt.date, at: dt.datetime, tasks: Iterable[OpenTask]
) -> Notification | None:
    """The digest of ``recipient`` for ``day``: own tasks first, then pools, by due time."""
    ordered = sorted(tasks, key=lambda t: (t.pool, t.due, str(t.task_id)))
    if not ordered:
        return None
    items = tuple(
        DigestItem(
            task_id=t.task_id,  # type: ignore[arg-type]
            patient_id=t.patient_id,  # type: ignore[arg-type]
            activity=t.activity,
            status=t.status,
            window=Window(earliest=t.earliest, due=t.due),
            urgent=t.urgent,
            pool=t.pool,
            overdue=t.overdue,
        )
        for t in ordered
    )
    return Notification(
        notification_id=f"digest:{recipient.cpts}:{recipient.rpps}:{day.isoformat()}",
        kind="digest",
        cpts=recipient.cpts,
        at=at,
        role=recipient.role,
        assignee=recipient.rpps,
        urgent=any(t.urgent or t.overdue for t in ordered),
        digest_day=day,
        items=items,
    )
