"""The router: task events in, notifications into the outbox, one transaction per batch.

It reads the patient streams' fact and enrolment events too, in stream order: an
admission or a discharge of a followed patient alerts their care circle
(``notifications.domain.alerts``), judged on what the router knew just before it.
Access-to-care events (unscheduled-care offers, accepts, escalations; GP-access
escalations) go to the offered professionals or the coordinators
(``notifications.domain.access``).

``RouterConsumer`` is ``parcours.consumer.EventConsumer`` (durable pull
consumer with one outstanding pull request, checkpoint written with the
effects, ack after commit) that wakes the outbox publisher after each commit,
so no polling delay sits on the path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg
import structlog
from nats.aio.client import Client as NATS

from contracts.events import patient_of_stream
from contracts.subjects import Subjects
from notifications import accessnotices, patientviews, taskviews
from notifications.domain.access import ACCESS_NOTICE_TYPES
from notifications.domain.alerts import ALERTS, FOLLOWED, alerts
from notifications.domain.routing import Addressed, TaskView, route, task_id_of
from notifications.outbox import enqueue
from parcours.consumer import Delivery, EventConsumer
from parcours.eventstore import StoredEvent

log = structlog.get_logger("notifications.router")

NAME = "notifications-router"


async def default_zones(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch("SELECT cpts, default_zone FROM directory_sectors")
    return {r["cpts"]: r["default_zone"] for r in rows}


def make_handler(subjects: Subjects, default_zone: str):  # type: ignore[no-untyped-def]
    """The consumer's handler: route a batch, keep task views, enqueue notifications."""

    async def handle(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        views: dict = await taskviews.load(
            conn, (t for d in deliveries if (t := task_id_of(d.envelope.data)) is not None)
        )
        sectors = await default_zones(conn)
        changed: dict = {}
        enrolments: dict = {}
        out: list[Addressed] = []
        for d in deliveries:
            env = d.envelope
            status = patientviews.ENROLMENT_STATUSES.get(env.type)
            patient = patient_of_stream(env.stream) if status or env.type in ALERTS else None
            if status is not None:
                if patient is not None:
                    enrolments[env.data.enrolment_id] = (env.cpts, patient, status)
                continue
            if env.type in ALERTS:
                if patient is not None:  # what the batch changed so far, then the patient
                    await taskviews.save(conn, list(changed.values()))
                    await patientviews.save_enrolments(conn, enrolments)
                    changed.clear()
                    enrolments.clear()
                    tasks, statuses = await patientviews.of_patient(
                        conn, env.cpts, patient, FOLLOWED
                    )
                    out.extend(alerts(env, tasks, statuses, subjects))
                continue
            if env.type in ACCESS_NOTICE_TYPES:
                out.extend((await accessnotices.notices(conn, env, subjects)).out)
                continue
            task_id = task_id_of(env.data)
            before: TaskView | None = views.get(task_id) if task_id else None
            routed = route(
                env, before, subjects=subjects, default_zone=sectors.get(env.cpts, default_zone)
            )
            if task_id is not None and routed.task is not None and routed.task != before:
                views[task_id] = changed[task_id] = routed.task
            if routed.task is None and task_id is not None and env.type != "EscalationRaised":
                log.warning("event of an unknown task", event_id=str(env.event_id), type=env.type)
            out.extend(routed.out)
        await taskviews.save(conn, list(changed.values()))
        await patientviews.save_enrolments(conn, enrolments)
        await enqueue(conn, out)

    return handle


def replayer(resources, consumer: str):  # type: ignore[no-untyped-def]
    """``parcours dead-letters replay notifications-router``: route the events now."""
    handle = make_handler(resources.subjects, resources.settings.notifications.default_zone)

    async def replay(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        await handle(conn, [Delivery(0, e.envelope(), replayed=True) for e in events])

    return replay


class RouterConsumer(EventConsumer):
    def __init__(self, *, nc: NATS, on_commit: Callable[[], None], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.nc, self.on_commit = nc, on_commit

    async def apply(self, deliveries: Sequence[Delivery], undecoded: Sequence = ()) -> None:
        await super().apply(deliveries, undecoded)
        self.on_commit()
