"""Helpers for the projections tests (no tests here): ``flush`` appends what patients'
engine stories (``tests.engine_story``) wrote to the event store, and a harness runs the
relay and the projections service until every view has caught up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from contracts.subjects import Subjects
from parcours import natsio
from parcours.eventstore import ANY, EventStore
from parcours.settings import Settings
from pathways.relay import Relay
from projections.app import create_app
from projections.cli import VIEWS
from tests.engine_story import Played

FINESS = "750712184"


async def flush(pool: asyncpg.Pool, *patients: Played) -> None:
    """Append what each patient's engine story wrote since the last flush."""
    store = EventStore(pool)
    for p in patients:
        if events := p.take():
            await store.append(p.stream, ANY, events)


async def views_caught_up(pool: asyncpg.Pool, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until every view has applied every event committed so far.

    The target is the last committed event, not the event store's head: the head stops
    below the oldest transaction still open anywhere, so while some other transaction is
    open it can lag behind events already committed (and answered 201), and waiting for
    it alone let a test read the views before they applied such an event."""
    last = await pool.fetchrow(
        "SELECT txid::text::bigint AS txid, position FROM events "
        "ORDER BY txid DESC, position DESC LIMIT 1"
    )
    target = (last["txid"], last["position"]) if last else (0, 0)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await pool.fetch("SELECT view, txid, position FROM projection_checkpoints")
        at = {r["view"]: (r["txid"], r["position"]) for r in rows}
        if len(at) == len(VIEWS) and all(v >= target for v in at.values()):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"views did not catch up: last event {target}, views {at}")
        await asyncio.sleep(0.05)


class Harness:
    """The relay and the projections service, running; ``settle`` waits for the views."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, client: AsyncTestClient) -> None:
        self.settings, self.pool, self.client = settings, pool, client

    async def settle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await views_caught_up(self.pool, timeout)

    async def get(self, path: str, token: str, **params: Any) -> Any:
        r = await self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json() if "json" in r.headers.get("content-type", "") else r.text


@contextlib.asynccontextmanager
async def running(settings: Settings, **app_options: Any) -> AsyncIterator[Harness]:
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=5)
    nc = await natsio.connect(settings, "projections-test-relay")
    await natsio.provision(nc.jetstream(), settings)
    relay = Relay(
        pool=pool,
        nc=nc,
        subjects=Subjects(settings.nats.prefix),
        database_url=settings.database.url,
        poll_interval=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        async with AsyncTestClient(app=create_app(settings, **app_options), timeout=30) as client:
            yield Harness(settings, pool, client)
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await nc.drain()
        await pool.close()
