"""``GET /v1/patients/{patient_id}/identity``: who the patient behind a task is.

Notifications carry the patient id only; an app fetches the identity here with
the professional's token. A coordinator may read any patient of their CPTS; a
professional only a patient with a task that is theirs, or open in the pool of
their role. Every attempt, granted or not, is written in ``identity_access_log``
(who, which patient, when, through which route) in the same transaction as the
read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Request, get

from contracts.events import patient_stream
from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.auth import Principal, requires
from parcours.problems import Problem
from pathways.domain import PatientState
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


def may_read(who: Principal, state: PatientState) -> bool:
    """A coordinator: yes. A professional: when one of the patient's tasks is theirs, or
    open in the pool of their role; a GP who took the patient's GP-access request (until
    it closes without her), a professional who accepted an unscheduled-care request."""
    if who.role in (Role.COORDINATOR, Role.ADMIN):
        return True
    if _took_access_request(who, state):
        return True
    role = who.actor_role
    return any(
        t.assignee == who.sub or (t.assignee is None and t.role == role and t.is_open)
        for t in state.tasks.values()
    )


def _took_access_request(who: Principal, state: PatientState) -> bool:
    access = state.access
    gp = any(
        r.taken_by == who.sub
        and r.status in ("taken", "closed")
        and r.outcome in (None, "gp-declared")
        for r in access.gp_requests.values()
    )
    return (
        gp
        or access.declared_gp == who.sub
        or any(r.accepted_by == who.sub for r in access.snp_requests.values())
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
    async with runtime.resources.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """SELECT ins, ins_oid, traits::text AS traits, commune FROM patient_identities
               WHERE cpts = $1 AND patient_id = $2""",
            who.cpts,
            patient_id,
        )
        granted = False
        if row is not None:
            patient = await runtime.streams.read_state(patient_stream(patient_id), conn=conn)
            granted = may_read(who, patient)
        await conn.execute(
            """INSERT INTO identity_access_log (cpts, reader, reader_role, patient_id, route, granted)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            who.cpts,
            who.sub,
            who.role,
            patient_id,
            request.url.path,
            granted,
        )
    if row is None:
        raise Problem(404, "Unknown patient", f"no patient {patient_id} in this CPTS")
    if not granted:
        raise Problem(
            403,
            "Not your patient",
            "a professional reads the identity of the patients of their own tasks "
            "(or of open tasks of their role's pool)",
        )
    view = {
        k: v
        for k, v in msgspec.json.decode(row["traits"]).items()
        if k in PatientIdentityView.__struct_fields__
    }
    view.update(patient_id=patient_id, ins=row["ins"], oid=row["ins_oid"], commune=row["commune"])
    return msgspec.convert(view, PatientIdentityView)
