"""GP access (ACI mission 1-A) at the pathways edge.

- ``POST /v1/gp-access/requests``: a professional or a coordinator refers a patient
  without a GP (identity by INS; the age comes from the birth date, the zone from the
  commune); the decider gives the priority from the policy file.
- ``POST /v1/gp-access/requests/{id}/take|decline|contact|close``: a GP takes it from the
  waiting list (first claim wins: the second answers 409), the GP who took it declines
  it (back on the list), the coordinator records the contact or an outcome.
- ``POST /v1/gp-access/capacity``: a GP (or the coordinator for her) declares how many
  new patients she accepts over a period, for which profiles (``GPCapacityDeclared`` on
  her professional stream).
The waiting list itself is a read model of the projections service.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, post
from litestar.params import Body, Parameter

from contracts import shapes
from contracts.access import GPAccessRequested, GPCapacityDeclared
from contracts.events import patient_of_stream
from contracts.identity import PatientIdentity
from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.auth import Principal, requires
from parcours.bodies import strict_body
from parcours.problems import Problem
from pathways.api.origin import request_origin
from pathways.api.professional_streams import append_declaration
from pathways.domain import (
    CloseGPRequest,
    DeclineGPRequest,
    RecordPatientContact,
    RequestGPAccess,
    TakeGPRequest,
)
from pathways.domain.planning import local_date
from pathways.errors import domain_problem
from pathways.fastids import new_uuid4
from pathways.identity import check_identity
from pathways.ingest import write_for_patient
from pathways.runtime import PathwaysRuntime

REFERRERS = (Role.COORDINATOR, Role.ADMIN, *PROFESSIONAL_ROLES)
Criterion = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$(?!\n)")]


class GPAccessBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    patient: PatientIdentity
    criteria: Annotated[list[Criterion], msgspec.Meta(max_length=12)] = []
    request_id: uuid.UUID | None = None


class GPAccessAccepted(msgspec.Struct, frozen=True):
    request_id: uuid.UUID
    priority: str
    target_days: int
    criteria: list[str]


class RequestCommandBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: shapes.Note | None = None  # type: ignore[valid-type]
    outcome: Literal["unreachable", "moved-away", "withdrawn"] | None = None


class RequestAnswer(msgspec.Struct, frozen=True):
    request_id: uuid.UUID
    events: list[str]
    # to whom took it (a GP, a professional accepting SNP): the patient, whose identity
    # she may then read (GET /v1/patients/{patient_id}/identity)
    patient_id: uuid.UUID | None = None


def age_on(born: dt.date | None, day: dt.date) -> int | None:
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@post(
    "/v1/gp-access/requests",
    guards=[requires(*REFERRERS)],
    before_request=strict_body(GPAccessBody),
    tags=["gp-access"],
    summary="Refer a patient without a GP to the CPTS (ACI mission 1-A)",
    status_code=201,
)
async def request_gp_access(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, data: Annotated[GPAccessBody, Body()]
) -> GPAccessAccepted:
    who: Principal = request.user
    check_identity(data.patient)
    now = await runtime.resources.clock.now()
    command = RequestGPAccess(
        actor_id=who.sub,
        actor_role=who.actor_role,
        request_id=data.request_id or new_uuid4(),
        criteria=list(data.criteria),
        age=age_on(data.patient.birth_date, local_date(now)),
        zone=data.patient.commune,
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
    filed = next(e.data for e in events if isinstance(e.data, GPAccessRequested))
    return GPAccessAccepted(filed.request_id, filed.priority, filed.target_days, filed.criteria)


async def locate_request(runtime: PathwaysRuntime, cpts: str, request_id: uuid.UUID) -> str:
    """The stream of an access request of this CPTS (the index caught up once on a miss)."""
    for attempt in range(2):
        row = await runtime.resources.pool.fetchrow(
            "SELECT cpts, stream FROM access_request_index WHERE request_id = $1", request_id
        )
        if row is not None and row["cpts"] == cpts:
            return row["stream"]
        if attempt == 0:
            await runtime.scheduler.index.catch_up()
    raise Problem(404, "Unknown request", f"no access request {request_id} in this CPTS")


GP_ACTIONS = ("take", "decline", "contact", "close")


def _gp_command(action: str, request_id: uuid.UUID, body: RequestCommandBody, who: Principal):  # type: ignore[no-untyped-def]
    actor = {"actor_id": who.sub, "actor_role": who.actor_role, "request_id": request_id}
    match action:
        case "take":
            return TakeGPRequest(**actor)
        case "contact":
            return RecordPatientContact(**actor)
        case "decline":
            if not body.reason:
                raise Problem(422, "Missing reason", "say why you decline it", field="reason")
            return DeclineGPRequest(reason=body.reason, **actor)
        case "close":
            if body.outcome is None:
                raise Problem(
                    422, "Missing outcome", "unreachable, moved-away or withdrawn", field="outcome"
                )
            return CloseGPRequest(outcome=body.outcome, reason=body.reason, **actor)
    raise Problem(404, "Unknown action", f"no GP-access action {action!r}")


async def run_request_command(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, request_id: uuid.UUID, command
) -> RequestAnswer:  # type: ignore[no-untyped-def]
    who: Principal = request.user
    stream = await locate_request(runtime, who.cpts, request_id)
    now = await runtime.resources.clock.now()
    try:
        events = await runtime.streams.execute(stream, command, request_origin(request, now), now)
    except Exception as exc:
        raise domain_problem(exc) from exc
    types = [e.type for e in events]
    took = bool({"GPAccessTaken", "UnscheduledCareAccepted"} & set(types))
    return RequestAnswer(request_id, types, patient_of_stream(stream) if took else None)


@post(
    "/v1/gp-access/requests/{request_id:uuid}/{action:str}",
    guards=[requires(*REFERRERS)],
    tags=["gp-access"],
    summary="Act on a GP-access request: take (a GP), decline, contact, close",
    status_code=200,
)
async def gp_access_command(
    request: Request[Any, Any, Any],
    runtime: PathwaysRuntime,
    request_id: uuid.UUID,
    action: Annotated[str, Parameter(schema_extra={"enum": list(GP_ACTIONS)})],
    data: Annotated[RequestCommandBody | None, Body()] = None,
) -> RequestAnswer:
    command = _gp_command(action, request_id, data or RequestCommandBody(), request.user)
    return await run_request_command(request, runtime, request_id, command)


class CapacityBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    period_start: dt.date
    period_end: dt.date
    new_patients: Annotated[int, msgspec.Meta(ge=0, le=500)]
    profiles: Annotated[list[Criterion], msgspec.Meta(max_length=12)] = []
    gp: shapes.Rpps | None = None  # the coordinator declares for a GP  # type: ignore[valid-type]


class Declared(msgspec.Struct, frozen=True):
    stream: str
    version: int


@post(
    "/v1/gp-access/capacity",
    guards=[requires(Role.GP, Role.COORDINATOR, Role.ADMIN)],
    before_request=strict_body(CapacityBody),
    tags=["gp-access"],
    summary="Declare how many new patients a GP accepts over a period",
    status_code=201,
)
async def declare_capacity(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, data: Annotated[CapacityBody, Body()]
) -> Declared:
    who: Principal = request.user
    gp = who.sub if who.role == Role.GP else data.gp
    if gp is None:
        raise Problem(422, "Missing GP", "name the GP you declare for", field="gp")
    if who.role == Role.GP and data.gp not in (None, who.sub):
        raise Problem(403, "Not allowed", "a GP declares her own capacity", field="gp")
    if not data.period_start <= data.period_end <= data.period_start + dt.timedelta(days=366):
        raise Problem(
            422, "Bad period", "a period ends after it starts, within a year", field="period_end"
        )
    unknown = [
        p
        for p in data.profiles
        if runtime.access_policy and not runtime.access_policy.canonical([p])
    ]
    if unknown:
        raise Problem(
            422, "Unknown profile", "profiles are criteria of the priority policy", field="profiles"
        )
    event = GPCapacityDeclared(
        gp=gp,
        period_start=data.period_start,
        period_end=data.period_end,
        new_patients=data.new_patients,
        profiles=list(data.profiles),
        declared_by=who.sub,
    )
    now = await runtime.resources.clock.now()
    stream, version = await append_declaration(runtime, request, gp, event, now)
    return Declared(stream, version)
