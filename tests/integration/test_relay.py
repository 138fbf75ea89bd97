"""The relay: committed events reach NATS in order, and survive a NATS outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from contracts.subjects import Subjects
from parcours import natsio
from parcours.consumer import Delivery, EventConsumer
from parcours.eventstore import ANY, EventStore
from parcours.settings import Settings
from pathways.relay import Relay
from tests.integration.conftest import eventually
from tests.integration.test_event_store import event


@pytest.fixture
async def pool(migrated_url: str):
    pool = await asyncpg.create_pool(migrated_url, min_size=1, max_size=8)
    await pool.execute(
        """TRUNCATE events; DELETE FROM store_checkpoints; DELETE FROM consumer_checkpoints;
           CREATE TABLE IF NOT EXISTS seen (n serial PRIMARY KEY, event_id uuid NOT NULL,
                                            stream text, version int);
           TRUNCATE seen"""
    )
    yield pool
    await pool.close()


async def record_seen(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    await conn.executemany(
        "INSERT INTO seen (event_id, stream, version) VALUES ($1, $2, $3)",
        [(d.envelope.event_id, d.envelope.stream, d.envelope.version) for d in deliveries],
    )


async def seen_through_marker(store: EventStore, pool: asyncpg.Pool) -> list[uuid.UUID]:
    """Everything the consumer saw, read once a marker appended last has arrived: a late
    duplicate of an earlier event would have arrived before it (one ordered stream)."""
    marker = event(999)
    await store.append(f"patient-{uuid.uuid4()}", ANY, [marker])
    await eventually(
        lambda: pool.fetchval("SELECT count(*) > 0 FROM seen WHERE event_id = $1", marker.event_id),
        timeout=30,
    )
    seen = [r["event_id"] for r in await pool.fetch("SELECT event_id FROM seen ORDER BY n")]
    assert seen[-1] == marker.event_id, "something arrived after the marker"
    return seen[:-1]


async def start_pipeline(
    settings: Settings,
    pool: asyncpg.Pool,
    stop: asyncio.Event,
    handler=record_seen,  # type: ignore[no-untyped-def]
    batch: int = 50,
    name: str = "test-seen",
):
    relay_nc = await natsio.connect(settings, "test-relay")
    consumer_nc = await natsio.connect(settings, "test-consumer")
    await natsio.provision(relay_nc.jetstream(), settings)
    subjects = Subjects(settings.nats.prefix)
    relay = Relay(pool=pool, nc=relay_nc, subjects=subjects, database_url=settings.database.url)
    consumer = EventConsumer(
        name=name,
        pool=pool,
        js=consumer_nc.jetstream(),
        stream=subjects.events_stream,
        handler=handler,
        batch=batch,
    )
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    return relay, consumer, tasks, [relay_nc, consumer_nc]


async def test_events_reach_a_checkpointing_consumer_once_in_commit_order(
    settings: Settings, pool
) -> None:
    store = EventStore(pool)
    stop = asyncio.Event()
    relay, consumer, tasks, conns = await start_pipeline(settings, pool, stop)
    try:
        ids = []
        for i in range(20):
            e = event(i)
            ids.append(e.event_id)
            await store.append(f"patient-{i % 3}", ANY, [e])
        await eventually(lambda: pool.fetchval("SELECT count(*) >= 20 FROM seen"))
        assert await seen_through_marker(store, pool) == ids
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for nc in conns:
            await nc.close()


async def test_nats_outage_loses_nothing_and_duplicates_nothing(
    settings: Settings, pool, nats_factory
) -> None:
    nats = nats_factory()
    private = settings.replace(nats_url=nats.url)
    store = EventStore(pool)
    stop = asyncio.Event()
    relay, consumer, tasks, conns = await start_pipeline(private, pool, stop)
    try:
        written: list[uuid.UUID] = []

        async def append(n: int) -> None:
            for _ in range(n):
                e = event(len(written))
                await store.append(f"patient-{uuid.uuid4()}", ANY, [e])
                written.append(e.event_id)

        await append(30)
        await eventually(lambda: pool.fetchval("SELECT count(*) = 30 FROM seen"))
        nats.stop()
        await append(40)  # ingestion keeps accepting while NATS is down
        assert await pool.fetchval("SELECT count(*) FROM events") == 70
        await asyncio.sleep(1.0)
        nats.start()  # same port, same JetStream storage
        await append(30)
        await eventually(lambda: pool.fetchval("SELECT count(*) >= 100 FROM seen"), timeout=30)
        seen = await seen_through_marker(store, pool)
        assert seen == written  # every event, once, in commit order
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for nc in conns:
            await nc.close()
