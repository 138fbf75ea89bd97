"""The consumer decodes the next batch while one is applied, but applies a batch only
once the one before is committed: batches never overlap, and a batch whose apply
fails is applied again before anything after it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from parcours.consumer import Delivery
from parcours.eventstore import ANY, EventStore
from parcours.settings import Settings
from tests.integration.conftest import eventually
from tests.integration.test_relay import (
    event,
    pool,
    record_seen,
    seen_through_marker,
    start_pipeline,
)

__all__ = ["pool"]  # the fixture, shared with the relay's tests


async def test_batches_are_applied_one_after_the_other_in_commit_order(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    store, stop = EventStore(pool), asyncio.Event()
    applying, overlaps, batches, failed_once = 0, 0, 0, False

    async def slow_handler(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        nonlocal applying, overlaps, batches, failed_once
        applying += 1
        overlaps += applying > 1
        try:
            await asyncio.sleep(0.02)  # long enough for the next batch to be there, decoded
            batches += 1
            if batches == 3 and not failed_once:  # an outage in the middle of the run
                failed_once = True
                raise asyncpg.CannotConnectNowError("PostgreSQL is starting")
            await record_seen(conn, deliveries)
        finally:
            applying -= 1

    ids = []
    async with pool.acquire() as conn, conn.transaction():  # one commit: many batches
        for i in range(120):
            e = event(i)
            ids.append(e.event_id)
            await store.append(f"patient-{i % 7}", ANY, [e], conn=conn)
    _, _, tasks, conns = await start_pipeline(
        settings, pool, stop, slow_handler, batch=10, name="test-pipelined"
    )
    try:
        await eventually(lambda: pool.fetchval("SELECT count(*) >= 120 FROM seen"), timeout=60)
        assert await seen_through_marker(store, pool) == ids  # each once, in commit order
        assert failed_once and batches >= 12
        assert overlaps == 0
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for nc in conns:
            await nc.close()
