"""A professional's own view: open tasks, and receipts of notifications.

Receipts become events
    ``POST /v1/me/notifications/{task_id}/receipt {"status": "delivered"|"seen"}``
    appends ``TaskNotified`` or ``TaskSeen`` to the patient's stream, so that a
    coordinator (through the projections) knows who has not seen an urgent task.
    The notifications service appends with ``parcours.eventstore.EventStore``,
    the shared runtime's writer of the system's log, never through the pathways
    service's code: ``expected_version=ANY`` (a receipt decides nothing, it
    cannot conflict with what the engine decided), actor = the professional
    (RPPS, acting role), the patient stream from ``notification_tasks``. The
    row in ``notification_receipts`` is written in the same transaction: a
    second receipt of the same status answers 200 with the first one and
    appends nothing. The event id is a UUIDv5 of (task, professional, status).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State

from contracts import pathway as ev
from contracts.events import Actor, NewEvent, patient_stream
from contracts.notifications import Window
from contracts.roles import PROFESSIONAL_ROLES, Role
from notifications import taskviews
from notifications.directory import caller_zones
from notifications.domain.audience import concerns
from parcours.auth import Principal, requires
from parcours.eventstore import ANY, EventStore
from parcours.problems import Problem
from parcours.service import Resources, correlation_id

RECEIPT_NAMESPACE = uuid.UUID("5b0c3f5e-6c38-4c53-9a43-2f0d7c6f1a11")


class TaskLine(msgspec.Struct, frozen=True, kw_only=True):
    task_id: uuid.UUID
    patient_id: uuid.UUID | None
    protocol: str
    activity: str
    occurrence: int
    role: str
    status: str
    window: Window
    urgent: bool
    overdue: bool
    pool: bool
    zone: str | None
    assignee: str | None


class TaskList(msgspec.Struct, frozen=True):
    tasks: list[TaskLine]


class Receipt(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: Literal["delivered", "seen"]


class ReceiptRecorded(msgspec.Struct, frozen=True):
    task_id: uuid.UUID
    status: str
    event_id: uuid.UUID
    at: dt.datetime
    duplicate: bool = False


@get(
    "/v1/me/tasks",
    guards=[requires(*PROFESSIONAL_ROLES)],
    tags=["notifications"],
    summary="The caller's open tasks, then their pools' unclaimed ones",
)
async def my_tasks(
    request: Request[Principal, Any, Any], state: State, include_pool: bool = True
) -> TaskList:
    resources: Resources = state.resources
    principal = request.user
    zones = await caller_zones(resources.pool, principal)
    rows = await taskviews.open_for(
        resources.pool,
        principal.cpts,
        principal.sub,
        principal.actor_role,
        zones,
        include_pool=include_pool,
    )
    return TaskList(
        [
            TaskLine(
                task_id=r["task_id"],
                patient_id=r["patient_id"],
                protocol=r["protocol"],
                activity=r["activity"],
                occurrence=r["occurrence"],
                role=r["role"],
                status=r["status"],
                window=Window(earliest=r["earliest"], due=r["due"]),
                urgent=r["urgent"],
                overdue=r["overdue"],
                pool=r["pool"],
                zone=r["zone"] if r["pool"] else None,
                assignee=r["assignee"],
            )
            for r in rows
        ]
    )


@post(
    "/v1/me/notifications/{task_id:uuid}/receipt",
    guards=[requires(*PROFESSIONAL_ROLES, Role.COORDINATOR)],
    tags=["notifications"],
    summary="Report that a task notification was delivered or seen",
    status_code=201,
)
async def post_receipt(
    request: Request[Principal, Any, Any], state: State, task_id: uuid.UUID, data: Receipt
) -> Response[ReceiptRecorded]:
    resources: Resources = state.resources
    principal = request.user
    task = await taskviews.one(resources.pool, task_id)
    zones = await caller_zones(resources.pool, principal)
    if task is None or not concerns(task, principal, zones) or task.patient_id is None:
        raise Problem(404, "Unknown task", f"no task {task_id} was notified to you")
    now = await resources.clock.now()
    event_id = uuid.uuid5(RECEIPT_NAMESPACE, f"{task_id}:{principal.sub}:{data.status}")
    kind = ev.TaskNotified if data.status == "delivered" else ev.TaskSeen
    event = NewEvent(
        event_id=event_id,
        data=kind(task_id=task_id, by=principal.sub, at=now),
        occurred_at=now,
        correlation_id=correlation_id(request.scope.get("state", {})),
        actor=Actor(id=principal.sub, role=principal.actor_role),
        cpts=task.cpts,
    )
    async with resources.pool.acquire() as conn, conn.transaction():
        first = await conn.fetchrow(
            """INSERT INTO notification_receipts (task_id, rpps, status, at, event_id)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING at""",
            task_id,
            principal.sub,
            data.status,
            now,
            event_id,
        )
        if first is None:
            earlier = await conn.fetchval(
                "SELECT at FROM notification_receipts WHERE task_id = $1 AND rpps = $2 AND status = $3",
                task_id,
                principal.sub,
                data.status,
            )
            return Response(
                ReceiptRecorded(task_id, data.status, event_id, earlier, duplicate=True),
                status_code=200,
            )
        await EventStore(conn).append(patient_stream(task.patient_id), ANY, [event], conn=conn)
    return Response(ReceiptRecorded(task_id, data.status, event_id, now), status_code=201)


ROUTES = [my_tasks, post_receipt]
