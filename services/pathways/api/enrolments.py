"""Enrolments and protocols: ``POST /v1/enrolments`` (coordinator), ``GET /v1/enrolments/{id}``,
``GET /v1/protocols``, ``GET /v1/protocols/{id}/{version}``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import Body

from contracts.events import patient_of_stream
from contracts.facts import Instant
from contracts.identity import CareTeamEntry, PatientIdentity
from contracts.pathway import PatientEnrolled, TaskScheduled
from contracts.roles import PROFESSIONAL_ROLES, Role
from contracts.shapes import CARE_TEAM_MAX, ProtocolId
from parcours.access_log import record_access
from parcours.auth import Principal, requires
from parcours.bodies import strict_body
from parcours.problems import Problem
from pathways.api.origin import request_origin
from pathways.api.patient_identity import not_in_circle, reader_access
from pathways.domain import EnrolPatient
from pathways.errors import domain_problem
from pathways.fact_checks import fact_problem
from pathways.identity import check_identity
from pathways.ingest import write_for_patient
from pathways.runtime import PathwaysRuntime

READERS = (Role.COORDINATOR, Role.ADMIN, Role.AUDITOR, *PROFESSIONAL_ROLES)


class EnrolmentBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    patient: PatientIdentity
    protocol: ProtocolId
    anchor_at: Instant
    version: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    care_team: Annotated[list[CareTeamEntry], msgspec.Meta(max_length=CARE_TEAM_MAX)] = []
    expected_delivery: dt.date | None = None


class EnrolmentAccepted(msgspec.Struct, frozen=True):
    enrolment_id: uuid.UUID | None
    stream: str
    position: int
    tasks: int


class TaskView(msgspec.Struct, frozen=True):
    task_id: uuid.UUID
    activity: str
    occurrence: int
    role: str
    status: str
    earliest: dt.datetime
    due: dt.datetime
    assignee: str | None


class EnrolmentView(msgspec.Struct, frozen=True):
    enrolment_id: uuid.UUID
    patient_stream: str
    protocol: str
    version: int
    status: str
    anchor_type: str
    anchor_at: dt.datetime
    ends_at: dt.datetime | None
    close_reason: str | None
    tasks: list[TaskView]


@post(
    "/v1/enrolments",
    guards=[requires(Role.COORDINATOR, Role.ADMIN)],
    before_request=strict_body(EnrolmentBody),
    tags=["enrolments"],
    summary="Enrol a patient explicitly in a protocol (coordinator)",
    status_code=201,
)
async def enrol(
    request: Request[Any, Any, Any],
    runtime: PathwaysRuntime,
    data: Annotated[EnrolmentBody, Body()],
) -> EnrolmentAccepted:
    who: Principal = request.user
    check_identity(data.patient)
    now = await runtime.resources.clock.now()
    if (implausible := fact_problem(data, now)) is not None:
        raise implausible  # an anchor as plausible as a fact's date (no year 1, no 9999)
    command = EnrolPatient(
        actor_id=who.sub,
        actor_role=who.actor_role,
        protocol=data.protocol,
        anchor_at=data.anchor_at,
        version=data.version,
        zone=data.patient.commune,
        care_team=data.care_team,
        expected_delivery=data.expected_delivery,
    )
    origin = request_origin(request, data.anchor_at)
    async with runtime.resources.pool.acquire() as conn:
        try:
            w = await write_for_patient(
                runtime.streams, conn, who.cpts, data.patient, lambda _: (command, origin), now
            )
            events = w.only()
        except Exception as exc:
            raise domain_problem(exc) from exc
    enrolled = [e.data for e in events if isinstance(e.data, PatientEnrolled)]
    result = w.result
    return EnrolmentAccepted(
        enrolment_id=enrolled[0].enrolment_id if enrolled else None,
        stream=w.stream,
        position=result.positions[0] if result and not isinstance(result, Exception) else 0,
        tasks=sum(isinstance(e.data, TaskScheduled) for e in events),
    )


@get(  # not for auditors: internal patient ids and assignees
    "/v1/enrolments/{enrolment_id:uuid}",
    guards=[requires(*(r for r in READERS if r != Role.AUDITOR))],
    tags=["enrolments"],
    summary="An enrolment with its tasks",
)
async def get_enrolment(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, enrolment_id: uuid.UUID
) -> EnrolmentView:
    who: Principal = request.user
    pool = runtime.resources.pool
    row = await pool.fetchrow(
        "SELECT cpts, stream FROM enrolment_index WHERE enrolment_id = $1", enrolment_id
    )
    if row is None:
        await runtime.scheduler.index.catch_up()
        row = await pool.fetchrow(
            "SELECT cpts, stream FROM enrolment_index WHERE enrolment_id = $1", enrolment_id
        )
    if row is None or row["cpts"] != who.cpts:
        raise Problem(404, "Unknown enrolment", "no enrolment with this id in this CPTS")
    patient = await runtime.streams.read_state(row["stream"])
    # task details are the patient's data: her care circle, coordinators and admins
    now = await runtime.resources.clock.now()
    why = reader_access(who, patient, now)
    patient_id = patient_of_stream(row["stream"])
    await record_access(
        pool,
        request,
        "enrolment and its tasks",
        [patient_id] if patient_id else [],
        at=now,
        granted=why is not None,
        break_glass=why == "break-glass",
    )
    if why is None:
        raise not_in_circle()
    e = patient.enrolments[enrolment_id]
    tasks = [patient.tasks[t] for t in e.task_ids]
    return EnrolmentView(
        enrolment_id=e.enrolment_id,
        patient_stream=row["stream"],
        protocol=e.protocol,
        version=e.version,
        status=e.status,
        anchor_type=e.anchor_type,
        anchor_at=e.anchor_at,
        ends_at=e.ends_at,
        close_reason=e.close_reason,
        tasks=[
            TaskView(
                task_id=t.task_id,
                activity=t.activity,
                occurrence=t.occurrence,
                role=t.role,
                status=t.status,
                earliest=t.earliest,
                due=t.due,
                assignee=t.assignee,
            )
            for t in tasks
        ],
    )


class ProtocolSummary(msgspec.Struct, frozen=True):
    id: str
    version: int
    status: str
    title: dict[str, str]
    latest: bool


@get("/v1/protocols", guards=[requires(*READERS, Role.DISCHARGE_SYSTEM)], tags=["protocols"])
async def list_protocols(runtime: PathwaysRuntime) -> list[ProtocolSummary]:
    catalog = runtime.catalog
    latest = {(p.id, p.version) for p in catalog.latest_all()}
    return [
        ProtocolSummary(
            id=p.id,
            version=p.version,
            status=p.status,
            title=msgspec.to_builtins(p.title),
            latest=(p.id, p.version) in latest,
        )
        for p in catalog.all()
    ]


@get(
    "/v1/protocols/{protocol_id:str}/{version:int}",
    guards=[requires(*READERS, Role.DISCHARGE_SYSTEM)],
    tags=["protocols"],
)
async def get_protocol(runtime: PathwaysRuntime, protocol_id: str, version: int) -> dict[str, Any]:
    catalog = runtime.catalog
    try:
        return msgspec.to_builtins(catalog.get(protocol_id, version))
    except LookupError:
        raise Problem(
            404, "Unknown protocol", f"no protocol {protocol_id} version {version}"
        ) from None
