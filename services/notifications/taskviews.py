"""``notification_tasks``: the router's memory of each task, in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import asyncpg

from notifications.domain.routing import OPEN_STATUSES, TaskView

_FIELDS = tuple(TaskView.__struct_fields__)
_COLUMNS = ", ".join(_FIELDS)

_UPSERT = f"""
INSERT INTO notification_tasks ({_COLUMNS}, updated_at)
VALUES ({", ".join(f"${i + 1}" for i in range(len(_FIELDS)))}, now())
ON CONFLICT (task_id) DO UPDATE SET
  {", ".join(f"{f} = excluded.{f}" for f in _FIELDS if f != "task_id")}, updated_at = now()
"""


async def load(
    conn: asyncpg.Connection, task_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, TaskView]:
    ids = list(set(task_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notification_tasks WHERE task_id = ANY($1::uuid[])", ids
    )
    return {r["task_id"]: TaskView(**dict(r)) for r in rows}


async def save(conn: asyncpg.Connection, views: Sequence[TaskView]) -> None:
    if views:
        await conn.executemany(_UPSERT, [tuple(getattr(v, f) for f in _FIELDS) for v in views])


async def one(conn: asyncpg.Connection | asyncpg.Pool, task_id: uuid.UUID) -> TaskView | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM notification_tasks WHERE task_id = $1", task_id
    )
    return TaskView(**dict(row)) if row else None


OPEN_SQL = f"status IN ({', '.join(repr(s) for s in OPEN_STATUSES)})"


async def open_for(
    db: asyncpg.Connection | asyncpg.Pool,
    cpts: str,
    rpps: str,
    role: str,
    zones: Sequence[str],
    *,
    include_pool: bool = True,
) -> list[asyncpg.Record]:
    """Open tasks of a professional, then (optionally) of their role's pools in their zones."""
    return await db.fetch(
        f"""SELECT *, assignee IS NULL AS pool FROM notification_tasks
            WHERE cpts = $1 AND {OPEN_SQL}
              AND (assignee = $2
                   OR ($5 AND assignee IS NULL AND role = $3 AND zone = ANY($4::text[])))
            ORDER BY assignee IS NULL, due, task_id""",
        cpts,
        rpps,
        role,
        list(zones),
        include_pool,
    )
