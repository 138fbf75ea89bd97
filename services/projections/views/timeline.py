"""The timeline view: one row per patient event (see ``projections.timeline``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from projections.timeline import insert_timeline_rows, timeline_row
from projections.views import Item


class TimelineView:
    name = "timeline"
    tables = ("timeline",)
    # a rebuilt timeline is stored patient by patient (one patient's rows on a few pages)
    clustered = {"timeline": ("cpts", "patient_id")}

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None:
        rows = [r for i in items if (r := timeline_row(i.envelope)) is not None]
        await insert_timeline_rows(conn, rows, tables["timeline"])
