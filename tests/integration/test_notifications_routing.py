"""Notifications: every task event reaches the people concerned, once, in order,
and an app that was offline receives exactly what it missed.

Task events are appended to the event store as the engine would, and the real
relay carries them to NATS; the notifications service runs with its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from contracts import pathway as ev
from contracts.events import Actor, NewEvent, patient_stream
from contracts.notifications import Notification, notification_decoder
from contracts.subjects import Subjects
from notifications.app import create_app
from notifications.appclient import AppFeed
from parcours import natsio
from parcours.eventstore import ANY, EventStore
from parcours.leadership import pending
from parcours.settings import Settings
from pathways.relay import Relay
from tests.integration.conftest import eventually, serving
from tests.integration.jetstream_reading import stored_notifications

T0 = dt.datetime(2026, 3, 9, 9, tzinfo=dt.UTC)
ENGINE = Actor(id="pathways-engine", role="service")


def rpps() -> str:
    return f"1{uuid.uuid4().int % 10**10:010d}"


def scheduled(
    assignee: str | None = None, *, role: str = "nurse", zone: str | None = "Z1", **over: Any
) -> ev.TaskScheduled:
    fields: dict[str, Any] = dict(
        task_id=uuid.uuid4(),
        enrolment_id=uuid.uuid4(),
        protocol="heart-failure-discharge",
        activity="nursing-visit",
        occurrence=1,
        role=role,
        earliest=T0,
        due=T0 + dt.timedelta(days=3),
        assignee=assignee,
        zone=zone,
    )
    fields.update(over)
    return ev.TaskScheduled(**fields)


@dataclass
class System:
    settings: Settings
    pool: asyncpg.Pool
    http: Any
    subjects: Subjects
    patient: uuid.UUID

    async def append(
        self,
        *payloads: Any,
        patient: uuid.UUID | None = None,
        actor: Actor = ENGINE,
        cpts: str = "demo",
    ) -> None:
        events = [
            NewEvent(
                event_id=uuid.uuid4(),
                data=p,
                occurred_at=T0,
                correlation_id="corr-notify",
                actor=actor,
                cpts=cpts,
            )
            for p in payloads
        ]
        await EventStore(self.pool).append(patient_stream(patient or self.patient), ANY, events)

    async def settled(self) -> None:
        """Every appended event relayed and routed, every notification published."""
        nc = await natsio.connect(self.settings, "test-probe")
        js = nc.jetstream()

        async def done() -> bool:
            relayed = await self.pool.fetchval(
                """SELECT coalesce((SELECT position FROM store_checkpoints WHERE name = 'relay'), 0)
                          >= (SELECT coalesce(max(position), 0) FROM events)"""
            )
            if not relayed:
                return False
            if await pending(js, self.subjects.events_stream, "notifications-router"):
                return False
            return await self.pool.fetchval("SELECT count(*) = 0 FROM notification_outbox")

        try:
            await eventually(done)
        finally:
            await nc.close()

    async def last_seq(self) -> int:
        nc = await natsio.connect(self.settings, "test-probe")
        try:
            info = await nc.jetstream().stream_info(self.subjects.notifications_stream)
            return info.state.last_seq
        finally:
            await nc.close()


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, with_app: bool = True, digests: bool = False
) -> AsyncIterator[System]:
    """The relay and (unless ``with_app=False``) the notifications service in-process.

    Digests are off unless asked for: on the wall clock they would depend on the hour.
    """
    if not digests:
        settings = settings.replace(digest_hour=-1)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=6)
    relay_nc = await natsio.connect(settings, "test-relay")
    await natsio.provision(relay_nc.jetstream(), settings)
    subjects = Subjects(settings.nats.prefix)
    relay = Relay(pool=pool, nc=relay_nc, subjects=subjects, database_url=settings.database.url)
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(stop))
    try:
        if with_app:
            async with serving(create_app(settings)) as http:
                yield System(settings, pool, http, subjects, uuid.uuid4())
        else:
            yield System(settings, pool, None, subjects, uuid.uuid4())
    finally:
        stop.set()
        await asyncio.gather(relaying, return_exceptions=True)
        await relay_nc.close()
        await pool.close()


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with running(settings) as s:
        yield s


@pytest.fixture
async def app_nc(settings: Settings) -> AsyncIterator[NATS]:
    nc = await natsio.connect(settings, "nurse-app")
    await natsio.provision(nc.jetstream(), settings)  # as the services do at start-up
    yield nc
    await nc.close()


class Listener:
    """A live core-NATS subscriber on every notification subject of the CPTS."""

    def __init__(self) -> None:
        self.got: list[tuple[str, Notification]] = []

    async def on(self, msg: Any) -> None:
        self.got.append((msg.subject, notification_decoder.decode(msg.data)))

    def about(self, task_id: uuid.UUID) -> list[tuple[str, str]]:
        return [(s, n.kind) for s, n in self.got if n.task_id == task_id]


@pytest.fixture
async def listener(app_nc: NATS, settings: Settings) -> Listener:
    listening = Listener()
    await app_nc.subscribe(f"{settings.nats.prefix}.demo.>", cb=listening.on)
    return listening


async def test_a_nurse_app_offline_while_three_tasks_are_scheduled_gets_exactly_those_three_in_order(
    system: System, app_nc: NATS
) -> None:
    nurse = rpps()
    mine = system.subjects.professional("demo", "nurse", nurse)
    first = scheduled(nurse)
    feed = await AppFeed(app_nc, system.subjects.notifications_stream, [mine]).start()
    await system.append(first)
    seen = await feed.next()
    assert seen.notification.task_id == first.task_id and seen.notification.kind == "scheduled"
    await feed.stop()  # the phone goes offline, remembering seen.seq

    missed = [scheduled(nurse, activity=f"visit-{i}") for i in range(3)]
    for task in missed:
        await system.append(task)
        await system.append(scheduled(rpps()))  # someone else's task meanwhile
    await system.append(scheduled(None))  # a pool task of her role
    await system.settled()

    back = await AppFeed(
        app_nc, system.subjects.notifications_stream, [mine], after_seq=seen.seq
    ).start()
    got = await back.take(3)
    assert [r.notification.task_id for r in got] == [t.task_id for t in missed]
    assert [r.notification.kind for r in got] == ["scheduled"] * 3
    assert all(r.subject == mine for r in got)
    assert [r.seq for r in got] == sorted(r.seq for r in got)
    marker = scheduled(nurse, activity="marker")  # once, nothing more: the marker comes next
    await system.append(marker)
    assert (await back.next()).notification.task_id == marker.task_id
    line = got[0].notification
    assert (
        line.patient_id == system.patient
        and line.window
        and line.window.due == T0 + dt.timedelta(days=3)
    )
    await back.stop()


async def test_pool_tasks_go_to_the_pool_of_their_zone_or_the_cpts_sector(
    system: System, listener: Listener
) -> None:
    zoned = scheduled(None, zone="Saint-Étienne du Rouvray")
    unzoned = scheduled(None, zone=None, role="gp")
    await system.append(zoned, unzoned)
    await system.settled()
    assert listener.about(zoned.task_id) == [
        (system.subjects.pool("demo", "nurse", "Saint-Etienne-du-Rouvray"), "scheduled")
    ]
    assert listener.about(unzoned.task_id) == [
        (system.subjects.pool("demo", "gp", "sector"), "scheduled")
    ]


async def test_a_claimed_pool_task_is_announced_taken_to_the_pool_exactly_once(
    system: System, listener: Listener
) -> None:
    task = scheduled(None)
    first, second = rpps(), rpps()
    await system.append(task)
    await system.append(
        ev.TaskAccepted(task_id=task.task_id, by=first, role="nurse"),
        ev.TaskAccepted(task_id=task.task_id, by=second, role="nurse"),
    )
    await system.settled()
    pool = system.subjects.pool("demo", "nurse", "Z1")
    assert listener.about(task.task_id) == [
        (pool, "scheduled"),
        (pool, "taken"),
        (system.subjects.professional("demo", "nurse", first), "accepted"),
    ]
    taken = [n for s, n in listener.got if n.task_id == task.task_id and n.kind == "taken"][0]
    assert taken.assignee == first and taken.status == "accepted"


async def test_reassignment_and_cancellation_tell_the_people_concerned(
    system: System, listener: Listener
) -> None:
    alice, bob = rpps(), rpps()
    task = scheduled(alice)
    await system.append(task)
    await system.append(ev.TaskReassigned(task_id=task.task_id, by="COORD-1", assignee=bob))
    await system.append(ev.TaskReassigned(task_id=task.task_id, by="COORD-1", assignee=None))
    await system.append(ev.TaskCancelled(task_id=task.task_id, reason="patient moved"))
    await system.append(ev.ReminderDue(task_id=task.task_id, due=task.due))  # too late: nothing
    await system.settled()
    s = system.subjects
    assert listener.about(task.task_id) == [
        (s.professional("demo", "nurse", alice), "scheduled"),
        (s.professional("demo", "nurse", alice), "reassigned"),
        (s.professional("demo", "nurse", bob), "assigned"),
        (s.professional("demo", "nurse", bob), "reassigned"),
        (s.pool("demo", "nurse", "Z1"), "released"),
        (s.pool("demo", "nurse", "Z1"), "cancelled"),
    ]


async def test_reminders_overdue_and_escalations_reach_the_assignee_and_the_coordinators(
    system: System, listener: Listener
) -> None:
    nurse = rpps()
    task = scheduled(nurse, urgent=True)
    await system.append(task)
    await system.append(ev.ReminderDue(task_id=task.task_id, due=task.due))
    await system.append(
        ev.TaskOverdue(task_id=task.task_id, due=task.due),
        ev.EscalationRaised(
            escalation_id=uuid.uuid4(),
            task_id=task.task_id,
            enrolment_id=task.enrolment_id,
            reason="nursing-visit #1 overdue",
            urgent=True,
        ),
    )
    await system.settled()
    s = system.subjects
    own = s.professional("demo", "nurse", nurse)
    assert listener.about(task.task_id) == [
        (own, "scheduled"),
        (own, "reminder"),
        (own, "overdue"),
        (s.coordinators("demo"), "escalation"),
    ]
    escalation = [
        n for _, n in listener.got if n.kind == "escalation" and n.task_id == task.task_id
    ][0]
    assert escalation.urgent and escalation.patient_id == system.patient
    assert escalation.reason == "nursing-visit #1 overdue"


async def test_messages_carry_a_patient_reference_and_no_identity_field(
    system: System, listener: Listener
) -> None:
    """The shape only; the values are scanned by the engine test
    (``test_notifications_never_carry_the_identity_the_hospital_sent``)."""
    task = scheduled(rpps())
    await system.append(task)
    await system.settled()
    ((_, note),) = [(s, n) for s, n in listener.got if n.task_id == task.task_id]
    assert set(note.__struct_fields__) >= {"patient_id", "task_id", "kind", "window", "status"}
    assert not {"ins", "birth_name", "first_names", "birth_date"} & set(note.__struct_fields__)


async def test_a_restarted_service_publishes_nothing_twice(
    settings: Settings, app_nc: NATS
) -> None:
    nurse = rpps()
    subjects = Subjects(settings.nats.prefix)
    feed = await AppFeed(
        app_nc, subjects.notifications_stream, [subjects.professional("demo", "nurse", nurse)]
    ).start()
    tasks = [scheduled(nurse, activity=f"visit-{i}") for i in range(5)]
    async with running(settings) as system:
        await system.append(*tasks[:3])
        await system.settled()
    async with running(settings) as system:  # the router resumes from its checkpoint
        await system.append(*tasks[3:])
        await system.settled()
    got = await feed.take(5)
    assert [r.notification.task_id for r in got] == [t.task_id for t in tasks]
    marker = scheduled(nurse, activity="marker")  # nothing twice: the marker comes next
    async with running(settings) as system:
        await system.append(marker)
        assert (await feed.next()).notification.task_id == marker.task_id
    await feed.stop()
    # the app de-duplicates by notification id: what the stream holds is counted raw
    own = subjects.professional("demo", "nurse", nurse)
    stored = await stored_notifications(app_nc.jetstream(), subjects.notifications_stream, [own])
    assert [n.task_id for _, n in stored] == [t.task_id for t in [*tasks, marker]]


async def test_the_notifications_stream_keeps_thirty_days_and_drops_duplicate_ids(
    system: System, app_nc: NATS
) -> None:
    js = app_nc.jetstream()
    info = await js.stream_info(system.subjects.notifications_stream)
    assert info.config.max_age == 30 * 86400
    assert info.config.duplicate_window >= 3600
    subject = system.subjects.professional("demo", "nurse", rpps())
    first = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": "same-id"})
    again = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": "same-id"})
    assert again.duplicate and again.seq == first.seq
