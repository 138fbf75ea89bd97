"""Rebuilding a view from the event store into shadow tables, then swapping them in.

1. ``<table>__shadow`` is created for each table of the view (``LIKE … INCLUDING ALL``,
   ``UNLOGGED`` while filled, its non-unique indexes built after the fill, then
   ``SET LOGGED``: ``_create_shadows``) and filled, in batches, with the same ``apply`` the live consumer uses. The live
   tables keep serving (and keep being updated). The events come from ONE query on a
   second connection (``eventstore.stream_visible_events``): a server-side cursor over
   the events visible in a repeatable-read snapshot, in ``read_all`` order, each row
   with the latest ``recorded_at`` of its transaction (a window function); the next
   page is fetched while the current one is applied, so PostgreSQL reads while Python
   evolves rows.
   The shadow tables are analysed as they grow (their plans must not assume empty
   tables) and once more before the swap. A view may name, per table, the leading
   columns of an index its reads follow (``View.clustered``): the filled shadow is then
   rewritten in that index's order (``CLUSTER``) before the swap, so that one
   patient's rows share a few pages instead of one page each (the timeline: a
   patient's ~50 events were on ~32 heap pages at 100,000 enrolments, events being
   applied in commit order, interleaved across patients). Rows the live consumer adds
   later go where there is room, as before.
2. The swap, in ONE transaction: lock the view's checkpoint row (the live consumer
   waits at its next batch), apply to the shadow every event the store shows past
   the rebuild's position (``EventStore.read_all``) (so the shadow reaches at least what the live view had
   applied), rename live -> ``__old``, shadow -> live, drop the old tables, and
   set the checkpoint to the rebuild's last event with ``generation + 1``.
   Readers see the old tables or the new ones, never a mix.
3. The live consumer resumes from its NATS position and skips every event at or
   before the new checkpoint (``projections.runner``), so nothing is applied twice
   and nothing is missed.

No stored event stops a rebuild: batches go through ``apply_isolated`` as in the
live consumer, so the rebuilt view holds back the same streams as the live one
(those with open letters for ``projections`` or ``projections-<view>``, from their
failed event on), and an event that fails now is dead-lettered like a live one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import msgspec

from contracts.base import EventPayload
from contracts.events import Envelope, payload_decoder
from parcours.deadletters import reason_of
from parcours.eventstore import (
    Checkpoint,
    EventStore,
    count_events,
    stream_visible_events,
    visible_instants,
)
from parcours.isolation import apply_isolated
from projections.runner import ViewCheckpoint, lock_checkpoint, save_checkpoint
from projections.views import Item, View

SHADOW, OLD = "__shadow", "__old"
Progress = Callable[[int, int], None]


@dataclass
class RebuildResult:
    view: str
    events: int
    seconds: float
    checkpoint: tuple[int, int]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def progress_bar(label: str, stream=sys.stderr) -> Progress:  # type: ignore[no-untyped-def]
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        total = max(total, done, 1)
        width = 30
        filled = int(width * done / total)
        rate = done / max(time.monotonic() - started, 1e-6)
        stream.write(
            f"\r{label:<12} [{'#' * filled}{'.' * (width - filled)}] "
            f"{100 * done // total:3d}% {done}/{total} events {rate:,.0f}/s"
        )
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


class _Undecodable(EventPayload, frozen=True, tag="?"):
    reason: str


def _payload(data: str) -> object:
    try:
        return payload_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _Undecodable(reason=reason_of(exc))  # dead-lettered by ``_apply``


def _envelope_of(item: Item) -> Envelope:
    return item.envelope


async def _apply(
    conn: asyncpg.Connection, view: View, items: list[Item], tables: dict[str, str]
) -> None:
    """``view.apply`` with the live consumer's isolation: what could not be decoded is
    the ``projections`` consumer's letter, what the view cannot apply the view's."""

    async def one_view(c: asyncpg.Connection, batch: list[Item]) -> None:
        for item in batch:
            if isinstance(item.envelope.data, _Undecodable):
                raise ValueError(item.envelope.data.reason)

        async def apply(c2: asyncpg.Connection, its: list[Item]) -> None:
            await view.apply(c2, its, tables)

        await apply_isolated(c, f"projections-{view.name}", batch, apply, _envelope_of)

    await apply_isolated(conn, "projections", items, one_view, _envelope_of)


async def _load(
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    view: View,
    tables: dict[str, str],
    batch: int,
    progress: Progress | None,
    total: int,
) -> tuple[Checkpoint, int, Item | None]:
    """The bulk of a rebuild: every event visible now, applied to the shadow tables."""
    after, done, last = Checkpoint(), 0, None
    analysed_at = batch
    async for items in stream_visible_events(pool, after, batch, decode=_payload):
        async with conn.transaction():
            await _apply(conn, view, items, tables)
        last = items[-1]
        after = Checkpoint(last.txid, last.position)
        done += len(items)
        if done >= analysed_at:  # plans for the shadow tables' size: 1, 2, 4, 8... batches
            analysed_at *= 2
            await _analyse(conn, tables)
        if progress:
            progress(done, total)
    await _analyse(conn, tables)
    return after, done, last


_INDEX_LEADING = """SELECT i.indexrelid::regclass::text FROM pg_index i
WHERE i.indrelid = $1::regclass
  AND (SELECT array_agg(a.attname::text ORDER BY k.n)
       FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      )[1:cardinality($2::text[])] = $2::text[]
ORDER BY i.indexrelid LIMIT 1"""


async def _cluster(conn: asyncpg.Connection, view: View, tables: dict[str, str]) -> None:
    """Rewrite each shadow table the view names in ``clustered`` in its index's order."""
    for table, columns in getattr(view, "clustered", {}).items():
        index = await conn.fetchval(_INDEX_LEADING, tables[table], list(columns))
        if index is None:
            raise RuntimeError(f"{view.name}: no index of {table} leads with {columns}")
        await conn.execute(f"CLUSTER {tables[table]} USING {index}")
        await conn.execute(f"ANALYZE {tables[table]}")


_SECONDARY = """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i WHERE i.indrelid = $1::regclass AND NOT i.indisunique AND NOT i.indisprimary
ORDER BY i.indexrelid"""


async def _create_shadows(conn: asyncpg.Connection, shadow: dict[str, str]) -> list[str]:
    """Create the empty shadow tables for a bulk fill; return the indexes deferred.

    A shadow is ``UNLOGGED`` while it is filled (no WAL for each row; a crash empties it,
    and a rebuild starts from an empty shadow anyway) and keeps only its primary key and
    unique indexes (what the view's upserts and lookups stand on); its other indexes are
    dropped and built once, after the fill, instead of being maintained row by row."""
    deferred: list[str] = []
    for table, copy in shadow.items():
        await conn.execute(f"DROP TABLE IF EXISTS {copy}")
        await conn.execute(f"CREATE UNLOGGED TABLE {copy} (LIKE {table} INCLUDING ALL)")
        for index in await conn.fetch(_SECONDARY, copy):
            await conn.execute(f"DROP INDEX {index['name']}")
            deferred.append(index["def"])
    return deferred


async def _finish_shadows(
    conn: asyncpg.Connection, view: View, shadow: dict[str, str], deferred: list[str]
) -> None:
    """After the fill: the deferred indexes, the ``CLUSTER``, then logged like the live
    tables (one sequential write of each table to the WAL, which a standby replays)."""
    await conn.execute("SET maintenance_work_mem = '256MB'")
    for definition in deferred:
        await conn.execute(definition)
    await _cluster(conn, view, shadow)
    for copy in shadow.values():
        await conn.execute(f"ALTER TABLE {copy} SET LOGGED")
    await conn.execute("RESET maintenance_work_mem")


async def _analyse(conn: asyncpg.Connection, tables: dict[str, str]) -> None:
    for table in tables.values():
        await conn.execute(f"ANALYZE {table}")


async def _apply_from(
    conn: asyncpg.Connection,
    view: View,
    tables: dict[str, str],
    after: Checkpoint,
    batch: int,
    progress: Progress | None = None,
    done: int = 0,
    total: int = 0,
) -> tuple[Checkpoint, int, Item | None]:
    store = EventStore(conn)
    last: Item | None = None
    while True:
        events = await store.read_all(after, limit=batch)
        if not events:
            return after, done, last
        instants = await visible_instants(conn, (e.txid for e in events))
        items = [Item(e.txid, e.position, e.envelope(_payload), instants[e.txid]) for e in events]
        async with conn.transaction():
            await _apply(conn, view, items, tables)
        after, last = events[-1].checkpoint, items[-1]
        done += len(items)
        if progress:
            progress(done, total)


async def rebuild(
    pool: asyncpg.Pool, view: View, *, batch: int = 5000, progress: Progress | None = None
) -> RebuildResult:
    started = time.monotonic()
    shadow = {t: f"{t}{SHADOW}" for t in view.tables}
    async with pool.acquire() as conn:
        deferred = await _create_shadows(conn, shadow)
        total = await count_events(conn)
        after, done, last = await _load(pool, conn, view, shadow, batch, progress, total)
        await _finish_shadows(conn, view, shadow, deferred)
        async with conn.transaction():
            live: ViewCheckpoint = await lock_checkpoint(conn, view.name)
            after, done, tail = await _apply_from(conn, view, shadow, after, batch, None, done)
            last = tail or last
            reached = (last.txid, last.position) if last else (0, 0)
            if reached < live.key:
                raise RuntimeError(
                    f"the rebuild of {view.name} reached {reached} but the live view is at "
                    f"{live.key}; run it again"
                )
            for table, copy in shadow.items():
                await conn.execute(f"ALTER TABLE {table} RENAME TO {table}{OLD}")
                await conn.execute(f"ALTER TABLE {copy} RENAME TO {table}")
                await conn.execute(f"DROP TABLE {table}{OLD}")
            await conn.execute(
                "UPDATE projection_checkpoints SET events = 0 WHERE view = $1", view.name
            )
            if last is not None:
                await save_checkpoint(conn, view.name, last, done, generation_bump=True)
        if progress:
            progress(done, done)
    return RebuildResult(view.name, done, time.monotonic() - started, reached)
