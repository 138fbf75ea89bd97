"""Writing versioned rows: each change of a row closes its live version and adds one.

A version is valid for recorded instants ``[valid_from, valid_to)``; the live one
has ``valid_to`` NULL. ``valid_from`` never decreases along a row's history (it is
the larger of the event's ``recorded_at`` and the previous ``valid_from``), so an
as-of query never sees a version built from an event recorded after its instant.
Writes are batched: one UPDATE closing the live versions (``unnest``), one COPY
adding the new ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg
import msgspec

R = TypeVar("R", bound=msgspec.Struct)


class Versions(Generic[R]):
    """The versions of rows changed by one batch, in order, per key."""

    def __init__(self, live: dict[uuid.UUID, tuple[R, dt.datetime]]) -> None:
        self.live = live  # key -> (row, valid_from) as stored before the batch
        self.new: dict[uuid.UUID, list[tuple[R, dt.datetime]]] = {}

    def current(self, key: uuid.UUID) -> R | None:
        versions = self.new.get(key)
        if versions:
            return versions[-1][0]
        found = self.live.get(key)
        return found[0] if found else None

    def _last_from(self, key: uuid.UUID) -> dt.datetime | None:
        versions = self.new.get(key)
        if versions:
            return versions[-1][1]
        found = self.live.get(key)
        return found[1] if found else None

    def put(self, key: uuid.UUID, row: R, recorded_at: dt.datetime) -> None:
        last = self._last_from(key)
        valid_from = max(recorded_at, last) if last else recorded_at
        versions = self.new.setdefault(key, [])
        if versions and versions[-1][1] == valid_from:
            versions[-1] = (row, valid_from)  # same instant: the later state wins
        else:
            versions.append((row, valid_from))


class VersionedTable(Generic[R]):
    def __init__(self, table: str, key: str, row_type: type[R]) -> None:
        self.table, self.key, self.row_type = table, key, row_type
        self.columns = list(row_type.__struct_fields__)

    async def load(
        self, conn: asyncpg.Connection, table: str, keys: Iterable[uuid.UUID]
    ) -> Versions[R]:
        keys = list(set(keys))
        if not keys:
            return Versions({})
        # A statement of its own, planned for these keys and the table as it is now: a
        # cached generic plan, made while the table was small (a new deployment, the start
        # of a catch-up), kept scanning the whole table once it had grown (the load of
        # ``proj_tasks`` took 0.2 s or 4.7-7.0 s of a 20,000-enrolment catch-up, by when
        # autovacuum happened to analyse it; ``parcours bench projections``).
        statement = await conn.prepare(
            f"SELECT {', '.join(self.columns)}, valid_from FROM {table} "
            f"WHERE {self.key} = ANY($1::uuid[]) AND valid_to IS NULL"
        )
        rows = await statement.fetch(keys)
        live = {}
        for r in rows:
            values = dict(r)
            valid_from = values.pop("valid_from")
            live[r[self.key]] = (self.row_type(**values), valid_from)
        return Versions(live)

    async def write(self, conn: asyncpg.Connection, table: str, versions: Versions[R]) -> int:
        if not versions.new:
            return 0
        closing = [(k, v[0][1]) for k, v in versions.new.items() if k in versions.live and v]
        if closing:
            # a transaction split over two batches: its first version lasted no time
            # (closed at its own valid_from); those are deleted, the others kept
            empty = [k for k, vt in closing if (live := versions.live.get(k)) and live[1] == vt]
            await conn.execute(
                f"UPDATE {table} AS t SET valid_to = u.vt "
                f"FROM unnest($1::uuid[], $2::timestamptz[]) AS u(k, vt) "
                f"WHERE t.{self.key} = u.k AND t.valid_to IS NULL",
                [k for k, _ in closing],
                [vt for _, vt in closing],
            )
            if empty:
                await conn.execute(
                    f"DELETE FROM {table} WHERE {self.key} = ANY($1::uuid[]) "
                    "AND valid_to = valid_from",
                    empty,
                )
        records: list[tuple[Any, ...]] = []
        for chain in versions.new.values():
            for i, (row, valid_from) in enumerate(chain):
                valid_to = chain[i + 1][1] if i + 1 < len(chain) else None
                records.append((*msgspec.structs.astuple(row), valid_from, valid_to))
        await copy_rows(conn, table, [*self.columns, "valid_from", "valid_to"], records)
        return len(records)


async def copy_rows(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    if records:
        await conn.copy_records_to_table(table, records=records, columns=list(columns))
