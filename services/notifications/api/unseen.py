"""``GET /v1/coordinator/unseen``: open tasks whose professional has not opened them.

The coordinator's question after an escalation: who has not even seen this
urgent task? Built from what the notifications service already keeps: the
task views (urgent, overdue, assignee) and the receipts apps report
(``delivered``, ``seen``). A pool task counts as unseen until someone takes it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from contracts.roles import Role
from notifications.domain.routing import OPEN_STATUSES
from parcours.auth import requires
from parcours.service import Resources


class UnseenTask(msgspec.Struct, frozen=True):
    task_id: uuid.UUID
    patient_id: uuid.UUID | None
    activity: str
    role: str
    zone: str
    assignee: str | None
    due: dt.datetime
    urgent: bool
    overdue: bool
    delivered: bool  # the app reported the notification reached the device


class Unseen(msgspec.Struct, frozen=True):
    tasks: list[UnseenTask]


@get(
    "/v1/coordinator/unseen",
    guards=[requires(Role.COORDINATOR, Role.ADMIN)],
    tags=["coordinator"],
    summary="Open urgent or overdue tasks that their professional has not seen",
)
async def unseen_tasks(
    request: Request[Any, Any, Any], state: State, urgent_only: bool = True
) -> Unseen:
    resources: Resources = state.resources
    rows = await resources.pool.fetch(
        """SELECT t.task_id, t.patient_id, t.activity, t.role, t.zone, t.assignee, t.due,
                  t.urgent, t.overdue,
                  EXISTS (SELECT 1 FROM notification_receipts r WHERE r.task_id = t.task_id
                          AND r.rpps = t.assignee AND r.status = 'delivered') AS delivered
           FROM notification_tasks t
           WHERE t.cpts = $1 AND t.status = ANY($2::text[])
             AND ($3 = false OR t.urgent OR t.overdue)
             AND NOT EXISTS (SELECT 1 FROM notification_receipts r WHERE r.task_id = t.task_id
                             AND r.rpps = t.assignee AND r.status = 'seen')
           ORDER BY t.due, t.task_id""",
        request.user.cpts,
        list(OPEN_STATUSES),
        urgent_only,
    )
    return Unseen(tasks=[UnseenTask(**dict(r)) for r in rows])
