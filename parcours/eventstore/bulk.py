"""Bulk loading of a history with COPY: the benchmark's (and a migration's) loader.

Not a write path of the service: nothing here checks versions, event ids or
expected versions, and nothing is relayed. ``load_history`` is for filling an
EMPTY store with events already decided elsewhere (``parcours bench scale``'s
synthetic territory; an import from another system), as COPY text rows in the
order of ``HISTORY_COLUMNS`` with each stream's rows in version order. Each COPY
(``per_copy`` chunks) is one transaction: its rows share a ``txid`` and are read in
position (row) order, as ``read_all`` reads any transaction. The read side dates what
a transaction shows by its latest ``recorded_at`` (``VisibleEvent.visible_at``): a
loaded history's view rows are valid from the end of their chunk, so "as of" queries
earlier than that see less than a live history would have shown.

On an empty table the secondary indexes and unique constraints are dropped first and
built once at the end (from their own definitions, read from the catalog, so the
loader follows the migrations), which is how PostgreSQL loads fastest; the primary
key stays. Building them also checks the uniqueness a writer would have checked.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import asyncpg

HISTORY_COLUMNS = (
    "event_id",
    "stream",
    "version",
    "type",
    "cpts",
    "occurred_at",
    "recorded_at",
    "correlation_id",
    "causation_id",
    "actor_id",
    "actor_role",
    "data",
)

_CONSTRAINTS = """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'events'::regclass AND contype = 'u' ORDER BY conname"""
_INDEXES = """SELECT indexname, indexdef FROM pg_indexes i
WHERE tablename = 'events' AND schemaname = current_schema()
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conrelid = 'events'::regclass AND c.conname = i.indexname)
ORDER BY indexname"""
_EMPTY = "SELECT NOT EXISTS (SELECT 1 FROM events)"
_NO_LIMIT = 24 * 3600.0  # seconds


@dataclass
class LoadResult:
    rows: int
    copy_seconds: float  # the COPY statements
    index_seconds: float  # building the deferred indexes and constraints, then ANALYZE

    @property
    def copy_rate(self) -> float:
        return self.rows / self.copy_seconds if self.copy_seconds else 0.0


async def _chunks(chunks: Iterable[tuple[bytes, int]], counted: list[int]) -> AsyncIterator[bytes]:
    for data, rows in chunks:
        counted[0] += rows
        yield data


async def load_history(
    conn: asyncpg.Connection,
    chunks: Iterable[tuple[bytes, int]],
    *,
    per_copy: int = 1,
) -> LoadResult:
    """COPY ``chunks`` (text-format bytes and their row count) into ``events``.

    ``per_copy`` chunks go into each COPY statement (its own transaction). Indexes are
    deferred only when the table is empty (see the module docstring).
    """
    deferred: list[str] = []
    if await conn.fetchval(_EMPTY):
        async with conn.transaction():
            for name, definition in await conn.fetch(_CONSTRAINTS):
                deferred.append(f"ALTER TABLE events ADD CONSTRAINT {name} {definition}")
                await conn.execute(f"ALTER TABLE events DROP CONSTRAINT {name}")
            for name, definition in await conn.fetch(_INDEXES):
                deferred.append(definition)
                await conn.execute(f"DROP INDEX {name}")
    counted = [0]
    started = time.perf_counter()
    source = iter(chunks)
    while True:
        group = [c for _, c in zip(range(per_copy), source, strict=False)]
        if not group:
            break
        await conn.copy_to_table(
            "events",
            source=_chunks(group, counted),
            columns=HISTORY_COLUMNS,
            format="text",
            timeout=_NO_LIMIT,
        )
    copied = time.perf_counter() - started
    started = time.perf_counter()
    await conn.execute("SET maintenance_work_mem = '256MB'")
    # no command timeout: building the indexes of 48M rows took longer than the pool's
    # (the 1,000,000-enrolment run failed there with a TimeoutError)
    for statement in deferred:
        await conn.execute(statement, timeout=_NO_LIMIT)
    await conn.execute("ANALYZE events", timeout=_NO_LIMIT)
    return LoadResult(counted[0], copied, time.perf_counter() - started)


@dataclass
class Disk:
    table: int  # heap (with TOAST) in bytes
    indexes: int

    @property
    def total(self) -> int:
        return self.table + self.indexes


async def relation_disk(conn: asyncpg.Connection, table: str) -> Disk:
    """What a table takes on disk: its heap with TOAST, and its indexes."""
    row = await conn.fetchrow(
        "SELECT pg_table_size($1::regclass) AS t, pg_indexes_size($1::regclass) AS i", table
    )
    return Disk(row["t"], row["i"])
