"""Crashes and outages under a steady load of facts that hit the same patients.

While facts arrive, services and the relay are killed (kill -9) at random moments (seeded:
``PARCOURS_FAULTS_SEED``), NATS is stopped, then PostgreSQL. Afterwards:

- per phase: no answer slower than 2 s, no timeout; transport errors (no answer) only while
  pathways itself is down; ingestion keeps acknowledging while NATS is away; 503 (not a
  hang, not a 500) while PostgreSQL is away;
- every acknowledged fact is stored, every acknowledged discharge with its enrolment and its
  19 tasks; a fact answered 503 or never answered is absent or complete;
- every task is announced once on NATS (counted raw on the stream, after a marker);
- every indicator's totals equal the totals recomputed from its cases, and the
  heart-failure cases are the enrolments in the store; every event is on the timeline.

The short form (``make test``) runs 40 facts/s with 3 kills and 2 s outages; the long form
(``make test-faults``, ``PARCOURS_FAULTS=long``) 150 facts/s, 10 kills, 8 s outages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from contracts.subjects import Subjects
from parcours import natsio
from tests.faults.checks import (
    TASKS_PER_DISCHARGE,
    indicator_problems,
    notification_problems,
    store_problems,
)
from tests.faults.load import SLOW, Ledger, fact_body, steady_load
from tests.integration.conftest import eventually
from tests.system.conftest import System

LONG = os.environ.get("PARCOURS_FAULTS") == "long"
SEED = int(os.environ.get("PARCOURS_FAULTS_SEED", "20260309"))
RATE = 150.0 if LONG else 40.0
KILLS = 10 if LONG else 3  # pathways always, the others drawn
OUTAGE = 8.0 if LONG else 2.0
PARIS = ZoneInfo("Europe/Paris")
KILLABLE = ("pathways", "relay", "projections", "notifications")


def _bearer(system: System, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token(role)}"}


async def _now(system: System) -> dt.datetime:
    async with httpx.AsyncClient(base_url=system.url("pathways")) as client:
        answer = await client.get("/v1/admin/clock", headers=_bearer(system, "admin"))
    return dt.datetime.fromisoformat(answer.json()["now"])


async def _kill_and_restart(system: System, ledger: Ledger, service: str, down: float) -> None:
    ledger.phase = f"kill {service}"
    system.kill(service)  # kill -9: no shutdown, no flush
    await asyncio.sleep(down)
    await asyncio.to_thread(system.start, service)  # back when it answers ready
    ledger.phase = "steady"


async def _faults(system: System, ledger: Ledger, rng: random.Random) -> None:
    victims = ["pathways", *(rng.choice(KILLABLE) for _ in range(KILLS - 1))]
    rng.shuffle(victims)
    for service in victims:
        await asyncio.sleep(rng.uniform(0.3, 2.0))  # a random moment of the load
        await _kill_and_restart(system, ledger, service, rng.uniform(0.1, OUTAGE / 2))

    ledger.phase = "nats down"
    system.nats.stop()  # NATS away: ingestion keeps accepting
    await asyncio.sleep(OUTAGE)
    await asyncio.to_thread(system.nats.start)
    ledger.phase = "steady"
    await asyncio.sleep(rng.uniform(0.5, 1.5))

    ledger.phase = "postgresql down"
    system.pg.stop()  # PostgreSQL away: 503 at once, nothing half-written
    await asyncio.sleep(OUTAGE)
    await asyncio.to_thread(system.pg.start)
    ledger.phase = "postgresql back"
    await asyncio.sleep(2.0)


def _phase_problems(ledger: Ledger) -> list[str]:
    problems = []
    unanswered = [
        s for s in ledger.where("error") if "kill pathways" not in (s.phase, s.ended)
    ]  # sent, or failed, while pathways was down: allowed; anywhere else: not
    if unanswered:
        problems.append(f"{len(unanswered)} facts got no answer: {unanswered[:3]}")
    for phase, outcomes in ledger.by_phase().items():
        if outcomes["timeout"]:
            problems.append(f"{phase}: {outcomes['timeout']} timeouts")
        unexpected = set(outcomes) - {"200", "201", "503", "error", "timeout"}
        if unexpected:
            problems.append(f"{phase}: statuses {dict(outcomes)}")
    slow = [(s.phase, round(s.took, 2)) for s in ledger.sent if s.took > SLOW]
    if slow:
        problems.append(f"answers slower than {SLOW} s: {slow[:5]}")
    phases = ledger.by_phase()
    acknowledged = sum(n for o, n in phases.get("nats down", {}).items() if o.startswith("2"))
    if not acknowledged:
        problems.append(f"nothing acknowledged while NATS was away: {phases.get('nats down')}")
    if not phases.get("postgresql down", {}).get("503"):
        problems.append(f"no 503 while PostgreSQL was away: {phases.get('postgresql down')}")
    return problems


async def _settled(system: System, conn: asyncpg.Connection, marker: str) -> None:
    """Everything relayed and projected, and the marker's tasks announced (the router
    handles events in order: anything earlier has been announced by then)."""

    async def projected() -> bool:
        relayed = await conn.fetchval(
            """SELECT coalesce((SELECT position FROM store_checkpoints WHERE name = 'relay'), 0)
                      >= (SELECT coalesce(max(position), 0) FROM events)"""
        )
        events = await conn.fetchval("SELECT count(*) FROM events WHERE stream LIKE 'patient-%'")
        rows = await conn.fetchval("SELECT count(*) FROM timeline")
        return relayed and events == rows

    async def marker_announced() -> bool:  # routed, and the outbox published it all
        return await conn.fetchval(
            """SELECT count(*) = $2 AND (SELECT count(*) = 0 FROM notification_outbox)
               FROM notification_tasks
               WHERE task_id IN (SELECT (data->>'task_id')::uuid FROM events
                                 WHERE causation_id = $1 AND type = 'TaskScheduled')""",
            marker,
            TASKS_PER_DISCHARGE,
        )

    try:
        await eventually(projected, timeout=90)
        await eventually(marker_announced, timeout=60)
    except AssertionError:
        tail = "\n".join(system.log_text().splitlines()[-40:])
        checkpoints = await conn.fetch("SELECT * FROM consumer_checkpoints")
        raise AssertionError(f"not settled; {checkpoints}\n{tail}") from None


async def test_nothing_acknowledged_is_lost_through_crashes_and_outages(system: System) -> None:
    rng = random.Random(SEED)
    ledger, stop = Ledger(), asyncio.Event()
    at = await _now(system)
    hospital = system.token("discharge-system")
    load = asyncio.create_task(
        steady_load(system.url("pathways"), hospital, at, stop, RATE, ledger, SEED)
    )
    try:
        await asyncio.sleep(1.0)
        await _faults(system, ledger, rng)
    finally:
        stop.set()
        await load
    print(f"seed {SEED}, {len(ledger.sent)} facts; outcomes per phase: {ledger.by_phase()}")
    assert ledger.acknowledged, "the load acknowledged nothing"
    assert not (problems := _phase_problems(ledger)), "\n".join(problems)

    conn = await asyncpg.connect(system.settings.database.url)
    nc = await natsio.connect(system.settings, "fault-probe")
    try:
        async with httpx.AsyncClient(base_url=system.url("pathways")) as client:
            marker = await client.post(
                "/v1/facts",
                json=fact_body("DischargeReported", 99_999, at, rng),
                headers=_bearer(system, "discharge-system"),
            )
        assert marker.status_code == 201, marker.text
        await _settled(system, conn, marker.json()["event_id"])

        problems = await store_problems(conn, ledger)
        assert not problems, f"{len(problems)} store problems:\n" + "\n".join(problems[:20])

        subjects = Subjects(system.settings.nats.prefix)
        problems, tasks = await notification_problems(conn, nc.jetstream(), subjects)
        assert not problems, f"{len(problems)} notification problems:\n" + "\n".join(problems[:20])
        enrolled = await conn.fetchval("SELECT count(*) FROM events WHERE type = 'PatientEnrolled'")
        assert tasks == enrolled * TASKS_PER_DISCHARGE

        period = (at - dt.timedelta(hours=1)).astimezone(PARIS).strftime("%Y-%m")
        async with httpx.AsyncClient(base_url=system.url("projections")) as client:
            problems = await indicator_problems(
                client, _bearer(system, "auditor"), period, enrolled
            )
        assert not problems, f"{len(problems)} indicator problems:\n" + "\n".join(problems)
    finally:
        await nc.close()
        await conn.close()
