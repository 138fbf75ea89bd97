"""Crashes and outages under a steady load of posted facts.

For each fault — kill -9 of each service and of the relay, NATS stopped, PostgreSQL stopped —
every acknowledged fact is in the event store exactly once, every event reaches
the projections exactly once, and ingestion answers 503 (not a hang, not a 500)
while PostgreSQL is down. ``PARCOURS_FAULTS=long`` (``make test-faults``) holds
each outage for 10 s; the short form in ``make test`` holds it for 2 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import asyncpg
import httpx

from tests.faults.load import Ledger, steady_load
from tests.integration.conftest import eventually
from tests.system.conftest import System

LONG = os.environ.get("PARCOURS_FAULTS") == "long"
OUTAGE = 10.0 if LONG else 2.0
RATE = 40.0


async def _now(system: System) -> dt.datetime:
    admin = system.token("admin")
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            system.url("pathways") + "/v1/admin/clock", headers={"Authorization": f"Bearer {admin}"}
        )
    return dt.datetime.fromisoformat(answer.json()["now"])


async def _restart(system: System, service: str) -> None:
    await asyncio.to_thread(system.start, service)


async def test_nothing_acknowledged_is_lost_through_crashes_and_outages(system: System) -> None:
    ledger = Ledger()
    stop = asyncio.Event()
    at = await _now(system)
    load = asyncio.create_task(
        steady_load(
            system.url("pathways"), system.token("discharge-system"), at, stop, RATE, ledger
        )
    )
    try:
        await asyncio.sleep(1.5)
        for service in ("pathways", "relay", "projections", "notifications"):
            ledger.phase = f"kill {service}"
            system.kill(service)  # kill -9
            await asyncio.sleep(OUTAGE / 2)
            await _restart(system, service)
            await asyncio.sleep(1.0)

        ledger.phase = "nats down"
        system.nats.stop()  # NATS away: ingestion keeps accepting
        before = len(ledger.acknowledged)
        await asyncio.sleep(OUTAGE)
        assert len(ledger.acknowledged) > before, "ingestion must not wait for NATS"
        await asyncio.to_thread(system.nats.start)
        await asyncio.sleep(1.0)

        ledger.phase = "postgresql down"
        system.pg.stop()  # PostgreSQL away: 503 at once, nothing half-written
        before_503 = ledger.statuses.get(503, 0)
        await asyncio.sleep(OUTAGE)
        assert ledger.statuses.get(503, 0) > before_503, ledger.statuses
        await asyncio.to_thread(system.pg.start)
        ledger.phase = "postgresql back"
        await asyncio.sleep(2.0)
    finally:
        stop.set()
        await load

    print(
        f"acknowledged {len(ledger.acknowledged)}, statuses {ledger.statuses}, no answer {ledger.errors}"
    )
    assert ledger.acknowledged, "the load acknowledged nothing"
    assert not ledger.slow, f"answers took > 2 s: {ledger.slow[:5]}"
    assert set(ledger.statuses) <= {200, 201, 503}, ledger.statuses
    conn = await asyncpg.connect(system.settings.database.url)
    try:
        stored = await conn.fetch(
            "SELECT event_id, count(*) AS n FROM events WHERE event_id = ANY($1::uuid[]) GROUP BY 1",
            list(ledger.acknowledged),
        )
        assert {r["event_id"] for r in stored} == ledger.acknowledged  # every one is there
        assert all(r["n"] == 1 for r in stored)  # exactly once

        # every event reaches the timeline projection exactly once
        async def projected() -> bool:
            events = await conn.fetchval(
                "SELECT count(*) FROM events WHERE stream LIKE 'patient-%'"
            )
            rows = await conn.fetchval("SELECT count(*) FROM timeline")
            return events == rows

        try:
            await eventually(projected, timeout=60)
        except AssertionError:
            events = await conn.fetchval(
                "SELECT count(*) FROM events WHERE stream LIKE 'patient-%'"
            )
            rows = await conn.fetchval("SELECT count(*) FROM timeline")
            checkpoints = await conn.fetch("SELECT * FROM consumer_checkpoints")
            relay = await conn.fetch("SELECT * FROM store_checkpoints")
            tail = "\n".join(system.log_text().splitlines()[-40:])
            raise AssertionError(
                f"{events} events, {rows} projected; {checkpoints}; {relay}\n{tail}"
            ) from None
        missing = await conn.fetchval(
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM timeline t WHERE t.event_id = e.event_id)"
        )
        assert missing == 0
    finally:
        await conn.close()
