"""Events of the pathway engine: enrolments and tasks.

A task's lifecycle follows FHIR Task statuses: requested, accepted,
in-progress, completed, rejected, cancelled, failed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from contracts.base import EventPayload

TaskStatus = Literal[
    "requested", "accepted", "in-progress", "completed", "rejected", "cancelled", "failed"
]
# "cancelled": the fact that started the enrolment was retracted (a cancelled discharge);
# indicators leave such an enrolment out, and the case list says so
# "merged": the patient record was merged into another (HL7 A40); the pathway goes on there
CloseReason = Literal["completed", "death", "withdrawn", "transferred", "cancelled", "merged"]

# Why a task was cancelled (``TaskCancelled.cause``). A plain string, not a Literal, so
# that a cause added later never stops an older reader. Indicators (PROTOCOLS.md § 0):
# an occurrence cancelled by a migration's re-planning, or by the fact that ends its
# recurrence, leaves the plan; any other cancellation leaves it missed (unless a death
# or readmission before its window closed takes it out).
CANCELLED_BY_CLOSURE = "closed"  # the enrolment closed: end of the pathway, death, transfer
CANCELLED_BY_PAUSE = "paused"  # a readmission paused the enrolment
CANCELLED_BY_STOP = "stopped"  # the fact that ends the recurrence arrived (delivery)
CANCELLED_BY_MIGRATION = "migrated"  # re-planned by a protocol migration
CANCELLED_ON_REQUEST = "requested"  # a person cancelled it (CancelTask)
CANCELLED_BY_RETRACTION = "discharge-cancelled"  # the discharge that started it was cancelled
CANCELLED_BY_MERGE = "merged"  # moved to the surviving patient of an identity merge
CANCELLED_AS_DUPLICATE = "merge-duplicate"  # the surviving patient already had it open


class PatientEnrolled(EventPayload, frozen=True, tag="PatientEnrolled"):
    enrolment_id: uuid.UUID
    protocol: str
    protocol_version: str
    anchor_type: str  # the fact type (or "CoordinatorEnrolment") that enrolled
    anchor_at: dt.datetime
    anchor_event_id: uuid.UUID | None = None
    zone: str | None = None  # sector used to route pool tasks
    enrolled_by: str | None = None
    ends_at: dt.datetime | None = None  # the pathway closes (completed) at this instant


class TaskScheduled(EventPayload, frozen=True, tag="TaskScheduled"):
    task_id: uuid.UUID
    enrolment_id: uuid.UUID
    protocol: str
    activity: str
    occurrence: int
    role: str
    earliest: dt.datetime
    due: dt.datetime
    assignee: str | None = None  # RPPS when the care team names one; else a pool task
    zone: str | None = None
    urgent: bool = False
    reason: str | None = None  # e.g. the observation rule that raised it
    moved_from: uuid.UUID | None = None  # the task of a merged patient record it takes over


class TaskAccepted(EventPayload, frozen=True, tag="TaskAccepted"):
    task_id: uuid.UUID
    by: str  # RPPS
    role: str


class TaskStarted(EventPayload, frozen=True, tag="TaskStarted"):
    task_id: uuid.UUID
    by: str


class TaskCompleted(EventPayload, frozen=True, tag="TaskCompleted"):
    task_id: uuid.UUID
    completed_at: dt.datetime
    on_time: bool
    by: str | None = None  # RPPS or system id
    by_fact: uuid.UUID | None = None  # event id of the fact that completed it
    fact_type: str | None = None
    findings: str | None = None


class TaskRejected(EventPayload, frozen=True, tag="TaskRejected"):
    task_id: uuid.UUID
    by: str
    reason: str | None = None


class TaskReassigned(EventPayload, frozen=True, tag="TaskReassigned"):
    task_id: uuid.UUID
    by: str
    assignee: str | None  # None puts it back in the pool


class TaskCancelled(EventPayload, frozen=True, tag="TaskCancelled"):
    task_id: uuid.UUID
    reason: str
    by: str | None = None
    cause: str | None = None  # CANCELLED_BY_*; None in events stored before it existed


class TaskFailed(EventPayload, frozen=True, tag="TaskFailed"):
    task_id: uuid.UUID
    reason: str


class TaskOverdue(EventPayload, frozen=True, tag="TaskOverdue"):
    task_id: uuid.UUID
    due: dt.datetime


class EscalationRaised(EventPayload, frozen=True, tag="EscalationRaised"):
    escalation_id: uuid.UUID
    task_id: uuid.UUID | None
    enrolment_id: uuid.UUID
    reason: str
    urgent: bool = False


class ReminderDue(EventPayload, frozen=True, tag="ReminderDue"):
    task_id: uuid.UUID
    due: dt.datetime


class EnrolmentPaused(EventPayload, frozen=True, tag="EnrolmentPaused"):
    enrolment_id: uuid.UUID
    reason: str
    by_fact: uuid.UUID | None = None
    at: dt.datetime | None = None  # business time of the pause (the readmission)


class EnrolmentResumed(EventPayload, frozen=True, tag="EnrolmentResumed"):
    enrolment_id: uuid.UUID
    reason: str
    by_fact: uuid.UUID | None = None
    at: dt.datetime | None = None  # business time of the resumption (the discharge)
    ends_at: dt.datetime | None = None  # the end of the pathway, shifted by the pause


class EnrolmentClosed(EventPayload, frozen=True, tag="EnrolmentClosed"):
    enrolment_id: uuid.UUID
    reason: CloseReason
    by_fact: uuid.UUID | None = None
    detail: str | None = None  # e.g. "re-enrolled after readmission"
    superseded_by: uuid.UUID | None = None  # the enrolment that replaces it (reason transferred)


class ProtocolVersionChanged(EventPayload, frozen=True, tag="ProtocolVersionChanged"):
    enrolment_id: uuid.UUID
    protocol: str
    from_version: str
    to_version: str


class TaskNotified(EventPayload, frozen=True, tag="TaskNotified"):
    """An app reported that a task notification reached the professional's device."""

    task_id: uuid.UUID
    by: str
    at: dt.datetime


class TaskSeen(EventPayload, frozen=True, tag="TaskSeen"):
    """An app reported that the professional opened the task."""

    task_id: uuid.UUID
    by: str
    at: dt.datetime


CircleChange = Literal["added", "removed"]
# Why someone is in (or out of) a patient's care circle (``CareCircleChanged.source``).
CIRCLE_BY_TASK = "task"  # assigned to, claiming, starting or completing one of the tasks
CIRCLE_BY_GP_DECLARATION = "gp-declared"  # the declared médecin traitant
CIRCLE_BY_DISCHARGE = "discharge-care-team"  # named in a discharge's care team
CIRCLE_BY_COORDINATOR = "coordinator"  # an explicit addition or removal, with a reason
CIRCLE_BY_OPPOSITION = "opposition"  # the patient opposed sharing with this professional
CIRCLE_BY_GP_ACCESS = "gp-access"  # the GP who took the patient's GP-access request
CIRCLE_BY_UNSCHEDULED_CARE = "unscheduled-care"  # accepted an unscheduled-care request


class CareCircleChanged(EventPayload, frozen=True, tag="CareCircleChanged"):
    """A professional joined or left the patient's care circle (need-to-know access).

    Decided once by the pathways decider; every reader keeps a copy from the stream."""

    rpps: str
    role: str
    change: CircleChange
    source: str  # CIRCLE_BY_*
    reason: str | None = None
    by: str | None = None  # the coordinator of an explicit change


class BreakGlassGranted(EventPayload, frozen=True, tag="BreakGlassGranted"):
    """A professional outside the care circle was given access for a limited time, on a
    stated reason (emergency access, logged and notified to the coordinators)."""

    access_id: uuid.UUID
    rpps: str
    role: str
    reason: str
    granted_at: dt.datetime
    expires_at: dt.datetime


PATHWAY_PAYLOADS: tuple[type[EventPayload], ...] = (
    PatientEnrolled,
    TaskScheduled,
    TaskAccepted,
    TaskStarted,
    TaskCompleted,
    TaskRejected,
    TaskReassigned,
    TaskCancelled,
    TaskFailed,
    TaskOverdue,
    EscalationRaised,
    ReminderDue,
    EnrolmentPaused,
    EnrolmentResumed,
    EnrolmentClosed,
    ProtocolVersionChanged,
    TaskNotified,
    TaskSeen,
    CareCircleChanged,
    BreakGlassGranted,
)
