"""Running the views: live from NATS, with checkpoints in event-store order.

Checkpoints. Each view stores in ``projection_checkpoints`` the event-store
checkpoint ``(txid, position)`` of the last event it applied, in the same
transaction as its rows. The relay publishes events in exactly the event
store's ``read_all`` order (``ORDER BY txid, position``), so NATS delivers them
in that order too; a view applies an event only when its ``(txid, position)``
is past the checkpoint. The txid is not on the wire: it is looked up by event id
in the event store (``places_of_events``: one indexed query per batch).

Why not the NATS sequence (which ``EventConsumer`` also records, and still uses
to drop plain redeliveries): a rebuild reads the event store, not NATS, so the
only position a rebuilt table and the live consumer share is the event store's.
After a swap the view's checkpoint is the store position the rebuild reached;
the live consumer then skips what the rebuild already applied and applies the
rest (see ``projections.rebuild``). An event the relay published twice (after a
crash, beyond JetStream's de-duplication window) is skipped the same way.

The views of a batch are applied at the same time (``apply_views``): the first in the
consumer's transaction, each other one in a transaction of its own, on a connection of
its own, its rows with its checkpoint; while one waits for PostgreSQL, Python builds
another's rows. A batch whose consumer transaction then fails comes again, and a view
that had committed it skips it by its checkpoint.

No event stops a view. Each view applies a batch through
``parcours.isolation.apply_isolated`` under its own dead-letter name
(``projections-timeline``, ``projections-care``, ``projections-indicators``): an
event one view cannot handle is dead-lettered for that view only, its patient's
stream parked there (the patient's later events wait, in order: parking keeps a
patient's versions and indicator evidence right once replayed), and the other
views and patients go on. A replayed event (a relay replay, or ``parcours
dead-letters replay projections-…``) is applied behind the view's checkpoint
(``apply_late``): it was never applied, which is why it is replayed.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Coroutine, Sequence
from typing import Any

import asyncpg
import msgspec
import structlog

from contracts.events import Envelope
from parcours.consumer import Delivery, EventConsumer
from parcours.eventstore import EventPlaces, StoredEvent, places_of_events
from parcours.isolation import apply_isolated
from parcours.service import Resources
from projections.views import Item, View

log = structlog.get_logger("projections.runner")


class ViewCheckpoint(msgspec.Struct, frozen=True):
    txid: int = 0
    position: int = 0
    events: int = 0
    generation: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.txid, self.position)


async def lock_checkpoint(conn: asyncpg.Connection, view: str) -> ViewCheckpoint:
    await conn.execute(
        "INSERT INTO projection_checkpoints (view) VALUES ($1) ON CONFLICT DO NOTHING", view
    )
    row = await conn.fetchrow(
        "SELECT txid, position, events, generation FROM projection_checkpoints "
        "WHERE view = $1 FOR UPDATE",
        view,
    )
    return ViewCheckpoint(**dict(row))


async def save_checkpoint(
    conn: asyncpg.Connection, view: str, last: Item, applied: int, *, generation_bump: bool = False
) -> None:
    await conn.execute(
        """UPDATE projection_checkpoints
           SET txid = $2, position = $3, events = events + $4, updated_at = now(),
               generation = generation + $5::int,
               rebuilt_at = CASE WHEN $5::int > 0 THEN now() ELSE rebuilt_at END
           WHERE view = $1""",
        view,
        last.txid,
        last.position,
        applied,
        int(generation_bump),
    )


def in_store_order(envelopes: Sequence[Envelope], placed: EventPlaces) -> list[Item]:
    """The batch's events as items, each past the ones before it in the event store's
    order (an event the relay published twice comes once), built once for every view."""
    items: list[Item] = []
    seen = (0, 0)
    for env in envelopes:
        place = placed.places.get((env.cpts, env.event_id))
        if place is None:
            log.error("event not in the event store, skipped", event_id=str(env.event_id))
            continue
        if place > seen:
            items.append(Item(place[0], place[1], env, placed.instants[place[0]]))
            seen = place
    return items


def _place(item: Item) -> tuple[int, int]:
    return (item.txid, item.position)


async def apply_live(conn: asyncpg.Connection, view: View, items: Sequence[Item]) -> int:
    """Apply, inside the caller's transaction, the items (``in_store_order``) past the
    view's checkpoint."""
    checkpoint = await lock_checkpoint(conn, view.name)
    fresh = items[bisect.bisect_right(items, checkpoint.key, key=_place) :]
    if fresh:
        await view.apply(conn, fresh, {t: t for t in view.tables})
        await save_checkpoint(conn, view.name, fresh[-1], len(fresh))
    return len(fresh)


async def apply_late(conn: asyncpg.Connection, view: View, items: Sequence[Item]) -> None:
    """Apply events behind the view's checkpoint (replays): no position check, no move."""
    if items:
        await view.apply(conn, items, {t: t for t in view.tables})


def _items(envelopes: Sequence[Envelope], placed: EventPlaces) -> list[Item]:
    return [
        Item(p[0], p[1], env, placed.instants[p[0]])
        for env in envelopes
        if (p := placed.places.get((env.cpts, env.event_id))) is not None
    ]


def _envelope(item: Item) -> Envelope:
    return item.envelope


async def apply_views(
    conn: asyncpg.Connection,
    views: Sequence[View],
    deliveries: Sequence[Delivery],
    pool: asyncpg.Pool | None = None,
) -> None:
    """Apply a batch to every view: the first in ``conn``'s transaction, each other one,
    when a ``pool`` is given, in a transaction of its own on a connection of its own, at
    the same time (while one view waits for PostgreSQL, Python builds another's rows).

    Each view's rows and checkpoint commit together, so a view that committed skips
    the batch when it comes again (its events are at or behind its checkpoint): the
    caller's transaction (the consumer's stream checkpoint) may fail after another
    view committed, and nothing is applied twice."""
    envelopes = [d.envelope for d in deliveries]
    placed = await places_of_events(conn, [(e.cpts, e.event_id) for e in envelopes])
    live = in_store_order([d.envelope for d in deliveries if not d.replayed], placed)
    late = _items([d.envelope for d in deliveries if d.replayed], placed)

    async def one(c: asyncpg.Connection, view: View) -> None:
        name = f"projections-{view.name}"

        async def live_batch(c: asyncpg.Connection, items: Sequence[Item]) -> None:
            await apply_live(c, view, items)

        async def late_batch(c: asyncpg.Connection, items: Sequence[Item]) -> None:
            await apply_late(c, view, items)

        if live:
            await apply_isolated(c, name, live, live_batch, _envelope)
        if late:
            await apply_isolated(c, name, late, late_batch, _envelope)

    if pool is None or len(views) < 2:
        for view in views:
            await one(conn, view)
        return

    async def on_its_own(view: View) -> None:
        async with pool.acquire() as c, c.transaction():
            await one(c, view)

    await all_or_none([one(conn, views[0]), *(on_its_own(v) for v in views[1:])])


async def all_or_none(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run the coroutines together; on the first failure cancel the others, wait for
    them, and raise that failure itself (not an ``ExceptionGroup``: the consumer tells
    an outage from a poison event by the exception's type)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def replayer(resources: Resources, consumer: str):  # type: ignore[no-untyped-def]
    """``parcours dead-letters replay projections[-<view>]``: apply the events behind."""
    from projections.app import load_catalog
    from projections.views import build_views

    views = build_views(resources.settings.auth.pseudonym_secret, load_catalog(resources.settings))
    name = consumer.removeprefix("projections").removeprefix("-")
    chosen = [views[name]] if name else list(views.values())

    async def replay(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        envelopes = [e.envelope() for e in events]
        placed = await places_of_events(conn, [(e.cpts, e.event_id) for e in envelopes])
        items = _items(envelopes, placed)
        for view in chosen:
            await apply_late(conn, view, items)

    return replay


def consumer_for(
    resources: Resources, views: Sequence[View] | View, *, batch: int = 5000
) -> EventConsumer:
    views = [views] if not isinstance(views, Sequence) else list(views)

    async def handle(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        await apply_views(conn, views, deliveries, resources.pool)

    name = "-".join(v.name for v in views) if len(views) < 3 else "views"
    # one durable consumer feeds every view: each message is fetched and decoded once
    # (the NATS client's cost per message dominates catch-up), one ack per batch
    return EventConsumer(
        name=f"{resources.subjects.prefix}-projections-{name}",
        pool=resources.pool,
        js=resources.js,
        stream=resources.subjects.events_stream,
        handler=handle,
        batch=batch,
        ack_all=True,
        dead_letter_name="projections",  # what no view could even decode
        roles=resources.roles,  # leader or standby, in /health/ready
    )


async def run_views(resources: Resources, views: Sequence[View], stop: asyncio.Event) -> None:
    await consumer_for(resources, views).run(stop)
