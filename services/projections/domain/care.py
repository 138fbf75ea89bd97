"""Rows of the care view (enrolments and tasks) and how each event changes them.

``evolve_enrolment(row, envelope)`` and ``evolve_task(row, envelope)`` are pure:
they return the new row (or the same one when the event does not concern it).
The first row of a task or an enrolment comes from its ``TaskScheduled`` or
``PatientEnrolled`` event; events about an unknown task or enrolment are
ignored (``None`` stays ``None``).
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from msgspec.structs import replace

from contracts import pathway as ev
from contracts.events import Envelope
from projections.domain.patients import patient_of
from projections.domain.periods import local_day

OPEN_STATUSES = ("requested", "accepted", "in-progress")


class EnrolmentRow(msgspec.Struct, frozen=True, kw_only=True):
    enrolment_id: uuid.UUID
    cpts: str
    patient_id: uuid.UUID
    pseudonym: str
    protocol: str
    protocol_version: str
    anchor_type: str
    anchor_at: dt.datetime
    anchor_day: dt.date
    zone: str | None
    status: str
    close_reason: str | None
    ends_at: dt.datetime | None
    event_id: uuid.UUID


class TaskRow(msgspec.Struct, frozen=True, kw_only=True):
    task_id: uuid.UUID
    cpts: str
    patient_id: uuid.UUID
    enrolment_id: uuid.UUID
    protocol: str
    activity: str
    occurrence: int
    role: str
    zone: str | None
    assignee: str | None
    earliest: dt.datetime
    due: dt.datetime
    urgent: bool
    reason: str | None
    status: str
    overdue: bool
    escalated: bool
    completed_at: dt.datetime | None
    on_time: bool | None
    event_id: uuid.UUID


class EscalationRow(msgspec.Struct, frozen=True, kw_only=True):
    escalation_id: uuid.UUID
    cpts: str
    patient_id: uuid.UUID
    enrolment_id: uuid.UUID
    task_id: uuid.UUID | None
    reason: str
    urgent: bool
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    event_id: uuid.UUID


ENROLMENT_EVENTS = frozenset(
    {
        "PatientEnrolled",
        "EnrolmentPaused",
        "EnrolmentResumed",
        "EnrolmentClosed",
        "ProtocolVersionChanged",
    }
)
TASK_EVENTS = frozenset(
    {
        "TaskScheduled",
        "TaskAccepted",
        "TaskStarted",
        "TaskCompleted",
        "TaskRejected",
        "TaskReassigned",
        "TaskCancelled",
        "TaskFailed",
        "TaskOverdue",
        "EscalationRaised",
    }
)


def enrolment_key(envelope: Envelope) -> uuid.UUID | None:
    if envelope.type in ENROLMENT_EVENTS:
        return envelope.data.enrolment_id
    return None


def task_key(envelope: Envelope) -> uuid.UUID | None:
    if envelope.type in TASK_EVENTS:
        return envelope.data.task_id
    return None


def evolve_enrolment(
    row: EnrolmentRow | None, envelope: Envelope, pseudonym: str = ""
) -> EnrolmentRow | None:
    e = envelope.data
    if isinstance(e, ev.PatientEnrolled):
        patient_id = patient_of(envelope.stream)
        if patient_id is None:
            return row
        return EnrolmentRow(
            enrolment_id=e.enrolment_id,
            cpts=envelope.cpts,
            patient_id=patient_id,
            pseudonym=pseudonym,
            protocol=e.protocol,
            protocol_version=str(e.protocol_version),
            anchor_type=e.anchor_type,
            anchor_at=e.anchor_at,
            anchor_day=local_day(e.anchor_at),
            zone=e.zone,
            status="active",
            close_reason=None,
            ends_at=e.ends_at,
            event_id=envelope.event_id,
        )
    if row is None:
        return None
    at = {"event_id": envelope.event_id}
    if isinstance(e, ev.EnrolmentPaused):
        return replace(row, status="paused", **at)
    if isinstance(e, ev.EnrolmentResumed):
        return replace(row, status="active", ends_at=e.ends_at or row.ends_at, **at)
    if isinstance(e, ev.EnrolmentClosed):
        return replace(row, status="closed", close_reason=e.reason, **at)
    if isinstance(e, ev.ProtocolVersionChanged):
        return replace(row, protocol_version=str(e.to_version), **at)
    return row


def evolve_task(row: TaskRow | None, envelope: Envelope) -> TaskRow | None:
    e = envelope.data
    if isinstance(e, ev.TaskScheduled):
        patient_id = patient_of(envelope.stream)
        if patient_id is None:
            return row
        return TaskRow(
            task_id=e.task_id,
            cpts=envelope.cpts,
            patient_id=patient_id,
            enrolment_id=e.enrolment_id,
            protocol=e.protocol,
            activity=e.activity,
            occurrence=e.occurrence,
            role=e.role,
            zone=e.zone,
            assignee=e.assignee,
            earliest=e.earliest,
            due=e.due,
            urgent=e.urgent,
            reason=e.reason,
            status="requested",
            overdue=False,
            escalated=False,
            completed_at=None,
            on_time=None,
            event_id=envelope.event_id,
        )
    if row is None:
        return None
    at = {"event_id": envelope.event_id}
    if isinstance(e, ev.TaskAccepted):
        return replace(row, status="accepted", assignee=e.by, **at)
    if isinstance(e, ev.TaskStarted):
        return replace(row, status="in-progress", **at)
    if isinstance(e, ev.TaskCompleted):
        return replace(
            row, status="completed", completed_at=e.completed_at, on_time=e.on_time, **at
        )
    if isinstance(e, ev.TaskRejected):
        # a rejected task goes back to its pool (the engine may also reassign it)
        return replace(row, status="rejected", **at)
    if isinstance(e, ev.TaskReassigned):
        return replace(row, status="requested", assignee=e.assignee, **at)
    if isinstance(e, ev.TaskCancelled):
        return replace(row, status="cancelled", **at)
    if isinstance(e, ev.TaskFailed):
        return replace(row, status="failed", **at)
    if isinstance(e, ev.TaskOverdue):
        return replace(row, overdue=True, **at)
    if isinstance(e, ev.EscalationRaised):
        return replace(row, escalated=True, **at)
    return row


def escalation_row(envelope: Envelope) -> EscalationRow | None:
    e = envelope.data
    patient_id = patient_of(envelope.stream)
    if not isinstance(e, ev.EscalationRaised) or patient_id is None:
        return None
    return EscalationRow(
        escalation_id=e.escalation_id,
        cpts=envelope.cpts,
        patient_id=patient_id,
        enrolment_id=e.enrolment_id,
        task_id=e.task_id,
        reason=e.reason,
        urgent=e.urgent,
        occurred_at=envelope.occurred_at,
        recorded_at=envelope.recorded_at,
        event_id=envelope.event_id,
    )
