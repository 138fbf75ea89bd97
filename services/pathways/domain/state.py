"""Per-patient state, rebuilt by folding the patient's stream with ``evolve``.

A patient may be in several enrolments (one per protocol at a time). The state
also keeps the patient's facts, because rules look back at them (weights of the
last days, lab results of a panel, self-monitoring since education) and because
a fact may arrive before the anchor that needs it (backfills).

``evolve`` applies events only: it never validates and never raises for a valid
stored event; it returns a new state and leaves the old one untouched.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal
from uuid import UUID

import msgspec
from msgspec.structs import replace

from contracts import pathway as ev
from contracts.access import ACCESS_TYPES
from contracts.base import EventPayload
from contracts.facts import FACT_TYPES, DischargeReported, GPDeclared, SharingOpposed, occurred_at
from pathways.domain.access_state import AccessState, evolve_access
from pathways.domain.planning import day_start

EnrolmentStatus = Literal["active", "paused", "closed"]
OPEN_STATUSES = frozenset({"requested", "accepted", "in-progress"})


class RecordedFact(msgspec.Struct, frozen=True):
    event_id: UUID | None
    fact: EventPayload
    at: datetime


class TaskState(msgspec.Struct, frozen=True, kw_only=True):
    task_id: UUID
    enrolment_id: UUID
    activity: str
    occurrence: int
    role: str
    earliest: datetime
    due: datetime
    assignee: str | None = None
    zone: str | None = None
    urgent: bool = False
    reason: str | None = None
    status: str = "requested"
    overdue: bool = False
    completed_at: datetime | None = None
    on_time: bool | None = None
    cancel_reason: str | None = None
    moved_from: UUID | None = None  # the merged patient's task it took over

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class EnrolmentState(msgspec.Struct, frozen=True, kw_only=True):
    enrolment_id: UUID
    protocol: str
    version: int
    anchor_type: str
    anchor_at: datetime
    anchor_event_id: UUID | None = None
    zone: str | None = None
    status: EnrolmentStatus = "active"
    ends_at: datetime | None = None
    paused_at: datetime | None = None
    close_reason: str | None = None
    resumed_by: UUID | None = None  # the discharge that resumed it last (while active)
    task_ids: tuple[UUID, ...] = ()


class PatientState(msgspec.Struct, frozen=True, kw_only=True):
    enrolments: dict[UUID, EnrolmentState] = {}
    tasks: dict[UUID, TaskState] = {}
    facts: tuple[RecordedFact, ...] = ()
    care_team: dict[str, str] = {}  # role -> RPPS, from the latest discharge naming one
    # the care circle as published (CareCircleChanged): RPPS -> the role it joined in
    circle: dict[str, str] = {}
    opposed: frozenset[str] = frozenset()  # RPPS the patient opposed sharing with
    break_glass: dict[str, datetime] = {}  # RPPS -> end of its latest break-the-glass grant
    access: AccessState = AccessState()  # GP-access and unscheduled-care requests
    version: int = 0  # number of events folded

    def tasks_of(self, enrolment_id: UUID) -> list[TaskState]:
        e = self.enrolments.get(enrolment_id)
        return [self.tasks[t] for t in e.task_ids] if e else []

    def open_tasks(self, enrolment_id: UUID) -> list[TaskState]:
        return [t for t in self.tasks_of(enrolment_id) if t.is_open]

    def enrolments_in(self, *statuses: EnrolmentStatus) -> list[EnrolmentState]:
        return [e for e in self.enrolments.values() if e.status in statuses]

    def current_enrolment(self, protocol: str) -> EnrolmentState | None:
        """The enrolment of ``protocol`` that is not closed, if any."""
        return next(
            (e for e in self.enrolments_in("active", "paused") if e.protocol == protocol), None
        )

    def facts_of(self, *types: str) -> list[RecordedFact]:
        return [f for f in self.facts if f.fact.__struct_config__.tag in types]


def fact_time(fact: EventPayload) -> datetime:
    """A fact's business instant; a fact dated by a day (a self-monitoring period's
    last day) counts from the end of that day (the next local midnight)."""
    at = occurred_at(fact)
    if isinstance(at, datetime):
        return at
    assert isinstance(at, date)
    return day_start(at + timedelta(days=1))


def _task(state: PatientState, task_id: UUID, **changes: object) -> PatientState:
    task = state.tasks.get(task_id)
    if task is None:
        return state
    return replace(state, tasks={**state.tasks, task_id: replace(task, **changes)})


def _enrolment(state: PatientState, enrolment_id: UUID, **changes: object) -> PatientState:
    e = state.enrolments.get(enrolment_id)
    if e is None:
        return state
    return replace(state, enrolments={**state.enrolments, enrolment_id: replace(e, **changes)})


def evolve(state: PatientState, event: EventPayload, event_id: UUID | None = None) -> PatientState:
    """Apply one stored event of the patient's stream (``event_id`` for facts)."""
    state = replace(state, version=state.version + 1)
    tag = event.__struct_config__.tag
    if tag in FACT_TYPES:
        state = replace(
            state, facts=(*state.facts, RecordedFact(event_id, event, fact_time(event)))
        )
        if isinstance(event, DischargeReported) and event.care_team:
            team = {**state.care_team, **{m.role: m.rpps for m in event.care_team}}
            state = replace(state, care_team=team)
        if isinstance(event, SharingOpposed):
            state = replace(state, opposed=state.opposed | {event.rpps})
        elif isinstance(event, GPDeclared):
            access = replace(state.access, declared_gp=event.rpps, declared_at=event.declared_at)
            state = replace(state, access=access)
        return state
    if tag in ACCESS_TYPES:
        return replace(state, access=evolve_access(state.access, event))
    match event:
        case ev.PatientEnrolled():
            e = EnrolmentState(
                enrolment_id=event.enrolment_id,
                protocol=event.protocol,
                version=int(event.protocol_version),
                anchor_type=event.anchor_type,
                anchor_at=event.anchor_at,
                anchor_event_id=event.anchor_event_id,
                zone=event.zone,
                ends_at=event.ends_at,
            )
            return replace(state, enrolments={**state.enrolments, e.enrolment_id: e})
        case ev.TaskScheduled():
            t = TaskState(
                task_id=event.task_id,
                enrolment_id=event.enrolment_id,
                activity=event.activity,
                occurrence=event.occurrence,
                role=event.role,
                earliest=event.earliest,
                due=event.due,
                assignee=event.assignee,
                zone=event.zone,
                urgent=event.urgent,
                reason=event.reason,
                moved_from=event.moved_from,
            )
            tasks = {**state.tasks, t.task_id: t}
            e = state.enrolments.get(event.enrolment_id)
            if e is None:
                return replace(state, tasks=tasks)
            e = replace(e, task_ids=(*e.task_ids, t.task_id))
            # one copy of the state for the task and its enrolment (the hottest event)
            return replace(state, tasks=tasks, enrolments={**state.enrolments, e.enrolment_id: e})
        case ev.TaskAccepted():
            return _task(state, event.task_id, status="accepted", assignee=event.by)
        case ev.TaskStarted():
            task = state.tasks.get(event.task_id)
            assignee = (task.assignee if task else None) or event.by
            return _task(state, event.task_id, status="in-progress", assignee=assignee)
        case ev.TaskCompleted():
            return _task(
                state,
                event.task_id,
                status="completed",
                completed_at=event.completed_at,
                on_time=event.on_time,
            )
        case ev.TaskRejected():
            return _task(state, event.task_id, status="rejected")
        case ev.TaskCancelled():
            return _task(state, event.task_id, status="cancelled", cancel_reason=event.reason)
        case ev.TaskFailed():
            return _task(state, event.task_id, status="failed")
        case ev.TaskReassigned():
            return _task(state, event.task_id, status="requested", assignee=event.assignee)
        case ev.TaskOverdue():
            return _task(state, event.task_id, overdue=True)
        case ev.EnrolmentPaused():
            return _enrolment(
                state, event.enrolment_id, status="paused", paused_at=event.at, resumed_by=None
            )
        case ev.EnrolmentResumed():
            e = state.enrolments.get(event.enrolment_id)
            ends_at = event.ends_at or (e.ends_at if e else None)
            return _enrolment(
                state,
                event.enrolment_id,
                status="active",
                paused_at=None,
                ends_at=ends_at,
                resumed_by=event.by_fact,
            )
        case ev.EnrolmentClosed():
            return _enrolment(state, event.enrolment_id, status="closed", close_reason=event.reason)
        case ev.ProtocolVersionChanged():
            return _enrolment(state, event.enrolment_id, version=int(event.to_version))
        case ev.CareCircleChanged():
            circle = dict(state.circle)
            if event.change == "added":
                circle[event.rpps] = event.role
            else:
                circle.pop(event.rpps, None)
            return replace(state, circle=circle)
        case ev.BreakGlassGranted():
            return replace(state, break_glass={**state.break_glass, event.rpps: event.expires_at})
    return state


def fold(
    events: list[tuple[UUID | None, EventPayload]], state: PatientState | None = None
) -> PatientState:
    """Rebuild a state from (event id, payload) pairs in stream order."""
    state = state or PatientState()
    for event_id, payload in events:
        state = evolve(state, payload, event_id)
    return state
