"""``GET /v1/patients/{patient_id}/export``: a patient's data for the right of access.

For the CPTS's coordinators, its data-protection officer (``dpo``) and admins, who answer
the patient's request: the identity, every event of the patient's stream (the timeline),
the tasks, the care circle and every logged read of the patient's data, as JSON
(``format=json``) or as a FHIR R4 collection Bundle (``format=fhir``). The export is a
read of patient data: it is access-logged before it is answered (and lists itself).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get

from contracts.events import patient_stream
from contracts.roles import Role
from parcours.access_log import access_entries, record_access
from parcours.auth import Principal, requires
from parcours.eventstore import EventStore
from parcours.problems import Problem
from pathways.patient_export import ExportedEvent, PatientExport, fhir_bundle, patient_export
from pathways.runtime import PathwaysRuntime

EXPORTERS = (Role.COORDINATOR, Role.DPO, Role.ADMIN)
IDENTITY_FIELDS = ("birth_name", "first_names", "sex", "birth_date", "birthplace")


@get(
    "/v1/patients/{patient_id:uuid}/export",
    guards=[requires(*EXPORTERS)],
    tags=["patients"],
    summary="A patient's data (right of access): identity, timeline, tasks, who read it",
    description=__doc__,
)
async def export_patient(
    request: Request[Any, Any, Any],
    runtime: PathwaysRuntime,
    patient_id: uuid.UUID,
    format: Literal["json", "fhir"] = "json",  # noqa: A002 - the query parameter's name
) -> PatientExport:  # or application/fhir+json (format=fhir): a Response
    who: Principal = request.user
    now = await runtime.resources.clock.now()
    stream = patient_stream(patient_id)
    async with runtime.resources.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """SELECT ins, ins_oid, traits::text AS traits, commune FROM patient_identities
               WHERE cpts = $1 AND patient_id = $2""",
            who.cpts,
            patient_id,
        )
        stored = await EventStore(conn).read_stream(stream)
        stored = [e for e in stored if e.cpts == who.cpts]
        if row is None and not stored:
            raise Problem(404, "Unknown patient", "no patient with this id in this CPTS")
        await record_access(conn, request, "patient data export", [patient_id], at=now)
        state = await runtime.streams.read_state(stream, conn=conn)
        accesses = await access_entries(conn, who.cpts, patient=patient_id)
    identity = None
    if row is not None:
        traits = msgspec.json.decode(row["traits"])
        identity = {k: traits.get(k) for k in IDENTITY_FIELDS if traits.get(k) is not None}
        identity.update(ins=row["ins"], oid=row["ins_oid"], commune=row["commune"])
    events = [
        ExportedEvent(
            event_id=e.event_id,
            type=e.type,
            occurred_at=e.occurred_at,
            recorded_at=e.recorded_at,
            data=msgspec.json.decode(e.data),
        )
        for e in stored
    ]
    export = patient_export(patient_id, now, identity, events, state, accesses)
    if format == "fhir":
        return Response(fhir_bundle(export), media_type="application/fhir+json")  # type: ignore[return-value]
    return export
