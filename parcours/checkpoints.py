"""A durable consumer's checkpoint row in ``consumer_checkpoints`` (``parcours.consumer``)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from parcours.deadletters import Parked, parked_query
from parcours.leadership import check_term


async def load_checkpoint(
    conn: asyncpg.Connection, name: str, *, lock: bool = False, term: int | None = None
) -> int:
    """The checkpoint of ``name``; with ``term``, only while that term still leads."""
    await conn.execute(
        "INSERT INTO consumer_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING", name
    )
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT stream_seq, term FROM consumer_checkpoints WHERE name = $1{suffix}", name
    )
    check_term(name, term, row["term"])
    return row["stream_seq"]


async def lock_position(
    conn: asyncpg.Connection,
    name: str,
    consumer: str,
    streams: Sequence[str],
    *,
    term: int | None,
    wait_for_disk: bool,
) -> tuple[int, Parked]:
    """In one round trip: lock ``name``'s checkpoint (checking ``term``), read the streams
    parked for ``consumer`` among ``streams``, and (``wait_for_disk=False``) let this
    transaction commit without waiting for the WAL flush."""
    row = await conn.fetchrow(
        f"""SELECT c.stream_seq, c.term, p.streams, p.behinds, p.positions,
                  set_config('synchronous_commit', $4, true) AS sync
           FROM consumer_checkpoints c,
                LATERAL (SELECT array_agg(q.stream) AS streams, array_agg(q.behind) AS behinds,
                                array_agg(q.position) AS positions
                         FROM ({parked_query("$2", "$3")}) q) p
           WHERE c.name = $1 FOR UPDATE OF c""",
        name,
        consumer,
        list(set(streams)),
        "on" if wait_for_disk else "off",
    )
    if row is None:  # never subscribed (a consumer applied directly): create its row
        await load_checkpoint(conn, name, term=term)
        return await lock_position(
            conn, name, consumer, streams, term=term, wait_for_disk=wait_for_disk
        )
    check_term(name, term, row["term"])
    parked = zip(row["streams"] or (), row["behinds"] or (), row["positions"] or (), strict=True)
    return row["stream_seq"], Parked(parked)
