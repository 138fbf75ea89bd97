"""The digest worker: one digest per professional per local day, from the shared clock.

Every ``interval`` seconds it reads ``await clock.now()`` (the wall clock, or
the virtual clock in simulation) and, once the day's digest hour has passed,
composes the digest of each recipient not yet served today. The row in
``notification_digests`` and the outbox row are written in one transaction
(``INSERT … ON CONFLICT DO NOTHING``), so a restart, or a second instance,
never sends a digest twice. A recipient with nothing to say gets the row
(items = 0) and no message.

Recipients: the active professionals of the directory, and the assignees of
open tasks who are not in it (their role from their tasks). Inactive
professionals get no digest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import asyncpg
import structlog

from contracts.subjects import Subjects
from notifications import directory, taskviews
from notifications.domain.digest import OpenTask, Recipient, compose, digest_day
from notifications.domain.routing import Addressed
from notifications.outbox import enqueue
from parcours.clock import Clock

log = structlog.get_logger("notifications.digest")


async def recipients(db: asyncpg.Pool) -> list[Recipient]:
    listed = await directory.all_professionals(db)
    out = [Recipient(p.cpts, p.rpps, p.task_role, tuple(p.zones)) for p in listed if p.active]
    known = {(p.cpts, p.rpps) for p in listed}
    rows = await db.fetch(
        f"""SELECT DISTINCT ON (cpts, assignee) cpts, assignee, role FROM notification_tasks
            WHERE assignee IS NOT NULL AND {taskviews.OPEN_SQL}
            ORDER BY cpts, assignee, due"""
    )
    out += [
        Recipient(r["cpts"], r["assignee"], r["role"])
        for r in rows
        if (r["cpts"], r["assignee"]) not in known
    ]
    return out


async def send_due_digests(
    pool: asyncpg.Pool, now: dt.datetime, hour: int, subjects: Subjects
) -> int:
    """Send the digests due at ``now``; return how many messages were enqueued."""
    day = digest_day(now, hour)
    if day is None:
        return 0
    served = {
        (r["cpts"], r["rpps"])
        for r in await pool.fetch("SELECT cpts, rpps FROM notification_digests WHERE day = $1", day)
    }
    sent = 0
    for who in await recipients(pool):
        if (who.cpts, who.rpps) in served:
            continue
        rows = await taskviews.open_for(pool, who.cpts, who.rpps, who.role, who.zones)
        digest = compose(
            who,
            day,
            now,
            (
                OpenTask(
                    task_id=r["task_id"],
                    patient_id=r["patient_id"],
                    activity=r["activity"],
                    status=r["status"],
                    earliest=r["earliest"],
                    due=r["due"],
                    urgent=r["urgent"],
                    overdue=r["overdue"],
                    pool=r["pool"],
                )
                for r in rows
            ),
        )
        async with pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                """INSERT INTO notification_digests (cpts, rpps, day, sent_at, items)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
                who.cpts,
                who.rpps,
                day,
                now,
                len(digest.items) if digest else 0,
            )
            if first and digest is not None:
                subject = subjects.professional(who.cpts, who.role, who.rpps)
                await enqueue(conn, [Addressed(subject, digest)])
                sent += 1
    return sent


async def run_digests(
    pool: asyncpg.Pool,
    clock: Clock,
    subjects: Subjects,
    stop: asyncio.Event,
    *,
    hour: int,
    interval: float,
    on_commit: Callable[[], None],
) -> None:
    while not stop.is_set():
        try:
            if await send_due_digests(pool, await clock.now(), hour, subjects):
                on_commit()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("digests waiting for PostgreSQL", error=str(exc))
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass
