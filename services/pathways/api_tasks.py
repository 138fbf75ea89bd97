"""Task commands: ``POST /v1/tasks/{id}/accept|start|complete|reject|fail|reassign|cancel``.

The decider says who may make each transition; an illegal one answers 409 with
the task's current status and what is allowed from it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.datastructures import State
from litestar.params import Body

from contracts import shapes
from contracts.events import Actor
from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.auth import Principal, requires
from parcours.problems import Problem
from parcours.service import Resources, correlation_id
from pathways.domain import (
    AcceptTask,
    CancelTask,
    CompleteTask,
    FailTask,
    ReassignTask,
    RejectTask,
    StartTask,
)
from pathways.errors import domain_problem

ACTORS = (Role.COORDINATOR, Role.ADMIN, *PROFESSIONAL_ROLES)


class TaskCommandBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    findings: shapes.Note | None = None  # type: ignore[valid-type]
    reason: shapes.Note | None = None  # type: ignore[valid-type]
    assignee: shapes.Rpps | None = None  # an RPPS; null puts the task back in its pool


class TaskAnswer(msgspec.Struct, frozen=True):
    task_id: uuid.UUID
    events: list[str]  # the types of the events the command recorded


async def locate_task(resources: Resources, cpts: str, task_id: uuid.UUID) -> str:
    """The stream of a task of this CPTS (the index is caught up once when it misses)."""
    for attempt in range(2):
        row = await resources.pool.fetchrow(
            "SELECT cpts, stream FROM task_index WHERE task_id = $1", task_id
        )
        if row is not None and row["cpts"] == cpts:
            return row["stream"]
        if attempt == 0:
            await resources.extra["scheduler"].index.catch_up()
    raise Problem(404, "Unknown task", f"no task {task_id} in this CPTS")


def _command(action: str, task_id: uuid.UUID, body: TaskCommandBody, who: Principal) -> object:
    actor = {"actor_id": who.sub, "actor_role": who.actor_role}
    match action:
        case "accept":
            return AcceptTask(task_id=task_id, **actor)
        case "start":
            return StartTask(task_id=task_id, **actor)
        case "complete":
            return CompleteTask(task_id=task_id, findings=body.findings, **actor)
        case "reject":
            return RejectTask(task_id=task_id, reason=body.reason, **actor)
        case "fail":
            if not body.reason:
                raise Problem(422, "Missing reason", "say why the task failed", field="reason")
            return FailTask(task_id=task_id, reason=body.reason, **actor)
        case "reassign":
            return ReassignTask(task_id=task_id, assignee=body.assignee, **actor)
        case "cancel":
            if not body.reason:
                raise Problem(
                    422, "Missing reason", "say why the task is cancelled", field="reason"
                )
            return CancelTask(task_id=task_id, reason=body.reason, **actor)
    raise Problem(404, "Unknown action", f"no task action {action!r}")


@post(
    "/v1/tasks/{task_id:uuid}/{action:str}",
    guards=[requires(*ACTORS)],
    tags=["tasks"],
    summary="Act on a task: accept, start, complete, reject, fail, reassign, cancel",
    status_code=200,
)
async def task_command(
    request: Request[Any, Any, Any],
    state: State,
    task_id: uuid.UUID,
    action: str,
    data: Annotated[TaskCommandBody | None, Body()] = None,
) -> TaskAnswer:
    resources: Resources = state.resources
    who: Principal = request.user
    command = _command(action, task_id, data or TaskCommandBody(), who)
    stream = await locate_task(resources, who.cpts, task_id)
    now = await resources.clock.now()
    async with resources.pool.acquire() as conn:
        try:
            events = await resources.extra["decider"].execute(
                conn,
                stream=stream,
                cpts=who.cpts,
                command=command,
                actor=Actor(id=who.sub, role=who.actor_role),
                correlation_id=correlation_id(request.scope.get("state", {})),
                now=now,
            )
        except Exception as exc:
            raise domain_problem(exc) from exc
    return TaskAnswer(task_id=task_id, events=[e.type for e in events])
