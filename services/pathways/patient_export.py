"""A patient's data, for the patient's right of access (RGPD art. 15): the identity, the
timeline (every event of the stream), the tasks, the care circle and who read the data.

``patient_export`` builds the JSON document, ``fhir_bundle`` the same as a FHIR R4
``collection`` Bundle: a ``Patient`` (fr-core style INS identifier), a ``Task`` per task,
a ``Basic`` per timeline event (its type and instant) and an ``AuditEvent`` per logged
read. Pure: the route (``pathways.api.patient_export``) reads and logs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from parcours.access_log import AccessEntry
from pathways.domain import PatientState

RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
EVENT_SYSTEM = "https://parcours.example/fhir/CodeSystem/event-type"
ACTIVITY_SYSTEM = "https://parcours.example/fhir/CodeSystem/activity"
ROLE_SYSTEM = "https://parcours.example/fhir/CodeSystem/role"
OCCURRED_AT = "https://parcours.example/fhir/StructureDefinition/occurred-at"
GENDER = {"F": "female", "M": "male"}


class ExportedEvent(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    data: dict[str, Any]


class ExportedTask(msgspec.Struct, frozen=True, kw_only=True):
    task_id: uuid.UUID
    enrolment_id: uuid.UUID
    activity: str
    occurrence: int
    role: str
    status: str
    earliest: dt.datetime
    due: dt.datetime
    assignee: str | None
    completed_at: dt.datetime | None


class CircleMember(msgspec.Struct, frozen=True):
    rpps: str
    role: str


class PatientExport(msgspec.Struct, frozen=True, kw_only=True):
    patient_id: uuid.UUID
    generated_at: dt.datetime
    identity: dict[str, Any] | None  # None once erased
    events: list[ExportedEvent]
    tasks: list[ExportedTask]
    care_circle: list[CircleMember]
    accesses: list[AccessEntry]


def patient_export(
    patient_id: uuid.UUID,
    now: dt.datetime,
    identity: dict[str, Any] | None,
    events: list[ExportedEvent],
    state: PatientState,
    accesses: list[AccessEntry],
) -> PatientExport:
    tasks = [
        ExportedTask(
            task_id=t.task_id,
            enrolment_id=t.enrolment_id,
            activity=t.activity,
            occurrence=t.occurrence,
            role=t.role,
            status=t.status,
            earliest=t.earliest,
            due=t.due,
            assignee=t.assignee,
            completed_at=t.completed_at,
        )
        for t in sorted(state.tasks.values(), key=lambda t: (t.due, str(t.task_id)))
    ]
    circle = [CircleMember(rpps, role) for rpps, role in sorted(state.circle.items())]
    return PatientExport(
        patient_id=patient_id,
        generated_at=now,
        identity=identity,
        events=events,
        tasks=tasks,
        care_circle=circle,
        accesses=accesses,
    )


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


def _patient(export: PatientExport) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": str(export.patient_id)}
    ident = export.identity
    if ident:
        resource["identifier"] = [{"system": f"urn:oid:{ident['oid']}", "value": ident["ins"]}]
        name: dict[str, Any] = {"use": "official"}
        if ident.get("birth_name"):
            name["family"] = ident["birth_name"]
        if ident.get("first_names"):
            name["given"] = ident["first_names"].split()
        if len(name) > 1:
            resource["name"] = [name]
        if ident.get("birth_date"):
            resource["birthDate"] = str(ident["birth_date"])
        if ident.get("sex"):
            resource["gender"] = GENDER.get(ident["sex"], "unknown")
    return resource


def _task(task: ExportedTask, patient: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(task.task_id),
        "status": task.status,
        "intent": "order",
        "code": {"coding": [{"system": ACTIVITY_SYSTEM, "code": task.activity}]},
        "for": {"reference": patient},
        "performerType": [{"coding": [{"system": ROLE_SYSTEM, "code": task.role}]}],
        "restriction": {"period": {"start": _instant(task.earliest), "end": _instant(task.due)}},
    }
    if task.assignee:
        resource["owner"] = {"identifier": {"system": RPPS_SYSTEM, "value": task.assignee}}
    if task.completed_at is not None:
        resource["executionPeriod"] = {"end": _instant(task.completed_at)}
    return resource


def _event(event: ExportedEvent, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Basic",
        "id": str(event.event_id),
        "code": {"coding": [{"system": EVENT_SYSTEM, "code": event.type}]},
        "subject": {"reference": patient},
        "created": event.occurred_at.date().isoformat(),
        "extension": [{"url": OCCURRED_AT, "valueDateTime": _instant(event.occurred_at)}],
    }


def _audit(entry: AccessEntry, patient: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "AuditEvent",
        "id": f"access-{n}",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
        },
        "action": "R",
        "recorded": _instant(entry.at),
        "outcome": "0" if entry.granted else "4",
        "purposeOfEvent": [{"text": "break-the-glass" if entry.break_glass else entry.purpose}],
        "agent": [
            {
                "who": {"identifier": {"value": entry.professional}},
                "role": [{"text": entry.role}],
                "requestor": True,
            }
        ],
        "source": {"observer": {"display": entry.route}},
        "entity": [{"what": {"reference": patient}}],
    }


def fhir_bundle(export: PatientExport) -> dict[str, Any]:
    patient = f"Patient/{export.patient_id}"
    resources = [
        _patient(export),
        *(_task(t, patient) for t in export.tasks),
        *(_event(e, patient) for e in export.events),
        *(_audit(a, patient, n) for n, a in enumerate(export.accesses, start=1)),
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(export.generated_at),
        "entry": [{"resource": r} for r in resources],
    }
