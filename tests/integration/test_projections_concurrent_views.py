"""The views of a batch are applied at the same time, each in a transaction of its own
(``projections.runner.apply_views`` with a pool): a batch whose consumer transaction
fails after some views committed is applied again, and every view holds it once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from parcours.consumer import Delivery
from parcours.eventstore import Checkpoint, EventStore
from projections.app import load_catalog
from projections.rebuild import rebuild
from projections.runner import all_or_none, apply_views
from projections.views import build_views
from tests.integration.test_projections_helpers import flush
from tests.integration.test_projections_hf import cohort
from tests.integration.test_projections_rebuild import TOTALS, TOTALS_OF_CASES, snapshot

VIEWS = ("timeline", "care", "indicators")


class _ConsumerFailed(Exception):
    """The consumer's own transaction fails after the views on their own committed."""


async def _checkpoints(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT view, events FROM projection_checkpoints")
    return {r["view"]: r["events"] for r in rows}


async def test_a_batch_failed_after_some_views_committed_is_applied_once(settings):
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=6)
    try:
        await flush(pool, *cohort(cpts="concurrent").values())
        stored = await EventStore(pool).read_all(Checkpoint(), limit=100_000)
        deliveries = [Delivery(i, e.envelope()) for i, e in enumerate(stored, 1)]
        views = build_views(settings.auth.pseudonym_secret, load_catalog(settings))
        chosen = [views[name] for name in VIEWS]

        async with pool.acquire() as conn:
            with pytest.raises(_ConsumerFailed):
                async with conn.transaction():
                    await apply_views(conn, chosen, deliveries, pool)
                    raise _ConsumerFailed
            # the first view was in the consumer's transaction: rolled back with it; the
            # others committed on their own connections
            assert await _checkpoints(pool) == {"care": len(stored), "indicators": len(stored)}

            async with conn.transaction():  # the batch again, as the consumer retries it
                await apply_views(conn, chosen, deliveries, pool)
        assert await _checkpoints(pool) == dict.fromkeys(VIEWS, len(stored))

        live = await snapshot(pool)
        assert live["timeline"] and live["proj_tasks"] and live["proj_indicator_cases"]
        assert await pool.fetch(TOTALS_OF_CASES) == await pool.fetch(TOTALS)
        for name in VIEWS:  # each event applied once: the views equal their rebuild
            await rebuild(pool, views[name])
        rebuilt = await snapshot(pool)
        assert {t: rows for t, rows in rebuilt.items()} == live
    finally:
        await pool.close()


async def test_the_first_failure_cancels_the_other_views_and_is_raised_as_it_is():
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def outage() -> None:
        await asyncio.sleep(0)
        raise asyncpg.CannotConnectNowError("PostgreSQL is starting")

    # the consumer retries an outage by its type: an ExceptionGroup would stop the worker
    with pytest.raises(asyncpg.CannotConnectNowError):
        await asyncio.wait_for(all_or_none([slow(), outage()]), 5)
    assert cancelled.is_set()  # not left running while the batch is retried
