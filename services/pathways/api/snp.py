"""Unscheduled care (soins non programmés, ACI mission 1-B) at the pathways edge.

- ``POST /v1/snp/slots``: a professional declares her SNP slots of a day in a zone.
- ``POST /v1/snp/requests``: a pharmacist, a nurse, the SAS (a ``service`` token) or a
  coordinator asks for a consultation within 24 h or 48 h; it is offered to the
  professionals of the patient's zone with slots that day (read here, recorded by the
  decider in ``UnscheduledCareRequested``).
- ``POST /v1/snp/requests/{id}/accept|close``: the first to accept takes it (a second
  acceptance answers 409); the outcome (seen, redirected, no-show, withdrawn).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, post
from litestar.params import Body, Parameter

from contracts import shapes
from contracts.access import SNPSlotsDeclared, UnscheduledCareRequested
from contracts.identity import PatientIdentity
from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.auth import Principal, requires
from parcours.bodies import strict_body
from parcours.problems import Problem
from pathways.api.access import Declared, RequestAnswer, run_request_command
from pathways.api.origin import request_origin
from pathways.api.professional_streams import append_declaration
from pathways.domain import AcceptUnscheduledCare, CloseUnscheduledCare, RequestUnscheduledCare
from pathways.domain.planning import local_date
from pathways.errors import domain_problem
from pathways.fastids import new_uuid4
from pathways.identity import check_identity
from pathways.ingest import write_for_patient
from pathways.runtime import PathwaysRuntime

REQUESTERS = (Role.PHARMACIST, Role.NURSE, Role.SERVICE, Role.COORDINATOR, Role.ADMIN)
ACTORS = (Role.COORDINATOR, Role.ADMIN, *PROFESSIONAL_ROLES)


class SlotsBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    day: dt.date
    zone: shapes.ZoneCode  # type: ignore[valid-type]
    slots: Annotated[int, msgspec.Meta(ge=0, le=100)]


@post(
    "/v1/snp/slots",
    guards=[requires(*PROFESSIONAL_ROLES)],
    before_request=strict_body(SlotsBody),
    tags=["snp"],
    summary="Declare unscheduled-care slots for a day in a zone",
    status_code=201,
)
async def declare_slots(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, data: Annotated[SlotsBody, Body()]
) -> Declared:
    who: Principal = request.user
    now = await runtime.resources.clock.now()
    today = local_date(now)
    if not today <= data.day <= today + dt.timedelta(days=62):
        raise Problem(
            422, "Bad day", "slots are declared for today or the next 2 months", field="day"
        )
    event = SNPSlotsDeclared(
        professional=who.sub, role=who.actor_role, day=data.day, zone=data.zone, slots=data.slots
    )
    stream, version = await append_declaration(runtime, request, who.sub, event, now)
    return Declared(stream, version)


class SNPBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    patient: PatientIdentity
    within_hours: Literal[24, 48]
    zone: shapes.ZoneCode | None = None  # type: ignore[valid-type]  # default: the commune
    reason: shapes.Note | None = None  # type: ignore[valid-type]
    request_id: uuid.UUID | None = None


class SNPAccepted(msgspec.Struct, frozen=True):
    request_id: uuid.UUID
    deadline: dt.datetime
    offered_to: int  # how many professionals it was offered to


@post(
    "/v1/snp/requests",
    guards=[requires(*REQUESTERS)],
    before_request=strict_body(SNPBody),
    tags=["snp"],
    summary="Ask for an unscheduled consultation within 24 h or 48 h",
    status_code=201,
)
async def request_unscheduled_care(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, data: Annotated[SNPBody, Body()]
) -> SNPAccepted:
    who: Principal = request.user
    check_identity(data.patient)
    zone = data.zone or data.patient.commune
    if zone is None:
        raise Problem(422, "Missing zone", "name the zone or the patient's commune", field="zone")
    now = await runtime.resources.clock.now()
    days = [local_date(now), local_date(now + dt.timedelta(hours=data.within_hours))]
    rows = await runtime.resources.pool.fetch(
        "SELECT DISTINCT professional FROM snp_slots WHERE cpts = $1 AND zone = $2 "
        "AND day = ANY($3::date[]) AND slots > 0",
        who.cpts,
        zone,
        days,
    )
    command = RequestUnscheduledCare(
        actor_id=who.sub,
        actor_role=who.actor_role,
        request_id=data.request_id or new_uuid4(),
        within_hours=data.within_hours,
        offered_to=[r["professional"] for r in rows],
        zone=zone,
        reason=data.reason,
    )
    origin = request_origin(request, now)
    async with runtime.resources.pool.acquire() as conn:
        try:
            w = await write_for_patient(
                runtime.streams, conn, who.cpts, data.patient, lambda _: (command, origin), now
            )
            events = w.only()
        except Exception as exc:
            raise domain_problem(exc) from exc
    filed = next(e.data for e in events if isinstance(e.data, UnscheduledCareRequested))
    return SNPAccepted(filed.request_id, filed.deadline, len(filed.offered_to))


class SNPCommandBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    outcome: Literal["seen", "redirected", "no-show", "withdrawn"] | None = None


SNP_ACTIONS = ("accept", "close")


@post(
    "/v1/snp/requests/{request_id:uuid}/{action:str}",
    guards=[requires(*ACTORS)],
    tags=["snp"],
    summary="Accept an unscheduled-care request (first wins) or record its outcome",
    status_code=200,
)
async def snp_command(
    request: Request[Any, Any, Any],
    runtime: PathwaysRuntime,
    request_id: uuid.UUID,
    action: Annotated[str, Parameter(schema_extra={"enum": list(SNP_ACTIONS)})],
    data: Annotated[SNPCommandBody | None, Body()] = None,
) -> RequestAnswer:
    who: Principal = request.user
    actor = {"actor_id": who.sub, "actor_role": who.actor_role, "request_id": request_id}
    body = data or SNPCommandBody()
    if action == "accept":
        command: object = AcceptUnscheduledCare(**actor)
    elif action == "close":
        if body.outcome is None:
            raise Problem(
                422, "Missing outcome", "seen, redirected, no-show or withdrawn", field="outcome"
            )
        command = CloseUnscheduledCare(outcome=body.outcome, **actor)
    else:
        raise Problem(404, "Unknown action", f"no SNP action {action!r}")
    return await run_request_command(request, runtime, request_id, command)
