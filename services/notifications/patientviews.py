"""What the router knows of a patient, for the alerts to their care circle: the status of
each of their enrolments (``notification_enrolments``) and their tasks
(``notification_tasks``)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

import asyncpg

from notifications.domain.routing import TaskView
from notifications.taskviews import _COLUMNS

ENROLMENT_STATUSES = {
    "PatientEnrolled": "active",
    "EnrolmentPaused": "paused",
    "EnrolmentResumed": "active",
    "EnrolmentClosed": "closed",
}

_UPSERT = """
INSERT INTO notification_enrolments (enrolment_id, cpts, patient_id, status, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (enrolment_id) DO UPDATE SET status = excluded.status, updated_at = now()
"""


async def save_enrolments(
    conn: asyncpg.Connection, statuses: Mapping[uuid.UUID, tuple[str, uuid.UUID, str]]
) -> None:
    """``statuses``: enrolment id -> (cpts, patient id, status)."""
    if statuses:
        await conn.executemany(_UPSERT, [(e, *row) for e, row in statuses.items()])


async def of_patient(
    conn: asyncpg.Connection, cpts: str, patient_id: uuid.UUID, followed: Collection[str]
) -> tuple[list[TaskView], dict[uuid.UUID, str]]:
    """The patient's enrolment statuses, and their tasks when an enrolment has a status in
    ``followed`` (a patient nobody follows has no circle to tell: one query, not two)."""
    enrolments = await conn.fetch(
        "SELECT enrolment_id, status FROM notification_enrolments"
        " WHERE cpts = $1 AND patient_id = $2",
        cpts,
        patient_id,
    )
    statuses = {r["enrolment_id"]: r["status"] for r in enrolments}
    if not any(status in followed for status in statuses.values()):
        return [], statuses
    tasks = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notification_tasks WHERE cpts = $1 AND patient_id = $2",
        cpts,
        patient_id,
    )
    return [TaskView(**dict(r)) for r in tasks], statuses
