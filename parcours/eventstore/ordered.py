"""Reads in commit order for the relay and the consumers: checkpoints and horizons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from parcours.eventstore.records import _COLUMNS, Checkpoint, StoredEvent

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


class _CommitOrder:
    """The commit-order reads of ``EventStore`` (see the package's docstring)."""

    _db: Any

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
