"""Need-to-know commands on a patient: the care circle and break-the-glass.

- ``POST /v1/patients/{patient_id}/care-circle`` (coordinator, admin): add a professional
  to the patient's care circle or remove one, with a reason (``CareCircleChanged``,
  source ``coordinator``). Adding a professional the patient opposed is refused (403).
- ``POST /v1/patients/{patient_id}/break-glass`` (professionals): a professional outside
  the circle asks for access with a reason; granted for ``PARCOURS_BREAK_GLASS_HOURS``
  (default 4 h) from the service clock (``BreakGlassGranted``), notified to the CPTS's
  coordinators, logged with each read it lets through, and over on its own. A member
  needs none (``granted`` false); an opposed professional is refused (403).

Both go through the one write path; the decider (``pathways.domain.circle``) decides.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.params import Body

from contracts import pathway as ev
from contracts.care_circle import BreakGlassBody, CareCircleChangeBody
from contracts.events import patient_stream
from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.auth import Principal, requires
from parcours.problems import Problem
from pathways.api.origin import request_origin
from pathways.domain import BreakTheGlass, ChangeCareCircle
from pathways.errors import domain_problem
from pathways.runtime import PathwaysRuntime


class CareCircleAnswer(msgspec.Struct, frozen=True):
    patient_id: uuid.UUID
    events: list[str]  # the types of the events recorded (none: nothing changed)


class BreakGlassAnswer(msgspec.Struct, frozen=True):
    patient_id: uuid.UUID
    granted: bool  # false: already in the care circle, nothing to grant
    access_id: uuid.UUID | None = None
    expires_at: dt.datetime | None = None


async def known_patient(runtime: PathwaysRuntime, cpts: str, patient_id: uuid.UUID) -> str:
    """The stream of a patient of this CPTS, or 404 (no hint that it exists elsewhere)."""
    known = await runtime.resources.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM patient_identities WHERE cpts = $1 AND patient_id = $2)",
        cpts,
        patient_id,
    )
    if not known:
        raise Problem(404, "Unknown patient", "no patient with this id in this CPTS")
    return patient_stream(patient_id)


async def _execute(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, stream: str, command: object
) -> list[Any]:
    now = await runtime.resources.clock.now()
    try:
        return await runtime.streams.execute(stream, command, request_origin(request, now), now)
    except Exception as exc:
        raise domain_problem(exc) from exc


@post(
    "/v1/patients/{patient_id:uuid}/care-circle",
    guards=[requires(Role.COORDINATOR, Role.ADMIN)],
    tags=["patients"],
    summary="Add a professional to a patient's care circle, or remove one, with a reason",
    status_code=200,
)
async def change_care_circle(
    request: Request[Any, Any, Any],
    runtime: PathwaysRuntime,
    patient_id: uuid.UUID,
    data: Annotated[CareCircleChangeBody, Body()],
) -> CareCircleAnswer:
    who: Principal = request.user
    stream = await known_patient(runtime, who.cpts, patient_id)
    command = ChangeCareCircle(
        rpps=data.rpps,
        role=data.role,
        change=data.change,
        reason=data.reason,
        actor_id=who.sub,
        actor_role=who.role,
    )
    events = await _execute(request, runtime, stream, command)
    return CareCircleAnswer(patient_id=patient_id, events=[e.type for e in events])


@post(
    "/v1/patients/{patient_id:uuid}/break-glass",
    guards=[requires(*PROFESSIONAL_ROLES)],
    tags=["patients"],
    summary="Break-the-glass: access to a patient outside one's care circle, for a limited time",
    status_code=200,
)
async def break_glass(
    request: Request[Any, Any, Any],
    runtime: PathwaysRuntime,
    patient_id: uuid.UUID,
    data: Annotated[BreakGlassBody, Body()],
) -> BreakGlassAnswer:
    who: Principal = request.user
    stream = await known_patient(runtime, who.cpts, patient_id)
    if not data.reason.strip():
        raise Problem(422, "Missing reason", "say why you need access", field="reason")
    command = BreakTheGlass(
        reason=data.reason,
        hours=runtime.resources.settings.access.break_glass_hours,
        actor_id=who.sub,
        actor_role=who.actor_role,
    )
    events = await _execute(request, runtime, stream, command)
    grant = next((e.data for e in events if isinstance(e.data, ev.BreakGlassGranted)), None)
    if grant is None:
        return BreakGlassAnswer(patient_id=patient_id, granted=False)
    return BreakGlassAnswer(
        patient_id=patient_id, granted=True, access_id=grant.access_id, expires_at=grant.expires_at
    )
