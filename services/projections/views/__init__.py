"""The read models of the projections service, each a ``View``: a name, its tables, and
``apply(conn, items, tables)`` that writes a batch of events into those tables (the
live ones, or the shadow copies of a rebuild). Views are built by ``build_views``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import asyncpg

from parcours.eventstore import VisibleEvent

# An event with its place in the event store's commit order and ``visible_at``, the
# latest ``recorded_at`` of its transaction: the events of one transaction become
# visible together, so every version they produce is valid from that instant (the same
# whichever batches they came in). The event store reads them in this shape.
Item = VisibleEvent


class View(Protocol):
    """``clustered`` (optional, read by the rebuild): per table, the leading columns of
    the index a rebuilt table is stored in the order of (``projections.rebuild``)."""

    name: str
    tables: tuple[str, ...]

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None: ...


def build_views(secret: str, catalog) -> dict[str, View]:  # type: ignore[no-untyped-def]
    from projections.views.access import AccessView
    from projections.views.care import CareView
    from projections.views.cases import CasesView
    from projections.views.circle import CircleView
    from projections.views.timeline import TimelineView

    views: list[View] = [
        TimelineView(),
        CareView(secret),
        CasesView(secret, catalog),
        CircleView(),
        AccessView(secret),
    ]
    return {v.name: v for v in views}
