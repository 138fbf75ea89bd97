"""Who hears about a task event: the pure routing core.

``route(envelope, task, subjects=, default_zone=)`` takes one task event and
what the router knows of its task (``TaskView``, ``None`` before its
``TaskScheduled``) and returns the task's new view and the notifications to
publish, each with its subject. No IO, no clock: the same events always give
the same notifications, with the same ids (``<event_id>:<subject>``), which is
what lets a redelivered event be published again without duplicates.

Audiences
    - a task with an assignee: that professional,
      ``<prefix>.<cpts>.tasks.<role>.<rpps>``;
    - a task without one: the pool of its role in its zone,
      ``<prefix>.<cpts>.pool.<role>.<zone>`` (zone of the ``TaskScheduled``,
      else the CPTS default sector);
    - escalations and rejections: the coordinators, ``<prefix>.<cpts>.coord``.

What each event tells whom
    TaskScheduled      the audience: ``scheduled``
    TaskAccepted       a pool task: the pool ``taken`` (once: a second accept of
                       a task no longer in the pool tells the pool nothing) and
                       the taker ``accepted``; an assigned task: its assignee
    TaskStarted        nobody (a pool task started without accept: as accepted)
    TaskCompleted      the audience: ``completed``
    TaskReassigned     the old audience ``reassigned``; the new one ``assigned``
                       (a person) or ``released`` (back to the pool)
    TaskCancelled      the audience: ``cancelled``
    TaskFailed         the audience: ``failed``
    TaskRejected       the coordinators: ``rejected`` (the engine re-issues it)
    ReminderDue        the audience of an open task: ``reminder``
    TaskOverdue        the audience of an open task: ``overdue``
    EscalationRaised   the coordinators: ``escalation``
    BreakGlassGranted  the coordinators: ``break-glass`` (who, as what, until when, why)
    TaskNotified/Seen  nobody (receipts come from apps)
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from contracts import pathway as ev
from contracts.events import Envelope, patient_of_stream
from contracts.notifications import Notification, NotificationKind, Window, zone_token
from contracts.subjects import Subjects

OPEN_STATUSES = ("requested", "accepted", "in-progress")  # a task someone must still act on


class TaskView(msgspec.Struct, frozen=True, kw_only=True):
    """What the router remembers of a task (a row of ``notification_tasks``)."""

    task_id: uuid.UUID
    cpts: str
    patient_id: uuid.UUID | None
    enrolment_id: uuid.UUID
    protocol: str
    activity: str
    occurrence: int
    role: str
    zone: str
    assignee: str | None
    earliest: dt.datetime
    due: dt.datetime
    urgent: bool = False
    status: str = "requested"
    overdue: bool = False
    reason: str | None = None
    cause: str | None = None  # why it was cancelled (``TaskCancelled.cause``)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Addressed(msgspec.Struct, frozen=True):
    subject: str
    notification: Notification


class Routed(msgspec.Struct, frozen=True):
    task: TaskView | None  # the task's view after the event (None: nothing to keep)
    out: list[Addressed]


def task_id_of(payload: object) -> uuid.UUID | None:
    return getattr(payload, "task_id", None)


def audience(task: TaskView, subjects: Subjects) -> str:
    if task.assignee:
        return subjects.professional(task.cpts, task.role, task.assignee)
    return subjects.pool(task.cpts, task.role, task.zone)


def pool_zone(zone: str | None, default_zone: str) -> str:
    if zone:
        try:
            return zone_token(zone)
        except ValueError:
            pass
    return default_zone


def _notify(
    env: Envelope,
    subject: str,
    kind: NotificationKind,
    task: TaskView | None,
    *,
    reason: str | None = None,
    urgent: bool | None = None,
) -> Addressed:
    fields: dict[str, object] = {}
    if task is not None:
        fields = {
            "task_id": task.task_id,
            "patient_id": task.patient_id,
            "enrolment_id": task.enrolment_id,
            "protocol": task.protocol,
            "activity": task.activity,
            "role": task.role,
            "status": task.status,
            "window": Window(earliest=task.earliest, due=task.due),
            "assignee": task.assignee,
            "zone": None if task.assignee else task.zone,
            "urgent": task.urgent,
            "reason": task.reason,
        }
    if reason is not None:
        fields["reason"] = reason
    if urgent is not None:
        fields["urgent"] = urgent or bool(fields.get("urgent"))
    return Addressed(
        subject,
        Notification(
            notification_id=f"{env.event_id}:{subject}",
            kind=kind,
            cpts=env.cpts,
            at=env.occurred_at,
            event_id=env.event_id,
            **fields,  # type: ignore[arg-type]
        ),
    )


def route(env: Envelope, task: TaskView | None, *, subjects: Subjects, default_zone: str) -> Routed:
    data = env.data
    replace = msgspec.structs.replace
    match data:
        case ev.TaskScheduled():
            new = TaskView(
                task_id=data.task_id,
                cpts=env.cpts,
                patient_id=patient_of_stream(env.stream),
                enrolment_id=data.enrolment_id,
                protocol=data.protocol,
                activity=data.activity,
                occurrence=data.occurrence,
                role=data.role,
                zone=pool_zone(data.zone, default_zone),
                assignee=data.assignee,
                earliest=data.earliest,
                due=data.due,
                urgent=data.urgent,
                reason=data.reason,
            )
            if task is not None:  # scheduled twice: keep the first, say nothing
                return Routed(task, [])
            return Routed(new, [_notify(env, audience(new, subjects), "scheduled", new)])
        case ev.EscalationRaised():
            coord = subjects.coordinators(env.cpts)
            note = _notify(env, coord, "escalation", task, reason=data.reason, urgent=data.urgent)
            if task is None:
                extra = {"task_id": data.task_id, "enrolment_id": data.enrolment_id}
                extra["patient_id"] = patient_of_stream(env.stream)
                note = Addressed(coord, replace(note.notification, **extra))
            return Routed(task, [note])
        case ev.BreakGlassGranted():
            coord = subjects.coordinators(env.cpts)
            reason = (
                f"break-the-glass access for {data.rpps} ({data.role}) until "
                f"{data.expires_at.isoformat()}: {data.reason}"
            )
            note = _notify(env, coord, "break-glass", None, reason=reason, urgent=True)
            extra = {"patient_id": patient_of_stream(env.stream), "role": data.role}
            return Routed(None, [Addressed(coord, replace(note.notification, **extra))])
    if task is None:
        return Routed(None, [])
    match data:
        case ev.TaskAccepted() | ev.TaskStarted():
            if not task.is_open:
                return Routed(task, [])
            status = "accepted" if isinstance(data, ev.TaskAccepted) else "in-progress"
            if task.assignee is None:  # a pool task is claimed
                new = replace(task, status=status, assignee=data.by)
                pool = subjects.pool(task.cpts, task.role, task.zone)
                return Routed(
                    new,
                    [
                        _notify(env, pool, "taken", new),
                        _notify(env, audience(new, subjects), "accepted", new),
                    ],
                )
            new = replace(task, status=status)
            if isinstance(data, ev.TaskStarted) or data.by != task.assignee:
                return Routed(new, [])
            return Routed(new, [_notify(env, audience(new, subjects), "accepted", new)])
        case ev.TaskReassigned():
            if not task.is_open:
                return Routed(task, [])
            new = replace(task, assignee=data.assignee or None, status="requested")
            before, after = audience(task, subjects), audience(new, subjects)
            if before == after:
                return Routed(new, [])
            return Routed(
                new,
                [
                    _notify(env, before, "reassigned", new),
                    _notify(env, after, "assigned" if new.assignee else "released", new),
                ],
            )
        case ev.TaskCompleted() | ev.TaskCancelled() | ev.TaskFailed():
            if not task.is_open:
                return Routed(task, [])
            status, kind = _FINAL[type(data)]
            new = replace(task, status=status)
            if isinstance(data, ev.TaskCancelled):
                new = replace(new, cause=data.cause)
            reason = getattr(data, "reason", None)
            return Routed(new, [_notify(env, audience(task, subjects), kind, new, reason=reason)])
        case ev.TaskRejected():
            new = replace(task, status="rejected")
            coord = subjects.coordinators(env.cpts)
            return Routed(new, [_notify(env, coord, "rejected", new, reason=data.reason)])
        case ev.ReminderDue():
            if not task.is_open:
                return Routed(task, [])
            return Routed(task, [_notify(env, audience(task, subjects), "reminder", task)])
        case ev.TaskOverdue():
            if not task.is_open or task.overdue:
                return Routed(task, [])
            new = replace(task, overdue=True)
            return Routed(new, [_notify(env, audience(new, subjects), "overdue", new)])
    return Routed(task, [])


_FINAL: dict[type, tuple[str, NotificationKind]] = {
    ev.TaskCompleted: ("completed", "completed"),
    ev.TaskCancelled: ("cancelled", "cancelled"),
    ev.TaskFailed: ("failed", "failed"),
}
