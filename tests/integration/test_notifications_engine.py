"""With the pathway engine: a discharge's pool tasks reach the nurses of the patient's
commune; two nurses claim the same task at once and exactly one wins, the pool hearing
once that it is taken; the morning reminder, then the overdue notice and its escalation,
arrive when the virtual clock passes them."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from contracts.identity import INS_TEST_OID, synthetic_ins
from contracts.subjects import Subjects
from notifications.app import create_app as notifications_app
from parcours import natsio
from parcours.clock import VirtualClock
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from tests.integration.conftest import bearer, eventually, serving
from tests.integration.test_notifications_routing import Listener, rpps

PARIS = ZoneInfo("Europe/Paris")
START = dt.datetime(2026, 3, 9, 10, 0, tzinfo=PARIS)  # a Monday morning
COMMUNE = "76540"
MARKER_PATIENTS = itertools.count(920_001)  # a new patient for each marker of the module


async def until(condition: Callable[[], bool]) -> None:
    async def check() -> bool:
        return condition()

    await eventually(check)


@pytest.fixture
def simulated(settings: Settings) -> Settings:
    return settings.replace(clock="virtual", digest_hour=-1)


class Territory:
    def __init__(
        self,
        settings: Settings,
        pathways: Any,
        notifications: Any,
        pool: asyncpg.Pool,
        listener: Listener,
        token: Any,
    ) -> None:
        self.settings, self.pathways, self.notifications = settings, pathways, notifications
        self.pool, self.listener, self.token = pool, listener, token
        self.subjects = Subjects(settings.nats.prefix)
        self.admin = bearer(token("admin", sub="ADMIN-1"))

    async def discharge(self, n: int, identity: dict | None = None) -> uuid.UUID:
        """Patient ``n`` discharged home (``identity``: the patient as the hospital names them)."""
        patient = identity or {"ins": synthetic_ins(n), "oid": INS_TEST_OID, "commune": COMMUNE}
        answer = await self.pathways.post(
            "/v1/facts",
            json={
                "type": "DischargeReported",
                "patient": patient,
                "admitted_at": (START - dt.timedelta(days=6)).isoformat(),
                "discharged_at": (START - dt.timedelta(hours=2)).isoformat(),
                "diagnoses": ["I50.1"],
                "finess": "750712184",
            },
            headers=bearer(self.token("discharge-system", sub="CHU-1")),
        )
        assert answer.status_code == 201, answer.text
        return uuid.UUID(answer.json()["stream"].removeprefix("patient-"))

    async def first_nurse_task(self, patient: uuid.UUID) -> asyncpg.Record:
        async def find() -> asyncpg.Record | None:
            return await self.pool.fetchrow(
                """SELECT * FROM notification_tasks WHERE patient_id = $1 AND role = 'nurse'
                   ORDER BY due LIMIT 1""",
                patient,
            )

        return await eventually(find)

    async def marker(self) -> None:
        """Sends a marker through the whole pipeline (a discharge of a new patient) and waits
        for its first notification: anything the engine wrote before it has arrived by then
        (one relay, one router, one outbox, in commit order)."""
        patient = await self.discharge(next(MARKER_PATIENTS))
        await until(lambda: any(n.patient_id == patient for _, n in self.listener.got))

    async def advance_to(self, instant: dt.datetime) -> None:
        answer = await self.pathways.post(
            "/v1/admin/clock/advance", json={"to": instant.isoformat()}, headers=self.admin
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture
async def territory(simulated: Settings, token: Any) -> AsyncIterator[Territory]:
    pool = await asyncpg.create_pool(simulated.database.url, min_size=1, max_size=4)
    await VirtualClock(pool).set(START.astimezone(dt.UTC))
    nc: NATS = await natsio.connect(simulated, "observer")
    await natsio.provision(nc.jetstream(), simulated)
    listener = Listener()
    await nc.subscribe(f"{simulated.nats.prefix}.demo.>", cb=listener.on)
    try:
        async with (
            serving(pathways_app(simulated)) as pathways,
            serving(notifications_app(simulated)) as notifications,
        ):
            yield Territory(simulated, pathways, notifications, pool, listener, token)
    finally:
        await nc.close()
        await pool.close()


async def test_two_nurses_claim_the_same_pool_task_and_exactly_one_wins(
    territory: Territory,
) -> None:
    patient = await territory.discharge(910_001)
    task = await territory.first_nurse_task(patient)
    pool_subject = territory.subjects.pool("demo", "nurse", COMMUNE)
    assert task["assignee"] is None and task["zone"] == COMMUNE
    await until(lambda: (pool_subject, "scheduled") in territory.listener.about(task["task_id"]))

    nurses = [rpps(), rpps()]

    async def accept(nurse: str) -> int:
        answer = await territory.pathways.post(
            f"/v1/tasks/{task['task_id']}/accept",
            headers=bearer(territory.token("nurse", sub=nurse, zones=[COMMUNE])),
        )
        return answer.status_code

    codes = await asyncio.gather(*(accept(n) for n in nurses))
    assert sorted(codes) == [200, 409], codes
    winner = nurses[codes.index(200)]

    async def told() -> list[tuple[str, str]]:
        heard = territory.listener.about(task["task_id"])
        return heard if len(heard) >= 3 else []

    await eventually(told)
    await territory.marker()  # a wrong second "taken" would have arrived before it
    heard = territory.listener.about(task["task_id"])
    assert heard == [
        (pool_subject, "scheduled"),
        (pool_subject, "taken"),
        (territory.subjects.professional("demo", "nurse", winner), "accepted"),
    ]
    mine = await territory.notifications.get(
        "/v1/me/tasks", headers=bearer(territory.token("nurse", sub=winner))
    )
    assert str(task["task_id"]) in [t["task_id"] for t in mine.json()["tasks"]]


async def test_reminder_overdue_and_escalation_fire_at_the_right_virtual_times(
    territory: Territory,
) -> None:
    patient = await territory.discharge(910_002)
    task = await territory.first_nurse_task(patient)
    due: dt.datetime = task["due"]
    reminder = dt.datetime.combine(due.astimezone(PARIS).date(), dt.time(8, 0), PARIS)
    assert task["earliest"] <= reminder < due, "the first nursing visit has a morning reminder"
    subjects, task_id = territory.subjects, task["task_id"]
    pool_subject = subjects.pool("demo", "nurse", COMMUNE)

    def kinds() -> list[str]:
        return [k for _, k in territory.listener.about(task_id)]

    await until(lambda: kinds() == ["scheduled"])
    await territory.advance_to(reminder - dt.timedelta(minutes=1))
    await territory.marker()
    assert kinds() == ["scheduled"]

    await territory.advance_to(reminder + dt.timedelta(minutes=1))
    await until(lambda: kinds() == ["scheduled", "reminder"])
    await territory.advance_to(due - dt.timedelta(minutes=1))
    await territory.marker()
    assert kinds() == ["scheduled", "reminder"]

    await territory.advance_to(due + dt.timedelta(minutes=1))
    await until(lambda: len(kinds()) == 4)
    assert territory.listener.about(task_id) == [
        (pool_subject, "scheduled"),
        (pool_subject, "reminder"),
        (pool_subject, "overdue"),
        (subjects.coordinators("demo"), "escalation"),
    ]


async def test_notifications_never_carry_the_identity_the_hospital_sent(
    territory: Territory,
) -> None:
    """The discharge names the patient in full; no message on the notifications (or events)
    stream carries any of those values: INS, names, birth date, birthplace."""
    identity = {
        "ins": synthetic_ins(910_003),
        "oid": INS_TEST_OID,
        "birth_name": "QUINTAVALLE",
        "first_names": "Perpétue Hermeline",
        "sex": "F",
        "birth_date": "1941-07-23",
        "birthplace": "63113",
        "commune": COMMUNE,
    }
    patient = await territory.discharge(910_003, identity)
    await until(lambda: any(n.patient_id == patient for _, n in territory.listener.got))
    task = await territory.first_nurse_task(patient)
    await until(lambda: territory.listener.about(task["task_id"]) != [])

    traits = [
        identity["ins"],
        identity["ins"][:13],  # the INS without its key
        "QUINTAVALLE",
        "Perpétue",
        "Perp\\u00e9tue",  # as JSON may escape it
        "Hermeline",
        "1941-07-23",
        "19410723",
        "23/07/1941",
        "63113",
    ]
    nc: NATS = await natsio.connect(territory.settings, "identity-probe")
    try:
        js = nc.jetstream()
        about_patient = 0
        for stream in (territory.subjects.notifications_stream, territory.subjects.events_stream):
            info = await js.stream_info(stream)
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                text = msg.data.decode() + repr(msg.headers or {})
                found = [t for t in traits if t.lower() in text.lower()]
                assert not found, f"{stream} #{seq} ({msg.subject}) carries {found}"
                if stream == territory.subjects.notifications_stream:
                    about_patient += str(patient) in text
        assert about_patient >= 1, "the patient's notifications were among those scanned"
    finally:
        await nc.close()
