"""Firing timers: a patient whose stream another writer moves while its timers are being
decided is reloaded and decided again on the newer state (the write path's conflict loop):
the timers fire in the same round, after the other writer's event."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from contracts.events import Actor, NewEvent
from contracts.facts import LabResultReported
from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.clock import VirtualClock
from parcours.eventstore import ANY, EventStore
from parcours.settings import Settings
from pathways.app import create_app, load_catalog
from pathways.scheduler import Scheduler
from pathways.streams import PatientStreams
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving

DISCHARGE = dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 9, 18, tzinfo=dt.UTC))


async def test_a_stream_moved_meanwhile_is_decided_again_and_its_timers_fire(
    virtual: Settings, token
) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    discharge = {
        "type": "DischargeReported",
        "patient": {"ins": synthetic_ins(900), "oid": INS_TEST_OID},
        "admitted_at": iso(DISCHARGE - dt.timedelta(days=5)),
        "discharged_at": iso(DISCHARGE),
        "diagnoses": ["I50.1"],
        "finess": "750712184",
    }
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post("/v1/facts", headers=hospital, json=discharge)
        assert answer.status_code == 201, answer.text
        stream = answer.json()["stream"]
    pool = await asyncpg.create_pool(virtual.database.url, min_size=1, max_size=4)
    try:
        streams = PatientStreams(pool, load_catalog(virtual))
        scheduler = Scheduler(streams, VirtualClock(pool))
        await scheduler.index.catch_up()
        first_at = await pool.fetchval(
            "SELECT min(fire_at) FROM timers WHERE stream = $1 AND fired_at IS NULL", stream
        )
        due = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1 AND fire_at <= $2", stream, first_at
        )
        assert due >= 1
        before = len(await EventStore(pool).read_stream(stream))

        load = streams.load
        moved: list[uuid.UUID] = []

        async def another_writer_meanwhile(writes, conn=None):
            await load(writes, conn)
            if not moved:  # once: right after the scheduler read the stream
                lab = LabResultReported(
                    collected_at=DISCHARGE, loinc="2160-0", value=80.0, unit="umol/L"
                )
                fact = NewEvent(
                    event_id=uuid.uuid4(),
                    data=lab,
                    occurred_at=DISCHARGE,
                    correlation_id="test",
                    actor=Actor(id="LAB-1", role="lab"),
                    cpts="demo",
                )
                await EventStore(pool).append(stream, ANY, [fact])
                moved.append(fact.event_id)

        streams.load = another_writer_meanwhile  # type: ignore[method-assign]
        assert await scheduler.fire_due(first_at) == due
        fired = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1 AND fired_at = $2", stream, first_at
        )
        assert fired == due  # decided again on the newer state, nothing left pending
        stored = await EventStore(pool).read_stream(stream)
        assert stored[before].event_id == moved[0]  # the other writer's event landed first
        assert len(stored) > before + 1  # and the timers' events after it
        assert all(e.correlation_id.startswith("timer:") for e in stored[before + 1 :])
    finally:
        await pool.close()


async def test_the_timer_index_passes_over_facts_it_has_no_use_for_once(
    virtual: Settings, token
) -> None:
    lab = bearer(token("lab", sub="LAB-1"))
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    result = {
        "type": "LabResultReported",
        "patient": {"ins": synthetic_ins(910), "oid": INS_TEST_OID},
        "collected_at": iso(DISCHARGE),
        "loinc": "2160-0",
        "value": 82.0,
        "unit": "umol/L",
    }
    discharge = {
        "type": "DischargeReported",
        "patient": {"ins": synthetic_ins(911), "oid": INS_TEST_OID},
        "admitted_at": iso(DISCHARGE - dt.timedelta(days=5)),
        "discharged_at": iso(DISCHARGE),
        "diagnoses": ["I50.1"],
        "finess": "750712184",
    }
    pool = await asyncpg.create_pool(virtual.database.url, min_size=1, max_size=4)
    try:
        index = Scheduler(PatientStreams(pool, load_catalog(virtual)), VirtualClock(pool)).index
        async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
            for _ in range(3):
                assert (await api.post("/v1/facts", headers=lab, json=result)).status_code == 201
        await index.catch_up()
        behind = await pool.fetchval(
            """SELECT count(*) FROM events e, store_checkpoints c
               WHERE c.name = 'pathways-timers' AND (e.txid, e.position) > (c.txid, c.position)"""
        )
        assert behind == 0  # the lab results are behind the checkpoint: not read again

        async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
            answer = await api.post("/v1/facts", headers=hospital, json=discharge)
            assert answer.status_code == 201, answer.text
        await index.catch_up()
        timers = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1", answer.json()["stream"]
        )
        assert timers >= 19  # every task of the new enrolment has its overdue timer
    finally:
        await pool.close()
