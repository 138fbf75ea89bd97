"""Firing timers: a patient whose stream another writer moves while its timers are being
decided keeps them pending, and they fire at the next round on the newer state."""

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
from pathways.decider import PathwayDecider
from pathways.scheduler import Scheduler
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving

DISCHARGE = dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 9, 18, tzinfo=dt.UTC))


async def test_a_stream_moved_meanwhile_keeps_its_timers_for_the_next_round(
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
    pool = await asyncpg.create_pool(virtual.database_url, min_size=1, max_size=4)
    try:
        scheduler = Scheduler(pool, PathwayDecider(load_catalog(virtual)), VirtualClock(pool))
        await scheduler.index.catch_up()
        first_at = await pool.fetchval(
            "SELECT min(fire_at) FROM timers WHERE stream = $1 AND fired_at IS NULL", stream
        )
        due = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1 AND fire_at <= $2", stream, first_at
        )
        assert due >= 1

        read_states = scheduler._states_of

        async def another_writer_meanwhile(c: asyncpg.Connection, streams: list[str]):
            states = await read_states(c, streams)
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
            return states

        scheduler._states_of = another_writer_meanwhile  # type: ignore[method-assign]
        assert await scheduler.fire_due(first_at) == due
        pending = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1 AND fire_at <= $2 AND fired_at IS NULL",
            stream,
            first_at,
        )
        assert pending == due  # nothing fired, nothing lost

        scheduler._states_of = read_states  # type: ignore[method-assign]
        assert await scheduler.fire_due(first_at) == due
        fired = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1 AND fired_at = $2", stream, first_at
        )
        assert fired == due
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
    pool = await asyncpg.create_pool(virtual.database_url, min_size=1, max_size=4)
    try:
        index = Scheduler(pool, PathwayDecider(load_catalog(virtual)), VirtualClock(pool)).index
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
