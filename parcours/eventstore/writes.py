"""Appends: one statement per append (one stream or many), optimistic and idempotent."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from contracts.events import NewEvent, tag_of
from parcours.eventstore.records import (
    AppendRequest,
    AppendResult,
    DuplicateEventError,
    EventStoreError,
    PreconditionFailedError,
    RecordedEvent,
    VersionConflictError,
    _json,
)

# The events travel as ONE JSON parameter (parsed once by PostgreSQL; the payload goes
# into the jsonb column as it is), cheaper than one typed array per column; each event is
# an array read by position (``_Row``), not an object read by key.
_INSERT = """
INSERT INTO events (event_id, stream, version, type, cpts, occurred_at, correlation_id,
                    causation_id, actor_id, actor_role, data)
SELECT (e->>0)::uuid, $1, b.base + i.ord, e->>1, e->>2, (e->>3)::timestamptz,
       e->>4, e->>8, e->>5, e->>6, e->7
FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS i(e, ord),
     (SELECT CASE WHEN $2::int >= 0 THEN $2::int
                  ELSE (SELECT coalesce(max(version), 0) FROM events WHERE stream = $1) END
     ) AS b(base)
ORDER BY i.ord
RETURNING position, version
"""
BEFORE_FIRST_PARAM = 4  # the first $n free for an append's ``before`` statement

# From this many events (measured crossover: the INSERT wins at 32-256 events, COPY from
# ~500, by 1.3x at 5,000), an append (to one stream, or ``append_many``'s streams together)
# goes through binary COPY (no JSON array for PostgreSQL to parse and unpack), in a
# transaction that reads the positions back; below it, the one-statement INSERT is cheaper
# (one round trip, no transaction). ``parcours bench ingest`` and ``parcours bench model``
# measure both against a raw COPY.
COPY_FROM = 500
# the columns an append writes, in the order of ``event_record`` (what COPY sends)
EVENT_COLUMNS = ("event_id", "stream", "version", "type", "cpts", "occurred_at",
                 "correlation_id", "causation_id", "actor_id", "actor_role", "data")  # fmt: skip


def event_record(e: NewEvent, stream: str, version: int) -> tuple[Any, ...]:
    """One event as a row of ``EVENT_COLUMNS`` (the payload as JSON text)."""
    return (e.event_id, stream, version, tag_of(e.data), e.cpts, e.occurred_at,
            e.correlation_id, e.causation_id, e.actor.id, e.actor.role,
            _json.encode(e.data).decode())  # fmt: skip


_LAST = "SELECT stream, max(version) FROM events WHERE stream = ANY($1::text[]) GROUP BY stream"
# this transaction's rows among these ids (the caller's transaction may hold others)
_WRITTEN = """SELECT event_id, position FROM events
WHERE txid = pg_current_xact_id() AND event_id = ANY($1::uuid[])"""

_INSERT_MANY = """
INSERT INTO events (event_id, stream, version, type, cpts, occurred_at, correlation_id,
                    causation_id, actor_id, actor_role, data)
SELECT (e->>0)::uuid, e->>9,
       CASE WHEN (e->>10)::int >= 0 THEN (e->>10)::int
            ELSE (SELECT coalesce(max(v.version), 0) FROM events v WHERE v.stream = e->>9)
       END + (e->>11)::int,
       e->>1, e->>2, (e->>3)::timestamptz, e->>4, e->>8, e->>5, e->>6, e->7
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS i(e, ord)
ORDER BY i.ord
RETURNING position, stream, version
"""


class _Row(msgspec.Struct, frozen=True, omit_defaults=True, array_like=True):
    """One event as the INSERT reads it: a JSON array, read by position (``e->>0`` is
    ``i``...; a wire format, not a contract: not persisted, fields are never stored as
    they are here)."""

    i: uuid.UUID
    t: str
    c: str
    o: dt.datetime
    r: str
    a: str
    l: str  # noqa: E741 - the actor's role
    d: Any  # the payload Struct, encoded in the same pass as its row
    k: str | None = None
    s: str | None = None  # multi-stream: the stream, expected version and rank in it
    x: int | None = None
    n: int | None = None


def _rows(events: Sequence[NewEvent], placing: Sequence[tuple[str, int, int]] = ()) -> str:
    rows = []
    for at, e in enumerate(events):
        stream, expected, rank = placing[at] if placing else (None, None, None)
        rows.append(
            _Row(
                i=e.event_id,
                t=tag_of(e.data),
                c=e.cpts,
                o=e.occurred_at,
                r=e.correlation_id,
                a=e.actor.id,
                l=e.actor.role,
                d=e.data,
                k=e.causation_id,
                s=stream,
                x=expected,
                n=rank,
            )
        )
    return _json.encode(rows).decode()


# event ids are unique per CPTS: another CPTS's event under the same id is not this one
_RECORDED = """SELECT event_id, stream, position, version, type, data::text AS data FROM events
WHERE event_id = ANY($1::uuid[]) AND cpts = $2"""


class _Writes:
    """The appends of ``EventStore`` (and the idempotency lookup they rely on)."""

    _db: Any  # the EventStore's pool or connection; ``stream_version`` comes from its reads

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        conn: asyncpg.Connection | None = None,
        before: tuple[str, Sequence[Any]] | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream`` atomically, in one statement.

        ``before`` is an optional ``(sql, args)`` run in the same statement, as a
        data-modifying CTE whose parameters start at ``$4`` (``BEFORE_FIRST_PARAM``): the events are only
        written when it returns a row (else ``PreconditionFailedError``). The
        pathways service records a new patient's identity row this way, so a
        first fact costs one round trip and one commit.
        """
        if not events:
            raise ValueError("an append needs at least one event")
        db = conn or self._db
        try:
            if before is None and len(events) >= COPY_FROM:
                placed = await self._copy(conn, [AppendRequest(stream, expected_version, events)])
            else:
                placed = await self._insert(conn, stream, expected_version, events, before)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_event_id_cpts_key":
                return await self._replayed(stream, events, db)
            actual = await self.stream_version(stream, conn=conn)
            raise VersionConflictError(stream, expected_version, actual) from None
        if not placed:
            raise PreconditionFailedError(stream)
        return AppendResult(positions=[p for p, _ in placed], version=placed[-1][1])

    async def _insert(
        self,
        conn: asyncpg.Connection | None,
        stream: str,
        expected_version: int,
        events: Sequence[NewEvent],
        before: tuple[str, Sequence[Any]] | None,
    ) -> list[tuple[int, int]]:
        """``append`` in one INSERT statement: each event's ``(position, version)``, or
        nothing when ``before`` returned no row."""
        sql, extra = _INSERT, ()
        if before is not None:
            sql = f"WITH before AS ({before[0]})\n" + _INSERT.replace(
                "ORDER BY i.ord", "WHERE EXISTS (SELECT 1 FROM before)\nORDER BY i.ord"
            )
            extra = tuple(before[1])
        args = (stream, expected_version, _rows(events), *extra)
        if conn is not None and conn.is_in_transaction():
            async with conn.transaction():  # a savepoint: a conflict must not abort the caller
                rows = await conn.fetch(sql, *args)
        else:
            rows = await (conn or self._db).fetch(sql, *args)
        return [(r["position"], r["version"]) for r in rows]

    async def _copy(
        self, conn: asyncpg.Connection | None, requests: Sequence[AppendRequest]
    ) -> list[tuple[int, int]]:
        """Write ``requests`` by binary COPY in one transaction (a savepoint inside a
        caller's); each event's ``(position, version)``, in request order.

        Versions are numbered here from each request's expected version (or its stream's
        last version, read in the same transaction); the unique constraints reject a
        concurrent writer or a re-sent event id exactly as they do for the INSERT (an
        ``asyncpg.UniqueViolationError``), and the COPY writes nothing then.
        """
        if conn is None and not isinstance(self._db, asyncpg.Connection):
            async with self._db.acquire() as own:
                return await self._copy(own, requests)
        conn = conn or self._db
        async with conn.transaction():
            unknown = sorted({r.stream for r in requests if r.expected_version < 0})
            last = dict(await conn.fetch(_LAST, unknown)) if unknown else {}
            records = []
            for r in requests:
                base = r.expected_version if r.expected_version >= 0 else last.get(r.stream, 0)
                records += [
                    event_record(e, r.stream, base + rank)
                    for rank, e in enumerate(r.events, start=1)
                ]
            await conn.copy_records_to_table("events", records=records, columns=EVENT_COLUMNS)
            placed = dict(await conn.fetch(_WRITTEN, [rec[0] for rec in records]))
        return [(placed[rec[0]], rec[2]) for rec in records]

    async def append_many(
        self, requests: Sequence[AppendRequest], *, conn: asyncpg.Connection | None = None
    ) -> list[AppendResult | EventStoreError]:
        """Append to many streams in ONE statement (one round trip, one commit).

        Each request keeps its own optimistic check. When any of them conflicts
        (a stale version, a re-sent event id), the statement changes nothing and
        every request is appended on its own instead, so each gets its own
        answer: an ``AppendResult`` or the ``EventStoreError`` it raised. Inside
        a caller's transaction the attempt runs under a savepoint.
        """
        if not requests:
            return []
        try:
            if sum(len(r.events) for r in requests) >= COPY_FROM:
                placed = await self._copy(conn, requests)
            else:
                placed = await self._insert_many(conn, requests)
        except asyncpg.UniqueViolationError:
            return [await self._append_alone(req, conn) for req in requests]
        results: list[AppendResult | EventStoreError] = []
        at = 0
        for req in requests:
            mine = placed[at : at + len(req.events)]
            at += len(req.events)
            results.append(AppendResult(positions=[p for p, _ in mine], version=mine[-1][1]))
        return results

    async def _insert_many(
        self, conn: asyncpg.Connection | None, requests: Sequence[AppendRequest]
    ) -> list[tuple[int, int]]:
        placing: list[tuple[str, int, int]] = []
        events: list[NewEvent] = []
        for req in requests:
            for rank, event in enumerate(req.events, start=1):
                placing.append((req.stream, req.expected_version, rank))
                events.append(event)
        payload = _rows(events, placing)
        db = conn or self._db
        if conn is not None and conn.is_in_transaction():
            async with conn.transaction():
                rows = await db.fetch(_INSERT_MANY, payload)
        else:
            rows = await db.fetch(_INSERT_MANY, payload)
        return [(r["position"], r["version"]) for r in rows]

    async def _append_alone(
        self, req: AppendRequest, conn: asyncpg.Connection | None
    ) -> AppendResult | EventStoreError:
        try:
            return await self.append(req.stream, req.expected_version, req.events, conn=conn)
        except EventStoreError as exc:
            return exc

    async def _replayed(self, stream: str, events: Sequence[NewEvent], db: Any) -> AppendResult:
        """The append reused event ids.

        When the first event (the command's own fact) is already stored with the
        same content, the whole append is a replay: its consequences were
        decided when it was first sent, and the original position is returned.
        A stored id with other content is a ``DuplicateEventError``.
        """
        stored = await self.recorded([e.event_id for e in events], events[0].cpts, conn=db)
        for e in events:
            row = stored.get(e.event_id)
            if row is not None and not row.same_as(stream, e):
                raise DuplicateEventError(e.event_id)
        first = stored.get(events[0].event_id)
        if first is None:
            raise DuplicateEventError(next(iter(stored)))
        return AppendResult(positions=[first.position], version=first.version, duplicate=True)

    async def recorded(
        self, event_ids: Sequence[uuid.UUID], cpts: str, *, conn: Any = None
    ) -> dict[uuid.UUID, RecordedEvent]:
        """The events of this CPTS already stored under these ids (the idempotency check
        of a writer)."""
        if not event_ids:
            return {}
        rows = await (conn or self._db).fetch(_RECORDED, list(event_ids), cpts)
        return {r["event_id"]: RecordedEvent(*r) for r in rows}
