"""Rows into a table by COPY, or by an idempotent INSERT when some are already there.

Shared by the readers that index or project events (the timer index, the timeline):
their rows are keyed by the events they come from, so a replayed event brings a row
that exists. COPY is the fast path (binary rows, no arrays for PostgreSQL to unpack);
when it meets a row already there it changes nothing (it runs under a savepoint) and
the caller's ``INSERT ... ON CONFLICT DO NOTHING`` writes the rows instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

COPY_FROM = 64  # rows: fewer go through the INSERT (one round trip, no savepoint)


async def copy_or_insert(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple],
    insert: str,
) -> None:
    """``rows`` (tuples in ``columns`` order) into ``table``; ``insert`` takes one array
    parameter per column (``unnest``) and must skip the rows already there."""
    if not rows:
        return
    if len(rows) >= COPY_FROM:
        try:
            async with conn.transaction():  # a savepoint: the failed COPY leaves nothing
                await conn.copy_records_to_table(table, records=rows, columns=list(columns))
            return
        except asyncpg.UniqueViolationError:
            pass
    await conn.execute(insert, *columns_of(rows, len(columns)))


def columns_of(rows: list[tuple], width: int) -> list[list]:
    """Rows as one list per column (the parameters of an ``unnest`` INSERT)."""
    return [[r[i] for r in rows] for i in range(width)] if rows else [[] for _ in range(width)]
