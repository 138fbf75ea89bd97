"""Reads by stream: a stream's events, many streams after their versions, lookups."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from parcours.eventstore.records import _COLUMNS, StoredEvent

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


class _Reads:
    """The reads by stream of ``EventStore``."""

    _db: Any

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
