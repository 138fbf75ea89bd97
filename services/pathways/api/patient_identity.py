"""``GET /v1/patients/{patient_id}/identity``: who the patient behind a task is.

Notifications carry the patient id only; an app fetches the identity here with
the professional's token. A coordinator or an admin may read any patient of their
CPTS; a professional only a patient whose care circle she is in (from the patient's
stream: ``CareCircleChanged``; a pool task's patient once she has claimed it), or with
an unexpired break-the-glass grant. Every attempt, granted or not, is written in the
shared ``access_log`` (who, which patient, when, through which route, break-the-glass
or not) in the same transaction as the read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Request, get

from contracts.events import patient_stream
from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.access_log import record_access
from parcours.auth import Principal, requires
from parcours.problems import Problem
from pathways.domain import PatientState
from pathways.domain.circle import may_read
from pathways.runtime import PathwaysRuntime


class PatientIdentityView(msgspec.Struct, frozen=True):
    patient_id: uuid.UUID
    ins: str
    oid: str
    birth_name: str | None = None
    first_names: str | None = None
    sex: str | None = None
    birth_date: dt.date | None = None
    birthplace: str | None = None
    commune: str | None = None


def reader_access(who: Principal, state: PatientState, now: dt.datetime) -> str | None:
    """``"staff"``, ``"circle"`` or ``"break-glass"``: why ``who`` may read; None: refused."""
    if who.role in (Role.COORDINATOR, Role.ADMIN):
        return "staff"
    if not may_read(state, who.sub, now):
        return None
    return "circle" if who.sub in state.circle else "break-glass"


def not_in_circle() -> Problem:
    return Problem(
        403,
        "Not in the care circle",
        "not in this patient's care circle: a professional reads the data of the patients "
        "whose circle she is in (a pool task's patient once she has claimed it), or asks "
        "for break-the-glass access with a reason (POST /v1/patients/{id}/break-glass)",
    )


@get(
    "/v1/patients/{patient_id:uuid}/identity",
    guards=[requires(Role.COORDINATOR, Role.ADMIN, *PROFESSIONAL_ROLES)],
    tags=["patients"],
    summary="The identity of a patient (logged; for the professionals of their tasks)",
)
async def read_identity(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime, patient_id: uuid.UUID
) -> PatientIdentityView:
    who: Principal = request.user
    now = await runtime.resources.clock.now()
    async with runtime.resources.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """SELECT ins, ins_oid, traits::text AS traits, commune FROM patient_identities
               WHERE cpts = $1 AND patient_id = $2""",
            who.cpts,
            patient_id,
        )
        why = None
        if row is not None:
            patient = await runtime.streams.read_state(patient_stream(patient_id), conn=conn)
            why = reader_access(who, patient, now)
        await record_access(
            conn,
            request,
            "patient identity",
            [patient_id],
            at=now,
            granted=why is not None,
            break_glass=why == "break-glass",
        )
    if row is None:
        raise Problem(404, "Unknown patient", "no patient with this id in this CPTS")
    if why is None:
        raise not_in_circle()
    view = {
        k: v
        for k, v in msgspec.json.decode(row["traits"]).items()
        if k in PatientIdentityView.__struct_fields__
    }
    view.update(patient_id=patient_id, ins=row["ins"], oid=row["ins_oid"], commune=row["commune"])
    return msgspec.convert(view, PatientIdentityView)
