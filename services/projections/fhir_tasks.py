"""FHIR R4 ``Task`` resources from the task read model (``proj_tasks``), in a searchset Bundle.

The engine's task states are FHIR Task statuses already (requested, accepted,
in-progress, completed, rejected, failed, cancelled); ``STATUSES`` says so explicitly so
that a renamed internal state cannot leak out unmapped. The patient is referenced by
the internal patient id (``Patient/<uuid>``), never by an identity; the owner by the
RPPS (identifier system: the ANS national professional identifier OID). A task that no
one took yet has no owner, only the role (``performerType``) of its pool.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from contracts.fhir_searchset import searchset

# task state (proj_tasks.status) -> FHIR R4 Task.status
STATUSES: dict[str, str] = {
    "requested": "requested",
    "accepted": "accepted",
    "in-progress": "in-progress",
    "completed": "completed",
    "rejected": "rejected",
    "failed": "failed",
    "cancelled": "cancelled",
}
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
ACTIVITY_SYSTEM = "https://parcours.example/fhir/CodeSystem/activity"
ROLE_SYSTEM = "https://parcours.example/fhir/CodeSystem/role"


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


def task_resource(row: Mapping[str, Any]) -> dict[str, Any]:
    """One ``proj_tasks`` row (a live version) as a FHIR Task."""
    cpts, task_id = row["cpts"], str(row["task_id"])
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id,
        "identifier": [{"system": f"urn:parcours:{cpts}:task", "value": task_id}],
        "basedOn": [
            {
                "type": "CarePlan",
                "identifier": {
                    "system": f"urn:parcours:{cpts}:enrolment",
                    "value": str(row["enrolment_id"]),
                },
            }
        ],
        "status": STATUSES[row["status"]],
        "intent": "order",
        "priority": "urgent" if row["urgent"] else "routine",
        "code": {
            "coding": [{"system": ACTIVITY_SYSTEM, "code": f"{row['protocol']}/{row['activity']}"}],
            "text": row["activity"],
        },
        "description": f"{row['protocol']} {row['activity']}, occurrence {row['occurrence']}",
        "for": {"reference": f"Patient/{row['patient_id']}"},
        "lastModified": _instant(row["valid_from"]),
        "performerType": [{"coding": [{"system": ROLE_SYSTEM, "code": row["role"]}]}],
        "restriction": {
            "period": {"start": _instant(row["earliest"]), "end": _instant(row["due"])}
        },
    }
    if row["overdue"]:
        task["businessStatus"] = {"text": "overdue"}
    if row["assignee"]:
        task["owner"] = {"identifier": {"system": RPPS_SYSTEM, "value": row["assignee"]}}
    if row["completed_at"] is not None:
        task["executionPeriod"] = {"end": _instant(row["completed_at"])}
    if row["reason"]:
        task["reasonCode"] = {"text": row["reason"]}
    return task


def task_searchset(
    rows: Sequence[Mapping[str, Any]], base: str, *, complete: bool = True
) -> dict[str, Any]:
    """A ``searchset`` Bundle of the rows' Tasks, ``fullUrl`` under ``base``."""
    return searchset([task_resource(r) for r in rows], base, complete=complete)
