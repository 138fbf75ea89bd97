"""``GET /fhir/r4/Task?owner=<RPPS>&status=<FHIR status>``: a professional's tasks as FHIR
R4 Task resources in a searchset Bundle (identifying: access-logged).

Read from the task read model (``proj_tasks``, live versions), scoped to the caller's
CPTS. A professional sees her own tasks (``owner`` defaults to her RPPS; another owner
is refused); a coordinator or an admin any owner's, or every task of the CPTS when no
owner is given. ``status`` takes one FHIR Task status or several, comma-separated
(FHIR token OR); without it every status is listed. At most ``LIMIT`` tasks, soonest
due first: a Bundle cut there has no ``total``.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException

from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.access_log import record_access
from parcours.auth import Principal, requires
from parcours.problems import Problem
from projections.api.common import resources
from projections.circle_access import readable_patients
from projections.fhir_tasks import STATUSES, task_searchset

STAFF = (Role.COORDINATOR, Role.ADMIN)
LIMIT = 1000
RPPS = re.compile(r"[0-9]{11}")
FHIR_JSON = "application/fhir+json"


def _statuses(status: str | None) -> list[str]:
    if status is None:
        return list(STATUSES)
    wanted = status.split(",")
    unknown = [s for s in wanted if s not in STATUSES.values()]
    if unknown:
        raise Problem(
            422,
            "Invalid status",
            f"status is one or more of {', '.join(STATUSES.values())}, comma-separated",
            field="status",
        )
    return [internal for internal, fhir in STATUSES.items() if fhir in wanted]


def _owner(p: Principal, owner: str | None) -> str | None:
    if owner is not None and not RPPS.fullmatch(owner):
        raise Problem(422, "Invalid owner", "owner is an RPPS: 11 ASCII digits", field="owner")
    if p.role in STAFF:
        return owner
    if owner is not None and owner != p.sub:
        raise PermissionDeniedException("a professional sees her own tasks only")
    return p.sub


@get(
    "/fhir/r4/Task",
    guards=[requires(*PROFESSIONAL_ROLES, *STAFF)],
    tags=["fhir"],
    summary="FHIR R4 Task search: a professional's tasks (searchset Bundle)",
    description=__doc__,
)
async def fhir_tasks(
    request: Request[Any, Any, Any],
    state: State,
    owner: str | None = None,
    status: str | None = None,
) -> Response[Any]:
    p: Principal = request.user
    statuses, assignee = _statuses(status), _owner(p, owner)
    rows = await resources(state).pool.fetch(
        """SELECT task_id, cpts, patient_id, enrolment_id, protocol, activity, occurrence, role,
                  assignee, earliest, due, urgent, reason, status, overdue, completed_at,
                  valid_from
           FROM proj_tasks
           WHERE cpts = $1 AND valid_to IS NULL AND ($2::text IS NULL OR assignee = $2)
             AND status = ANY($3::text[])
           ORDER BY due, task_id LIMIT $4""",
        p.cpts,
        assignee,
        statuses,
        LIMIT + 1,
    )
    complete = len(rows) <= LIMIT
    rows = rows[:LIMIT]
    if p.role not in STAFF:  # her tasks, of the patients whose circle she is in
        now = await resources(state).clock.now()
        readable = await readable_patients(
            resources(state).pool, p, [r["patient_id"] for r in rows], now
        )
        rows = [r for r in rows if r["patient_id"] in readable]
    await record_access(
        resources(state).pool, request, "FHIR Task search", (r["patient_id"] for r in rows)
    )
    base = str(request.base_url).rstrip("/") + "/fhir/r4"
    return Response(task_searchset(rows, base, complete=complete), media_type=FHIR_JSON)
