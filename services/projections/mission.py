"""The CPTS mission report: per pathway and period, patients included, tasks done on
time, escalations. Aggregates only (no patient ids), from the care view. An enrolment
closed as ``cancelled`` (its discharge was cancelled) included nobody, and one closed as
``merged`` is counted on the surviving patient record: neither counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import msgspec

from projections.domain.periods import LOCAL_TZ, Period
from projections.queries import version_filter


class MissionRow(msgspec.Struct, frozen=True, kw_only=True):
    """One pathway in one period; ``on_time_share`` is null when no task was planned."""

    period: str
    protocol: str
    enrolments: int
    patients: int
    tasks_due: int
    tasks_done: int
    tasks_on_time: int
    tasks_cancelled: int
    tasks_overdue: int
    escalations: int
    on_time_share: float | None


def _instant(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(0, 0), LOCAL_TZ)


async def mission_report(
    db: asyncpg.Pool | asyncpg.Connection, cpts: str, period: Period, as_of: dt.datetime | None
) -> list[MissionRow]:
    extra = [as_of] if as_of is not None else []
    enrolled = await db.fetch(
        f"""SELECT protocol, count(*) AS enrolments, count(DISTINCT patient_id) AS patients
            FROM proj_enrolments
            WHERE cpts = $1 AND anchor_day >= $2 AND anchor_day < $3 AND {version_filter(as_of, 4)}
              AND coalesce(close_reason, '') NOT IN ('cancelled', 'merged')
            GROUP BY protocol""",
        cpts,
        period.start,
        period.end,
        *extra,
    )
    tasks = await db.fetch(
        f"""SELECT protocol, count(*) AS tasks_due,
                   count(*) FILTER (WHERE status = 'completed') AS tasks_done,
                   count(*) FILTER (WHERE status = 'completed' AND on_time) AS tasks_on_time,
                   count(*) FILTER (WHERE status = 'cancelled') AS tasks_cancelled,
                   count(*) FILTER (WHERE overdue) AS tasks_overdue
            FROM proj_tasks
            WHERE cpts = $1 AND due >= $2 AND due < $3 AND {version_filter(as_of, 4)}
            GROUP BY protocol""",
        cpts,
        _instant(period.start),
        _instant(period.end),
        *extra,
    )
    escalations = await db.fetch(
        """SELECT en.protocol, count(*) AS escalations
           FROM proj_escalations e
           JOIN proj_enrolments en ON en.enrolment_id = e.enrolment_id AND en.valid_to IS NULL
           WHERE e.cpts = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
             AND ($4::timestamptz IS NULL OR e.recorded_at <= $4)
           GROUP BY en.protocol""",
        cpts,
        _instant(period.start),
        _instant(period.end),
        as_of,
    )
    rows: dict[str, dict[str, Any]] = {}
    zero = {
        "enrolments": 0,
        "patients": 0,
        "tasks_due": 0,
        "tasks_done": 0,
        "tasks_on_time": 0,
        "tasks_cancelled": 0,
        "tasks_overdue": 0,
        "escalations": 0,
    }
    for group in (enrolled, tasks, escalations):
        for r in group:
            rows.setdefault(r["protocol"], {"protocol": r["protocol"], **zero}).update(
                {k: v for k, v in dict(r).items() if k != "protocol"}
            )
    out = []
    for protocol in sorted(rows):
        row = rows[protocol]
        planned = row["tasks_due"] - row["tasks_cancelled"]
        row["on_time_share"] = round(row["tasks_on_time"] / planned, 4) if planned else None
        out.append(MissionRow(period=period.label, **row))
    return out
