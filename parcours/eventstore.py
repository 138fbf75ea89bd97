"""The PostgreSQL event store: idempotent, optimistic appends and gap-free reads.

Shared runtime: the pathways service writes through it; the relay and the
projections' rebuild read through it.

Appends
    One INSERT statement per append, so an append is atomic without an explicit
    transaction (one round trip). ``expected_version`` is the version the writer
    saw; the unique ``(stream, version)`` constraint turns a concurrent writer
    into a ``VersionConflictError`` naming the actual version. Every event has
    a UUID chosen by its sender or the service and is unique forever: sending
    the same events again returns the original positions and writes nothing;
    the same id with different content is a ``DuplicateEventError``. Ids are unique
    per CPTS (``UNIQUE (event_id, cpts)``): the same id from another CPTS is another event.

Reads in commit order, never skipping a late commit
    A sequence hands out positions at INSERT time, but transactions commit in
    any order: a reader that remembers "last position seen" skips a position
    that becomes visible after a larger one. We chose *transaction-id
    visibility*: each row records its writing transaction (``txid xid8``), and
    ``read_all`` only returns rows whose transaction is older than the oldest
    transaction still in flight (``txid < pg_snapshot_xmin(pg_current_snapshot())``),
    ordered by ``(txid, position)``. Every such transaction has finished, so
    no row can later appear before the reader's checkpoint ``(txid, position)``:
    nothing is skipped, nothing is returned twice. The price is that one long
    transaction anywhere in the database holds readers back until it ends; no
    writer blocks on another, which a per-category advisory lock would do
    (serialising every append of a tenant). Appends must therefore keep their
    transactions short; the test ``test_slow_transaction_is_not_skipped`` holds
    one open while others commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import asyncpg
import msgspec

from contracts.events import Actor, Envelope, NewEvent, payload_decoder, tag_of

ANY = -1  # expected_version: do not check
NO_STREAM = 0  # expected_version: the stream must not exist yet

_json = msgspec.json.Encoder()


class EventStoreError(Exception):
    pass


class VersionConflictError(EventStoreError):
    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream} is at version {actual}, the append expected version {expected}"
        )
        self.stream, self.expected, self.actual = stream, expected, actual


class DuplicateEventError(EventStoreError):
    def __init__(self, event_id: uuid.UUID) -> None:
        super().__init__(
            f"event {event_id} was already recorded with different content; "
            "choose a new event_id for a new fact"
        )
        self.event_id = event_id


class PreconditionFailedError(EventStoreError):
    """The statement that was to run with the append (``before``) affected no row."""


class AppendResult(msgspec.Struct, frozen=True):
    positions: list[int]
    version: int  # stream version after the append
    duplicate: bool = False  # True when every event was already stored


class Checkpoint(msgspec.Struct, frozen=True):
    txid: int = 0
    position: int = 0


class StoredEvent(msgspec.Struct, frozen=True):
    """A row of the event store with its payload still as JSON text."""

    position: int
    txid: int
    event_id: uuid.UUID
    stream: str
    version: int
    type: str
    cpts: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    correlation_id: str
    causation_id: str | None
    actor_id: str
    actor_role: str
    schema_version: int
    data: str

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.txid, self.position)

    def envelope(self, decode: Callable[[str], Any] = payload_decoder.decode) -> Envelope:
        return Envelope(
            event_id=self.event_id,
            stream=self.stream,
            version=self.version,
            type=self.type,
            occurred_at=self.occurred_at,
            recorded_at=self.recorded_at,
            cpts=self.cpts,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            actor=Actor(id=self.actor_id, role=self.actor_role),
            schema_version=self.schema_version,
            data=decode(self.data),
            position=self.position,
        )

    def wire(self) -> bytes:
        """The envelope as JSON for NATS, without decoding the payload."""
        return _json.encode(
            _WireEnvelope(
                event_id=self.event_id,
                stream=self.stream,
                version=self.version,
                type=self.type,
                occurred_at=self.occurred_at,
                recorded_at=self.recorded_at,
                cpts=self.cpts,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
                actor=Actor(id=self.actor_id, role=self.actor_role),
                schema_version=self.schema_version,
                data=msgspec.Raw(self.data.encode()),
                position=self.position,
            )
        )


class _WireEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    stream: str
    version: int
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    cpts: str
    correlation_id: str
    causation_id: str | None
    actor: Actor
    schema_version: int
    data: msgspec.Raw
    position: int


# ``txid`` is read as a bigint under its own name: an ORDER BY must name ``events.txid``
# (the column, in the index ``events_txid_position``), not the output (a sort of every row).
_COLUMNS = (
    "position, txid::text::bigint AS txid, event_id, stream, version, type, cpts, occurred_at, "
    "recorded_at, correlation_id, causation_id, actor_id, actor_role, schema_version, data::text AS data"
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

_STREAMS_AFTER = """SELECT c.stream, e.version, e.event_id, e.data::text AS data
FROM unnest($1::text[], $2::int[]) AS c(stream, version),
     LATERAL (SELECT version, event_id, data FROM events
              WHERE stream = c.stream AND version > c.version OFFSET 0) AS e
ORDER BY c.stream, e.version"""

_STREAMS_OF = """WITH lookup AS ({lookup})
SELECT l.*, e.version, e.event_id, e.data::text AS data
FROM lookup l
LEFT JOIN LATERAL (SELECT version, event_id, data FROM events
                   WHERE stream = l.stream OFFSET 0) AS e ON true
ORDER BY l.stream, e.version"""

_READ_BELOW = """SELECT txid::text::bigint AS txid, position, event_id, stream, type, cpts,
       data::text AS data
FROM events
WHERE (txid, position) > ($1::text::xid8, $2)
  AND txid < $5::text::xid8
  AND type = ANY($4::text[])
ORDER BY events.txid, events.position  -- the columns (index order), not the bigint output
LIMIT $3"""

_ANY_BELOW = """SELECT EXISTS (SELECT 1 FROM events
WHERE (txid, position) > ($1::text::xid8, $2) AND txid < $3::text::xid8)"""

_BACKLOG = """SELECT count(*) FROM events
WHERE position > coalesce((SELECT position FROM store_checkpoints WHERE name = $1), 0)
  AND ($2::text[] IS NULL OR type = ANY($2::text[]))"""

# EXISTS, not count(*): a reader polling must not scan what it has yet to read
_CAUGHT_UP = """SELECT EXISTS (SELECT 1 FROM store_checkpoints WHERE name = $1)
   AND NOT EXISTS (SELECT 1 FROM events e, store_checkpoints c
                   WHERE c.name = $1 AND (e.txid, e.position) > (c.txid, c.position)
                     AND ($2::text[] IS NULL OR e.type = ANY($2::text[])))"""


class RecordedEvent(NamedTuple):
    """An event found by its id: enough to tell a replay from another fact."""

    event_id: uuid.UUID
    stream: str
    position: int
    version: int
    type: str
    data: str

    def same_as(self, stream: str, event: NewEvent) -> bool:
        """The same event sent again: same stream, type and payload."""
        return (
            self.stream == stream
            and self.type == tag_of(event.data)
            and _same_payload(self.data, event)
        )


class AppendRequest(msgspec.Struct, frozen=True):
    """One stream's share of a multi-stream append."""

    stream: str
    expected_version: int
    events: Sequence[NewEvent]


class EventStore:
    """Appends and reads events. Pass a pool, or a connection inside a transaction."""

    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = pool

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
        sql, extra = _INSERT, ()
        if before is not None:
            sql = f"WITH before AS ({before[0]})\n" + _INSERT.replace(
                "ORDER BY i.ord", "WHERE EXISTS (SELECT 1 FROM before)\nORDER BY i.ord"
            )
            extra = tuple(before[1])
        args = (stream, expected_version, _rows(events), *extra)
        try:
            if conn is not None and conn.is_in_transaction():
                async with conn.transaction():  # a savepoint: a conflict must not abort the caller
                    rows = await db.fetch(sql, *args)
            else:
                rows = await db.fetch(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_event_id_cpts_key":
                return await self._replayed(stream, events, db)
            actual = await self.stream_version(stream, conn=conn)
            raise VersionConflictError(stream, expected_version, actual) from None
        if not rows:
            raise PreconditionFailedError(stream)
        return AppendResult(positions=[r["position"] for r in rows], version=rows[-1]["version"])

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
        placing: list[tuple[str, int, int]] = []
        events: list[NewEvent] = []
        for req in requests:
            for rank, event in enumerate(req.events, start=1):
                placing.append((req.stream, req.expected_version, rank))
                events.append(event)
        payload = _rows(events, placing)
        db = conn or self._db
        try:
            if conn is not None and conn.is_in_transaction():
                async with conn.transaction():
                    rows = await db.fetch(_INSERT_MANY, payload)
            else:
                rows = await db.fetch(_INSERT_MANY, payload)
        except asyncpg.UniqueViolationError:
            return [await self._append_alone(req, conn) for req in requests]
        results: list[AppendResult | EventStoreError] = []
        at = 0
        for req in requests:
            mine = rows[at : at + len(req.events)]
            at += len(req.events)
            results.append(
                AppendResult(positions=[r["position"] for r in mine], version=mine[-1]["version"])
            )
        return results

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

    async def count_stream(self, stream: str) -> int:
        return await self._db.fetchval("SELECT count(*) FROM events WHERE stream = $1", stream)

    async def streams_quiet_since(
        self, before: dt.datetime, prefix: str = "patient-"
    ) -> list[tuple[str, str, dt.datetime]]:
        """``(cpts, stream, last occurred_at)`` of the streams named ``prefix…`` whose every
        event occurred before ``before`` (the identity retention policy reads it)."""
        rows = await self._db.fetch(
            """SELECT cpts, stream, max(occurred_at) AS last FROM events
               WHERE starts_with(stream, $2) GROUP BY cpts, stream
               HAVING max(occurred_at) < $1""",
            before,
            prefix,
        )
        return [(r["cpts"], r["stream"], r["last"]) for r in rows]

    async def read_streams_after(
        self, streams: Sequence[str], versions: Sequence[int], *, conn: Any = None
    ) -> list[asyncpg.Record]:
        """The events of each stream after a version (0: the whole stream), by stream then
        version, as rows ``(stream, version, event_id, data)`` (data: JSON text). One index
        range per stream (LATERAL ... OFFSET 0), whatever the statistics say: a join was
        planned as a merge over the whole (stream, version) index."""
        return await (conn or self._db).fetch(_STREAMS_AFTER, list(streams), list(versions))

    async def read_streams_of(
        self, lookup: str, *args: Any, conn: Any = None
    ) -> list[asyncpg.Record]:
        """Rows of ``lookup`` (a query returning a ``stream`` column) with the events of that
        stream, in one round trip: each row of the lookup is repeated once per event with
        ``version``, ``event_id`` and ``data`` (null when the stream is empty), by stream
        then version (the lookup names none of these three columns). The pathways service
        finds a patient by INS this way."""
        return await (conn or self._db).fetch(_STREAMS_OF.format(lookup=lookup), *args)

    async def stream_version(self, stream: str, *, conn: asyncpg.Connection | None = None) -> int:
        db = conn or self._db
        return await db.fetchval(
            "SELECT coalesce(max(version), 0) FROM events WHERE stream = $1", stream
        )

    async def stream_event(
        self, stream: str, version: int | None = None, *, conn: Any = None
    ) -> StoredEvent | None:
        """The event of ``stream`` at ``version`` (None: its last one), if stored (what a
        consumer dead-letters when it cannot fold or decide on the stream)."""
        rows = await (conn or self._db).fetch(
            f"""SELECT {_COLUMNS} FROM events WHERE stream = $1
                  AND ($2::int IS NULL OR version = $2) ORDER BY version DESC LIMIT 1""",
            stream,
            version,
        )
        return StoredEvent(*rows[0]) if rows else None

    async def read_stream(
        self, stream: str, after_version: int = 0, *, conn: asyncpg.Connection | None = None
    ) -> list[StoredEvent]:
        db = conn or self._db
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream = $1 AND version > $2 ORDER BY version",
            stream,
            after_version,
        )
        return [StoredEvent(*r) for r in rows]  # _COLUMNS are in the Struct's field order

    async def read_all(
        self, after: Checkpoint = Checkpoint(), limit: int = 1000, *, types: Sequence[str] = ()
    ) -> list[StoredEvent]:
        """Events committed after ``after``, in a stable commit order, never skipping one."""
        type_filter = "AND type = ANY($4::text[])" if types else ""
        args: list[Any] = [str(after.txid), after.position, limit]
        if types:
            args.append(list(types))
        rows = await self._db.fetch(
            f"""SELECT {_COLUMNS} FROM events
                WHERE (txid, position) > ($1::text::xid8, $2)
                  AND txid < pg_snapshot_xmin(pg_current_snapshot())
                  {type_filter}
                ORDER BY events.txid, events.position
                LIMIT $3""",
            *args,
        )
        return [StoredEvent(*r) for r in rows]  # _COLUMNS are in the Struct's field order

    async def checkpoint_and_horizon(self, name: str) -> tuple[Checkpoint, int]:
        """A reader's checkpoint, and the horizon read with it (the oldest transaction
        still in flight: every transaction below it has ended, committed or not)."""
        row = await self._db.fetchrow(
            """SELECT c.txid::text::bigint AS txid, c.position,
                      pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon
               FROM (SELECT 1) AS one LEFT JOIN store_checkpoints c ON c.name = $1""",
            name,
        )
        return Checkpoint(row["txid"] or 0, row["position"] or 0), row["horizon"]

    async def read_below(
        self, after: Checkpoint, horizon: int, limit: int, types: Sequence[str]
    ) -> list[asyncpg.Record]:
        """``read_all`` below a horizon read earlier, with only the columns an index needs
        (``txid, position, event_id, stream, type, cpts, data``): a short read has then
        seen every event of those types below the horizon."""
        return await self._db.fetch(
            _READ_BELOW, str(after.txid), after.position, limit, list(types), str(horizon)
        )

    async def any_below(self, after: Checkpoint, horizon: int) -> bool:
        """Whether any event (of any type) lies between ``after`` and the horizon."""
        return await self._db.fetchval(_ANY_BELOW, str(after.txid), after.position, str(horizon))

    async def count(self, types: Sequence[str] = ()) -> int:
        """Events stored (of these types)."""
        if not types:
            return await self._db.fetchval("SELECT count(*) FROM events")
        return await self._db.fetchval(
            "SELECT count(*) FROM events WHERE type = ANY($1::text[])", list(types)
        )

    async def backlog(self, checkpoint: str, types: Sequence[str] = ()) -> int:
        """Events after a reader's saved checkpoint (0 for an unknown name: every event)."""
        return await self._db.fetchval(_BACKLOG, checkpoint, list(types) if types else None)

    async def caught_up(self, checkpoint: str, types: Sequence[str] = ()) -> bool:
        """Whether the reader saved a checkpoint and no event (of these types) lies after it."""
        return await self._db.fetchval(_CAUGHT_UP, checkpoint, list(types) if types else None)

    async def head(self) -> Checkpoint:
        """The checkpoint of the last event visible to readers now."""
        row = await self._db.fetchrow(
            """SELECT txid::text::bigint AS txid, position FROM events
               WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
               ORDER BY events.txid DESC, events.position DESC LIMIT 1"""
        )
        return Checkpoint(row["txid"], row["position"]) if row else Checkpoint()

    async def load_checkpoint(self, name: str) -> Checkpoint:
        row = await self._db.fetchrow(
            "SELECT txid::text::bigint AS txid, position FROM store_checkpoints WHERE name = $1",
            name,
        )
        return Checkpoint(row["txid"], row["position"]) if row else Checkpoint()

    async def save_checkpoint(self, name: str, checkpoint: Checkpoint) -> None:
        await self._db.execute(
            """INSERT INTO store_checkpoints (name, txid, position, updated_at)
               VALUES ($1, $2::text::xid8, $3, now())
               ON CONFLICT (name) DO UPDATE
               SET txid = excluded.txid, position = excluded.position, updated_at = now()""",
            name,
            str(checkpoint.txid),
            checkpoint.position,
        )


def _same_payload(stored_json: str, event: NewEvent) -> bool:
    return msgspec.json.decode(stored_json) == msgspec.json.decode(_json.encode(event.data))


async def read_events(
    db: asyncpg.Pool | asyncpg.Connection, keys: Sequence[tuple[str, uuid.UUID]]
) -> list[StoredEvent]:
    """The stored events named by ``(cpts, event_id)``, in position order (dead-letter replay)."""
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM events
            WHERE (event_id, cpts) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))
            ORDER BY position""",
        [k[1] for k in keys],
        [k[0] for k in keys],
    )
    return [StoredEvent(*r) for r in rows]


# --- reads for projections and consumers
# What the read side needs to learn about stored events: where a delivered event sits in
# commit order, when its transaction became visible, and a streamed read of everything
# visible for rebuilds. Kept apart from the write side above; every function takes the
# connection (or pool) it reads on.

import asyncio  # noqa: E402 - this section's own imports, kept with it
import contextlib  # noqa: E402
from collections.abc import AsyncIterator, Iterable  # noqa: E402
from typing import NamedTuple  # noqa: E402


class VisibleEvent(NamedTuple):
    """An event with its place in the store's commit order and the instant it became visible.

    ``visible_at`` is the latest ``recorded_at`` of the event's transaction: the events of
    one transaction become visible together.
    """

    txid: int
    position: int
    envelope: Envelope
    visible_at: dt.datetime


class EventPlaces(NamedTuple):
    """Where events sit in the store, and when their transactions became visible."""

    places: dict[tuple[str, uuid.UUID], tuple[int, int]]  # (cpts, event id) -> (txid, position)
    instants: dict[int, dt.datetime]  # txid -> latest recorded_at of that transaction


async def places_of_events(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, uuid.UUID]]
) -> EventPlaces:
    """In one indexed query: each event's ``(txid, position)`` and the latest
    ``recorded_at`` of its transaction, by ``(cpts, event id)`` (ids are unique per
    CPTS). Events not in the store are absent."""
    rows = await conn.fetch(
        """WITH p AS (SELECT e.event_id, e.cpts, e.txid, e.position
                      FROM unnest($1::uuid[], $2::text[]) AS k(event_id, cpts)
                      JOIN events e USING (event_id, cpts))
           SELECT p.event_id, p.cpts, p.txid::text::bigint AS txid, p.position, v.at
           FROM p JOIN (SELECT txid, max(recorded_at) AS at FROM events
                        WHERE txid IN (SELECT DISTINCT txid FROM p) GROUP BY txid) AS v
                USING (txid)""",
        [k[1] for k in keys],
        [k[0] for k in keys],
    )
    return EventPlaces(
        {(r["cpts"], r["event_id"]): (r["txid"], r["position"]) for r in rows},
        {r["txid"]: r["at"] for r in rows},
    )


async def visible_instants(
    conn: asyncpg.Connection, txids: Iterable[int]
) -> dict[int, dt.datetime]:
    """For each transaction id, the latest ``recorded_at`` of its events."""
    rows = await conn.fetch(
        "SELECT txid::text::bigint AS txid, max(recorded_at) AS at FROM events "
        "WHERE txid = ANY($1::text[]::xid8[]) GROUP BY txid",
        [str(t) for t in set(txids)],
    )
    return {r["txid"]: r["at"] for r in rows}


async def count_events(conn: asyncpg.Connection) -> int:
    """How many events the store holds (a progress total, not a position)."""
    return await conn.fetchval("SELECT count(*) FROM events")


_READ_VISIBLE = """
SELECT txid::text::bigint AS txid, position, event_id, stream, version, type, cpts,
       occurred_at, recorded_at, correlation_id, causation_id, actor_id, actor_role,
       schema_version, data::text AS data,
       max(recorded_at) OVER (PARTITION BY txid) AS visible_at
FROM events
WHERE (txid, position) > ($1::text::xid8, $2)
  AND txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY txid, position
"""


def _visible_event(r: asyncpg.Record, decode: Callable[[str], Any]) -> VisibleEvent:
    return VisibleEvent(
        r[0],
        r[1],
        Envelope(
            event_id=r[2],
            stream=r[3],
            version=r[4],
            type=r[5],
            cpts=r[6],
            occurred_at=r[7],
            recorded_at=r[8],
            correlation_id=r[9],
            causation_id=r[10],
            actor=Actor(id=r[11], role=r[12]),
            schema_version=r[13],
            data=decode(r[14]),
            position=r[1],
        ),
        r[15],
    )


async def stream_visible_events(
    pool: asyncpg.Pool,
    after: Checkpoint,
    batch: int,
    decode: Callable[[str], Any] = payload_decoder.decode,
) -> AsyncIterator[list[VisibleEvent]]:
    """Pages of the events visible now and past ``after``, in ``read_all`` order.

    ONE query on a connection of its own: a server-side cursor in a repeatable-read,
    read-only snapshot, each row with the latest ``recorded_at`` of its transaction (a
    window function). The next page is prefetched while the caller works on the current
    one, so PostgreSQL reads while Python applies.
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = await conn.cursor(_READ_VISIBLE, str(after.txid), after.position)
        ahead = asyncio.ensure_future(cursor.fetch(batch))
        try:
            while True:
                rows = await ahead
                if not rows:
                    return
                ahead = asyncio.ensure_future(cursor.fetch(batch))
                yield [_visible_event(r, decode) for r in rows]
        finally:
            if not ahead.done():
                ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead
