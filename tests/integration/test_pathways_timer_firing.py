"""Firing timers: a patient whose stream another writer moves while its timers are being
decided is reloaded and decided again on the newer state (the write path's conflict loop):
the timers fire in the same round, after the other writer's event."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import asyncpg
import pytest

from contracts.events import Actor, NewEvent
from contracts.facts import LabResultReported
from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.clock import VirtualClock
from parcours.deadletters import replay
from parcours.eventstore import ANY, EventStore
from parcours.settings import Settings
from pathways.app import create_app, load_catalog
from pathways.scheduler import Scheduler
from pathways.streams import PatientStreams
from pathways.timer_index import CHECKPOINT, index_replayer
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.hf_facts import discharge
from tests.integration.test_poison import Bad, sample, store

DISCHARGE = dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC)


async def discharged(settings: Settings, token, n: int) -> str:  # type: ignore[no-untyped-def]
    """Patient ``n`` discharged after heart failure (enrolled, tasks with timers): its stream."""
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    async with serving(create_app(settings, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post("/v1/facts", headers=hospital, json=discharge(n))
        assert answer.status_code == 201, answer.text
        return answer.json()["stream"]


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 9, 18, tzinfo=dt.UTC))


async def test_a_stream_moved_meanwhile_is_decided_again_and_its_timers_fire(
    virtual: Settings, token
) -> None:
    stream = await discharged(virtual, token, 900)
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
    result = {
        "type": "LabResultReported",
        "patient": {"ins": synthetic_ins(910), "oid": INS_TEST_OID},
        "collected_at": iso(DISCHARGE),
        "loinc": "2160-0",
        "value": 82.0,
        "unit": "umol/L",
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

        stream = await discharged(virtual, token, 911)
        await index.catch_up()
        timers = await pool.fetchval("SELECT count(*) FROM timers WHERE stream = $1", stream)
        assert timers >= 19  # every task of the new enrolment has its overdue timer
    finally:
        await pool.close()


async def test_a_stream_the_scheduler_cannot_fold_or_decide_is_parked_the_others_fire(
    virtual: Settings, token
) -> None:
    """A patient whose stored events cannot be folded, and one whose timers cannot be
    decided (its protocol is not in the catalog), are dead-lettered as ``pathways-timers``
    and parked in the round that meets them: their timers stay pending and are not claimed
    again, while another patient's timers of the same round fire. After a fix, a replay
    of the letter lets the fixed patient's timers fire; the other stays parked."""
    healthy = await discharged(virtual, token, 920)
    enrolment = sample("PatientEnrolled", protocol="no-such-protocol")
    due = "2026-03-08T14:00:00Z"  # before the discharge: due in the first round
    conn = await asyncpg.connect(virtual.database.url)
    pool = await asyncpg.create_pool(virtual.database.url, min_size=1, max_size=4)
    try:
        bad_lab = {"type": "LabResultReported", "loinc": {"not": "this"}}
        written = await store(
            conn,
            [
                Bad("TaskScheduled", sample("TaskScheduled", due=due), frozenset(), cpts="demo"),
                Bad("LabResultReported", bad_lab, frozenset(), cpts="demo", follows=True),
            ],
        )
        [(_, _), (lab_id, _)] = written
        unfoldable = await conn.fetchval("SELECT stream FROM events WHERE event_id = $1", lab_id)
        task = sample("TaskScheduled", due=due, enrolment_id=enrolment["enrolment_id"])
        [(_, _), (task_id, _)] = await store(
            conn,
            [
                Bad("PatientEnrolled", enrolment, frozenset(), cpts="demo"),
                Bad("TaskScheduled", task, frozenset(), cpts="demo", follows=True),
            ],
        )
        undecidable = await conn.fetchval("SELECT stream FROM events WHERE event_id = $1", task_id)
        scheduler = Scheduler(PatientStreams(pool, load_catalog(virtual)), VirtualClock(pool))
        await scheduler.index.catch_up()
        first_at = await pool.fetchval(
            "SELECT min(fire_at) FROM timers WHERE stream = $1 AND fired_at IS NULL", healthy
        )

        async def pending(stream: str) -> int:
            return await pool.fetchval(
                "SELECT count(*) FROM timers WHERE stream = $1 AND fired_at IS NULL", stream
            )

        still = await pending(undecidable)
        parked_timers = await pending(unfoldable) + still
        assert parked_timers >= 2  # at least each task's overdue timer, due before first_at
        healthy_due = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1 AND fire_at <= $2", healthy, first_at
        )
        due_now = await pool.fetchval(
            "SELECT count(*) FROM timers WHERE fired_at IS NULL AND fire_at <= $1", first_at
        )
        assert due_now >= healthy_due + parked_timers
        assert await scheduler.fire_due(first_at) == due_now  # all taken in one round
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM timers WHERE stream = $1 AND fired_at = $2", healthy, first_at
            )
            == healthy_due
        )  # the other patient's timers fired in the same round
        letters = await pool.fetch(
            "SELECT stream, event_id, reason FROM dead_letters WHERE consumer = $1 "
            "AND replayed_at IS NULL AND stream = ANY($2::text[]) ORDER BY stream",
            CHECKPOINT,
            [unfoldable, undecidable],
        )
        by_stream = {r["stream"]: r for r in letters}
        assert len(letters) == 2
        assert by_stream[unfoldable]["event_id"] == lab_id  # the event it could not fold
        assert "ValidationError" in by_stream[unfoldable]["reason"]
        assert by_stream[undecidable]["event_id"] == task_id  # its last event
        assert "UnknownProtocolError" in by_stream[undecidable]["reason"]
        assert await pending(unfoldable) + await pending(undecidable) == parked_timers
        assert await scheduler.fire_due(first_at) == 0  # parked: not claimed again

        fixed = sample("LabResultReported")
        await conn.execute(
            "UPDATE events SET data = $2::jsonb WHERE event_id = $1", lab_id, json.dumps(fixed)
        )
        report = await replay(pool, CHECKPOINT, index_replayer(None, CHECKPOINT), stream=unfoldable)
        assert (report.replayed, report.failed) == (1, 0)
        assert await scheduler.fire_due(first_at) == await pool.fetchval(
            "SELECT count(*) FROM timers WHERE stream = $1", unfoldable
        )
        assert await pending(unfoldable) == 0  # fired once the stream was replayed
        assert await pending(undecidable) == still  # not fixed: still parked
    finally:
        await pool.close()
        await conn.close()


async def test_the_timer_index_parks_a_stream_at_an_event_it_cannot_read_until_replayed(
    virtual: Settings,
) -> None:
    """An event the timer index cannot read is dead-lettered and its stream parked: the
    stream's later events wait behind it (not indexed, each a letter naming it); a replay
    after the fix indexes them in order (the completion drops its task's timers, the later
    task gets its own)."""
    later = "2099-01-01T00:00:00Z"  # never due in this module's rounds
    first = sample("TaskScheduled", due=later)
    second = sample("TaskScheduled", due=later)
    completed = sample("TaskCompleted", task_id=first["task_id"])
    broken = {"type": "TaskCompleted", "task_id": first["task_id"], "on_time": "no"}
    conn = await asyncpg.connect(virtual.database.url)
    pool = await asyncpg.create_pool(virtual.database.url, min_size=1, max_size=4)
    try:
        [(_, _), (bad_id, _), (waiting_id, _)] = await store(
            conn,
            [
                Bad("TaskScheduled", first, frozenset(), cpts="demo"),
                Bad("TaskCompleted", broken, frozenset(), cpts="demo", follows=True),
                Bad("TaskScheduled", second, frozenset(), cpts="demo", follows=True),
            ],
        )
        stream = await conn.fetchval("SELECT stream FROM events WHERE event_id = $1", bad_id)
        index = Scheduler(PatientStreams(pool, load_catalog(virtual)), VirtualClock(pool)).index
        await index.catch_up()

        async def timers_of(task: str) -> int:
            return await pool.fetchval(
                "SELECT count(*) FROM timers WHERE task_id = $1", uuid.UUID(task)
            )

        letters = await pool.fetch(
            "SELECT event_id, parked_behind, reason FROM dead_letters WHERE consumer = $1 "
            "AND stream = $2 AND replayed_at IS NULL ORDER BY position",
            CHECKPOINT,
            stream,
        )
        assert [(r["event_id"], r["parked_behind"]) for r in letters] == [
            (bad_id, None),
            (waiting_id, bad_id),  # waits behind the event the index could not read
        ]
        assert "ValidationError" in letters[0]["reason"]
        assert await timers_of(first["task_id"]) >= 1  # indexed before the bad event
        assert await timers_of(second["task_id"]) == 0  # parked: not indexed yet

        await conn.execute(
            "UPDATE events SET data = $2::jsonb WHERE event_id = $1", bad_id, json.dumps(completed)
        )
        report = await replay(pool, CHECKPOINT, index_replayer(None, CHECKPOINT), stream=stream)
        assert (report.replayed, report.failed) == (2, 0)
        assert await timers_of(first["task_id"]) == 0  # completed: its timers are moot
        assert await timers_of(second["task_id"]) >= 1  # indexed behind it, in order
    finally:
        await pool.close()
        await conn.close()
