"""Identity erasure: ``DELETE /v1/patients/identity`` (admin), body ``{ins, oid}``.

The identity row (INS, OID, traits, commune) is the only place where a patient
is identified; events carry the internal patient id only. Deleting the row
leaves the event log intact and no longer identifying: nothing maps the
patient id back to a person.

Expected consequence: a later fact with the same INS finds no identity row, so
it starts a NEW patient id (a new stream, with no history). The erased history
is not re-attached to the person; that is what erasure means.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Request, delete
from litestar.datastructures import State
from litestar.params import Body

from contracts.events import patient_stream
from contracts.identity import PatientIdentity
from contracts.roles import Role
from contracts.shapes import Label
from parcours.auth import Principal, requires
from parcours.problems import Problem
from parcours.service import Resources
from pathways.identity import check_identity
from pathways.interop.message_log import erase_patient as erase_hl7_messages

log = structlog.get_logger("pathways.identity")


class ErasureBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    ins: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    oid: Label  # type: ignore[valid-type]


class Erased(msgspec.Struct, frozen=True):
    patient_id: uuid.UUID
    stream: str
    events_kept: int


@delete(
    "/v1/patients/identity",
    guards=[requires(Role.ADMIN)],
    tags=["patients"],
    summary="Erase a patient's identity row (admin); the event log stays, no longer identifying",
    description=__doc__,
    status_code=200,
)
async def erase_identity(
    request: Request[Any, Any, Any], state: State, data: Annotated[ErasureBody, Body()]
) -> Erased:
    resources: Resources = state.resources
    who: Principal = request.user
    try:
        check_identity(PatientIdentity(ins=data.ins, oid=data.oid))
    except Problem as exc:
        exc.field = (exc.field or "").removeprefix("patient.")
        raise
    async with resources.pool.acquire() as conn, conn.transaction():
        patient_id = await conn.fetchval(
            """DELETE FROM patient_identities WHERE cpts = $1 AND ins = $2 AND ins_oid = $3
               RETURNING patient_id""",
            who.cpts,
            data.ins.upper(),
            data.oid,
        )
        if patient_id is None:
            raise Problem(404, "Unknown patient", "no identity with this INS and OID in this CPTS")
        stream = patient_stream(patient_id)
        await erase_hl7_messages(conn, who.cpts, stream, data.ins.upper())
        kept = await conn.fetchval("SELECT count(*) FROM events WHERE stream = $1", stream)
    log.info("identity erased", stream=stream, by=who.sub)  # never the INS
    return Erased(patient_id=patient_id, stream=stream, events_kept=kept)
