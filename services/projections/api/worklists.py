"""Worklists and enrolments for coordinators and professionals (identifying: access-logged).

A task is ``upcoming`` before its earliest instant, ``due`` between earliest and due,
``overdue`` after its due instant (or once the engine said so), judged at the
reference instant: ``at`` when given, else ``as_of``, else the service clock (virtual
in simulation). With ``as_of`` (a recorded instant) the rows are the versions valid at
that instant: the worklist as it could be seen then.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException

from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.access_log import record_access
from parcours.auth import Principal, requires
from parcours.problems import Problem
from projections.api.common import as_of_param, resources
from projections.circle_access import opposed_patients, professional_zones, readable_patients
from projections.queries import version_filter

OPEN = "('requested', 'accepted', 'in-progress')"
STAFF = (Role.COORDINATOR, Role.ADMIN)

_TASK_COLUMNS = """task_id, patient_id, enrolment_id, protocol, activity, occurrence, role, zone,
                   assignee, earliest, due, urgent, reason, status, overdue, escalated"""


TaskState = Literal["upcoming", "due", "overdue"]


class WorklistTask(msgspec.Struct, frozen=True, kw_only=True):
    """An open task (a row of ``proj_tasks``) and ``state``, judged at the worklist's ``at``."""

    task_id: uuid.UUID
    patient_id: uuid.UUID
    enrolment_id: uuid.UUID
    protocol: str
    activity: str
    occurrence: int
    role: str
    zone: str | None
    assignee: str | None
    earliest: dt.datetime
    due: dt.datetime
    urgent: bool
    reason: str | None
    status: str
    overdue: bool
    escalated: bool
    state: TaskState


class TaskCounts(msgspec.Struct, frozen=True, kw_only=True):
    open: int
    upcoming: int
    due: int
    overdue: int


class Worklist(msgspec.Struct, frozen=True, kw_only=True):
    at: dt.datetime
    counts: TaskCounts
    tasks: list[WorklistTask]


class Escalation(msgspec.Struct, frozen=True, kw_only=True):
    escalation_id: uuid.UUID
    patient_id: uuid.UUID
    enrolment_id: uuid.UUID
    task_id: uuid.UUID | None
    reason: str
    urgent: bool
    occurred_at: dt.datetime


class CoordinatorWorklist(msgspec.Struct, frozen=True, kw_only=True):
    at: dt.datetime
    counts: TaskCounts
    tasks: list[WorklistTask]
    escalations: list[Escalation]


class Enrolment(msgspec.Struct, frozen=True, kw_only=True):
    enrolment_id: uuid.UUID
    patient_id: uuid.UUID
    protocol: str
    protocol_version: str
    anchor_type: str
    anchor_at: dt.datetime
    zone: str | None
    status: str
    close_reason: str | None
    ends_at: dt.datetime | None


class EnrolmentList(msgspec.Struct, frozen=True):
    enrolments: list[Enrolment]


def _task(r: Any, now: dt.datetime) -> WorklistTask:
    state: TaskState = "upcoming" if now < r["earliest"] else "due"
    if r["overdue"] or now > r["due"]:
        state = "overdue"
    return WorklistTask(**dict(r), state=state)


async def _tasks(
    state: State,
    where: str,
    args: list[Any],
    as_of: dt.datetime | None,
    limit: int = 2000,
    judge: dt.datetime | None = None,
) -> tuple[list[WorklistTask], dt.datetime]:
    res = resources(state)
    now = judge or as_of or await res.clock.now()
    args = [*args, limit]
    limit_arg = len(args)
    if as_of is not None:
        args.append(as_of)
    rows = await res.pool.fetch(
        f"""SELECT {_TASK_COLUMNS} FROM proj_tasks
            WHERE {where} AND status IN {OPEN} AND {version_filter(as_of, len(args))}
            ORDER BY due, task_id LIMIT ${limit_arg}""",
        *args,
    )
    return [_task(r, now) for r in rows], now


def judge_instant(request: Request[Any, Any, Any]) -> dt.datetime | None:
    """``?at=``: the business instant at which due and overdue are judged (default: as_of,
    else the service clock)."""
    try:
        return as_of_param(request.query_params.get("at"))
    except Problem as exc:
        raise Problem(422, "Invalid at", exc.detail.replace("as_of", "at"), field="at") from None


def _counts(tasks: list[WorklistTask]) -> TaskCounts:
    counts = {"upcoming": 0, "due": 0, "overdue": 0}
    for t in tasks:
        counts[t.state] += 1
    return TaskCounts(open=len(tasks), **counts)


async def _answer(
    request: Request[Any, Any, Any],
    state: State,
    purpose: str,
    tasks: list[WorklistTask],
    now: dt.datetime,
) -> Worklist:
    await record_access(resources(state).pool, request, purpose, (t.patient_id for t in tasks))
    return Worklist(at=now, counts=_counts(tasks), tasks=tasks)


@get(
    "/v1/worklists/me",
    guards=[requires(*PROFESSIONAL_ROLES)],
    tags=["worklists"],
    summary="My open tasks",
)
async def my_worklist(
    request: Request[Any, Any, Any], state: State, as_of: str | None = None
) -> Worklist:
    at = as_of_param(as_of)
    p: Principal = request.user
    tasks, now = await _tasks(
        state, "cpts = $1 AND assignee = $2", [p.cpts, p.sub], at, judge=judge_instant(request)
    )
    # her tasks, of the patients whose circle she is in (an opposition takes them out)
    clock_now = await resources(state).clock.now()
    readable = await readable_patients(
        resources(state).pool, p, [t.patient_id for t in tasks], clock_now
    )
    tasks = [t for t in tasks if t.patient_id in readable]
    return await _answer(request, state, "worklist (own tasks)", tasks, now)


@get(
    "/v1/worklists/pool/{role:str}/{zone:str}",
    guards=[requires(*PROFESSIONAL_ROLES, *STAFF)],
    tags=["worklists"],
    summary="The open tasks of a pool (a role in a zone) that nobody took yet",
)
async def pool_worklist(
    request: Request[Any, Any, Any], state: State, role: str, zone: str, as_of: str | None = None
) -> Worklist:
    at = as_of_param(as_of)
    p: Principal = request.user
    if p.role not in STAFF:
        if p.actor_role != role:
            raise PermissionDeniedException(f"a {p.actor_role} sees the pools of its own role only")
        if zone not in await professional_zones(resources(state).pool, p):
            raise PermissionDeniedException(
                "a professional sees the pools of her own zones only (from the directory)"
            )
    tasks, now = await _tasks(
        state,
        "cpts = $1 AND role = $2 AND zone = $3 AND assignee IS NULL",
        [p.cpts, role, zone],
        at,
        judge=judge_instant(request),
    )
    if p.role not in STAFF:  # a patient who opposed sharing with her: not shown to her
        hidden = await opposed_patients(resources(state).pool, p, [t.patient_id for t in tasks])
        tasks = [t for t in tasks if t.patient_id not in hidden]
    return await _answer(request, state, f"worklist (pool {role}/{zone})", tasks, now)


@get(
    "/v1/worklists/coordinator",
    guards=[requires(*STAFF)],
    tags=["worklists"],
    summary="Every open task of the CPTS, overdue first, and the escalations",
)
async def coordinator_worklist(
    request: Request[Any, Any, Any], state: State, as_of: str | None = None
) -> CoordinatorWorklist:
    at = as_of_param(as_of)
    p: Principal = request.user
    tasks, now = await _tasks(
        state, "cpts = $1", [p.cpts], at, limit=5000, judge=judge_instant(request)
    )
    tasks.sort(key=lambda t: (t.state != "overdue", t.due))
    rows = await resources(state).pool.fetch(
        """SELECT escalation_id, patient_id, enrolment_id, task_id, reason, urgent, occurred_at
           FROM proj_escalations WHERE cpts = $1 AND recorded_at <= $2
           ORDER BY occurred_at DESC LIMIT 500""",
        p.cpts,
        at or dt.datetime.max.replace(tzinfo=dt.UTC),
    )
    escalations = [Escalation(**dict(r)) for r in rows]
    await record_access(
        resources(state).pool,
        request,
        "worklist (coordinator)",
        [t.patient_id for t in tasks] + [e.patient_id for e in escalations],
    )
    return CoordinatorWorklist(at=now, counts=_counts(tasks), tasks=tasks, escalations=escalations)


@get(
    "/v1/enrolments",
    guards=[requires(*STAFF, *PROFESSIONAL_ROLES)],
    tags=["worklists"],
    summary="Enrolments by status",
)
async def list_enrolments(
    request: Request[Any, Any, Any],
    state: State,
    status: str | None = None,
    protocol: str | None = None,
    as_of: str | None = None,
    limit: int = 1000,
) -> EnrolmentList:
    at = as_of_param(as_of)
    p: Principal = request.user
    args: list[Any] = [p.cpts, status, protocol, min(max(limit, 1), 10_000)]
    if at is not None:
        args.append(at)
    rows = await resources(state).pool.fetch(
        f"""SELECT enrolment_id, patient_id, protocol, protocol_version, anchor_type, anchor_at,
                   zone, status, close_reason, ends_at
            FROM proj_enrolments
            WHERE cpts = $1 AND ($2::text IS NULL OR status = $2)
              AND ($3::text IS NULL OR protocol = $3) AND {version_filter(at, 5)}
            ORDER BY anchor_at DESC LIMIT $4""",
        *args,
    )
    enrolments = [Enrolment(**dict(r)) for r in rows]
    if p.role not in STAFF:  # a professional lists the patients of her care circles only
        readable = await readable_patients(
            resources(state).pool,
            p,
            [e.patient_id for e in enrolments],
            await resources(state).clock.now(),
        )
        enrolments = [e for e in enrolments if e.patient_id in readable]
    await record_access(
        resources(state).pool, request, "enrolment list", (e.patient_id for e in enrolments)
    )
    return EnrolmentList(enrolments)
