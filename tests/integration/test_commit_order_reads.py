"""The reads in commit order follow the index ``events_txid_position``: none sorts the
events. Their output names ``txid`` a bigint (``txid::text::bigint AS txid``), and an
``ORDER BY txid`` would name that output, not the column: PostgreSQL then sorts every
event before the first row (the rebuild's read timed out that way at 100,000
enrolments: 5.1M rows sorted on disk before the first page)."""

from __future__ import annotations

import asyncpg
import pytest

from parcours.eventstore.ordered import _READ_BELOW
from parcours.eventstore.visible import _READ_VISIBLE

READS = {
    "rebuild (stream_visible_events)": (_READ_VISIBLE, ("0", 0)),
    "typed readers (read_below)": (_READ_BELOW, ("0", 0, 500, ["TaskScheduled"], "999999")),
}


@pytest.mark.parametrize("name", list(READS))
async def test_a_commit_order_read_does_not_sort_the_events(migrated_url: str, name: str) -> None:
    sql, args = READS[name]
    conn = await asyncpg.connect(migrated_url)
    try:
        # an empty table would be scanned whole: the index is what the plan must be able
        # to follow, so scanning and sorting are made as costly as PostgreSQL allows
        await conn.execute("SET enable_seqscan = off; SET enable_sort = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
    finally:
        await conn.close()
    assert "events_txid_position" in plan, plan
    assert "Sort" not in plan, plan
