"""The read models of the projections service, each a ``View``: a name, its tables, and
``apply(conn, items, tables)`` that writes a batch of events into those tables (the
live ones, or the shadow copies of a rebuild). Views are built by ``build_views``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

import asyncpg

from contracts.events import Envelope


class Item(NamedTuple):
    """An event with its place in the event store's commit order.

    ``visible_at`` is the latest ``recorded_at`` of the event's transaction: the
    events of one transaction become visible together, so every version they
    produce is valid from that instant (the same whichever batches they came in).
    """

    txid: int
    position: int
    envelope: Envelope
    visible_at: dt.datetime


async def visible_instants(
    conn: asyncpg.Connection, txids: Iterable[int]
) -> dict[int, dt.datetime]:
    rows = await conn.fetch(
        "SELECT txid::text::bigint AS txid, max(recorded_at) AS at FROM events "
        "WHERE txid = ANY($1::text[]::xid8[]) GROUP BY txid",
        [str(t) for t in set(txids)],
    )
    return {r["txid"]: r["at"] for r in rows}


class View(Protocol):
    name: str
    tables: tuple[str, ...]

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None: ...


def build_views(secret: str, catalog) -> dict[str, View]:  # type: ignore[no-untyped-def]
    from projections.views.care import CareView
    from projections.views.cases import CasesView
    from projections.views.timeline import TimelineView

    views: list[View] = [TimelineView(), CareView(secret), CasesView(secret, catalog)]
    return {v.name: v for v in views}
