"""What the fault table measures after each fault, on a ``ClusterSystem`` under load.

- ``probe``: a discharge posted right after the fault (again with the same event id while
  the answer is unknown) and followed end to end: stored, on the timeline, its 19 tasks
  routed and published. The recovery time is from the fault to that.
- ``settle``: a marker discharge after the fault was repaired; then everything relayed,
  every view caught up with the store, the marker's tasks published.
- ``row``: the counts, cumulative since the start: facts acknowledged and stored once,
  events in the store and applied by each view, tasks scheduled and notified once; lost
  and duplicated, which must both be 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from dataclasses import dataclass

import asyncpg
import httpx

from contracts.subjects import Subjects
from parcours import natsio
from tests.faults.checks import TASKS_PER_DISCHARGE, notification_problems, store_problems
from tests.faults.cluster_system import ClusterSystem
from tests.faults.load import Ledger, fact_body
from tests.integration.conftest import eventually


@dataclass
class Row:
    fault: str
    recovery: float
    acknowledged: int
    stored: int
    events: int
    applied: str  # per view
    tasks: int
    notified: int
    lost: int
    duplicated: int
    problems: list[str]

    HEADER = (
        "| fault | recovery s | acknowledged | stored once | events | applied per view "
        "| tasks | notified once | lost | duplicated |\n|---|---|---|---|---|---|---|---|---|---|"
    )

    def line(self) -> str:
        return (
            f"| {self.fault} | {self.recovery:.1f} | {self.acknowledged} | {self.stored} "
            f"| {self.events} | {self.applied} | {self.tasks} | {self.notified} | {self.lost} "
            f"| {self.duplicated} |"
        )


async def db(system: ClusterSystem) -> asyncpg.Connection:
    """A connection to whichever host is the primary now (the multi-host URL)."""
    assert system.settings is not None
    return await asyncpg.connect(system.settings.database.url, timeout=5)


async def _query(system: ClusterSystem, sql: str, *args: object) -> object:
    try:
        conn = await db(system)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return None
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def post_until_acknowledged(
    system: ClusterSystem, body: dict, within: float, rng: random.Random
) -> str:
    """POST one fact to each pathways instance in turn until one says 200 or 201: the same
    event id every time, so an answer lost in a failover is resolved by the store."""
    deadline = time.monotonic() + within
    headers = {"Authorization": f"Bearer {system.token('discharge-system')}"}
    async with httpx.AsyncClient(timeout=5.0, headers=headers) as client:
        while True:
            url = rng.choice(system.urls("pathways"))
            try:
                answer = await client.post(f"{url}/v1/facts", json=body)
                if answer.status_code in (200, 201):
                    return answer.json()["event_id"]
                assert answer.status_code == 503, answer.text
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "no pathways instance acknowledged the probe"
            await asyncio.sleep(0.2)


async def through(system: ClusterSystem, event_id: str) -> bool:
    """The fact is on the timeline and its tasks are routed and published."""
    return bool(
        await _query(
            system,
            """SELECT EXISTS (SELECT 1 FROM timeline WHERE event_id = $1::text::uuid)
                  AND (SELECT count(*) FROM notification_tasks WHERE task_id IN (
                         SELECT (data->>'task_id')::uuid FROM events
                         WHERE causation_id = $1::text AND type = 'TaskScheduled')) = $2
                  AND NOT EXISTS (SELECT 1 FROM notification_outbox
                         WHERE split_part(msg_id, ':', 1) IN (
                           SELECT event_id::text FROM events WHERE causation_id = $1::text))""",
            event_id,
            TASKS_PER_DISCHARGE,
        )
    )


def discharge(at: dt.datetime, patient: int, rng: random.Random) -> dict:
    body = fact_body("DischargeReported", patient, at, rng)
    body["event_id"] = str(uuid.uuid4())
    return body


async def probe(
    system: ClusterSystem, at: dt.datetime, patient: int, started: float, rng: random.Random
) -> float:
    """Seconds from ``started`` (the fault) until a new discharge went end to end."""
    event_id = await post_until_acknowledged(system, discharge(at, patient, rng), 180, rng)
    await eventually(lambda: through(system, event_id), timeout=180, interval=0.2)
    return time.monotonic() - started


async def settle(system: ClusterSystem, at: dt.datetime, patient: int, rng: random.Random) -> None:
    marker = await post_until_acknowledged(system, discharge(at, patient, rng), 180, rng)

    async def caught_up() -> bool:
        return bool(
            await _query(
                system,
                """SELECT (SELECT coalesce(max(position), 0) FROM events)
                          <= coalesce((SELECT position FROM store_checkpoints
                                       WHERE name = 'relay'), 0)
                      AND (SELECT count(*) FROM events) = ALL (
                          SELECT events FROM projection_checkpoints)""",
            )
        )

    try:
        await eventually(caught_up, timeout=240, interval=0.5)
        await eventually(lambda: through(system, marker), timeout=240, interval=0.5)
    except AssertionError:
        raise AssertionError(f"not settled:\n{system.log_tail()}") from None


async def row(system: ClusterSystem, fault: str, recovery: float, ledger: Ledger) -> Row:
    assert system.settings is not None
    conn = await db(system)
    nc = await natsio.connect(system.settings, "fault-table")
    try:
        problems = await store_problems(conn, ledger)
        acknowledged = len(ledger.acknowledged)
        lost_facts = sum("stored 0x" in p for p in problems)
        doubled_facts = sum("stored" in p and "stored 0x" not in p for p in problems)
        events = await conn.fetchval("SELECT count(*) FROM events")
        views = {
            r["view"]: r["events"]
            for r in await conn.fetch("SELECT view, events FROM projection_checkpoints")
        }
        timeline = await conn.fetchval("SELECT count(*) FROM timeline")
        patient_events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE stream LIKE 'patient-%'"
        )
        if timeline != patient_events:
            problems.append(f"timeline rows {timeline}, patient events {patient_events}")
        subjects = Subjects(system.settings.nats.prefix)
        notified_problems, tasks = await notification_problems(conn, nc.jetstream(), subjects)
        problems += notified_problems
        twice = sum("published" in p for p in notified_problems)
        unannounced = sum("announced on 0 subjects" in p for p in notified_problems)
        misannounced = sum("announced on" in p for p in notified_problems)
        lost = lost_facts + sum(max(0, events - n) for n in views.values()) + unannounced
        duplicated = doubled_facts + sum(max(0, n - events) for n in views.values()) + twice
        return Row(
            fault=fault,
            recovery=recovery,
            acknowledged=acknowledged,
            stored=acknowledged - lost_facts - doubled_facts,
            events=events,
            applied=" / ".join(f"{v} {n}" for v, n in sorted(views.items())),
            tasks=tasks,
            notified=tasks - misannounced,
            lost=lost,
            duplicated=duplicated,
            problems=problems,
        )
    finally:
        await nc.close()
        await conn.close()
