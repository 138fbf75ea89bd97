"""Enrolments and their plans: enrol, schedule, cancel, pause, resume, close.

Pause semantics: a pause (readmission) cancels the enrolment's open tasks with
reason ``paused``. A resume (discharge home that does not re-enrol) re-plans
each of them (same activity and occurrence, new task id, same assignee) with
earliest and due shifted by the whole Paris calendar days spent paused (wall-clock
times kept, so across daylight saving too), and moves the end of the
enrolment by as much: the pathway's clock stops while the patient is in hospital.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from uuid import UUID

from contracts import pathway as ev
from pathways.domain.completion import complete_from_history
from pathways.domain.decision import Decision
from pathways.domain.planning import LOCAL_TZ, day_end, local_date, plan
from pathways.domain.protocol import Activity, Protocol
from pathways.domain.state import EnrolmentState, RecordedFact, TaskState

PAUSED = "paused"


def care_team(d: Decision, enrolment_id: UUID | None) -> dict[str, str]:
    """Role -> RPPS: the discharges' care team, then who holds this enrolment's tasks."""
    team = dict(d.state.care_team)
    if enrolment_id is not None:
        team.update({t.role: t.assignee for t in d.state.tasks_of(enrolment_id) if t.assignee})
    return team


def schedule_activity(
    d: Decision,
    enrolment: EnrolmentState,
    activity: Activity,
    ref: datetime,
    *,
    expected_delivery: date | None = None,
    reason: str | None = None,
    team: dict[str, str] | None = None,
    starting_after: datetime | None = None,
) -> list[UUID]:
    """Schedule the activity's occurrences (those starting after ``starting_after``)."""
    team = care_team(d, enrolment.enrolment_id) if team is None else team
    ids = []
    for p in plan(activity, ref, expected_delivery):
        if starting_after is not None and p.earliest <= starting_after:
            continue
        task_id = d.new_id()
        ids.append(task_id)
        d.emit(
            ev.TaskScheduled(
                task_id=task_id,
                enrolment_id=enrolment.enrolment_id,
                protocol=enrolment.protocol,
                activity=activity.id,
                occurrence=p.occurrence,
                role=p.role,
                earliest=p.earliest,
                due=p.due,
                assignee=team.get(p.role),
                zone=enrolment.zone,
                urgent=activity.urgent,
                reason=reason,
            )
        )
    complete_from_history(d, ids)
    return ids


def enrol(
    d: Decision,
    protocol: Protocol,
    *,
    enrolment_id: UUID,
    anchor_type: str,
    anchor_at: datetime,
    anchor_event_id: UUID | None = None,
    zone: str | None = None,
    enrolled_by: str | None = None,
    team: dict[str, str] | None = None,
    expected_delivery: date | None = None,
) -> None:
    ends_at = day_end(local_date(anchor_at) + timedelta(days=protocol.lifecycle.duration_days))
    d.emit(
        ev.PatientEnrolled(
            enrolment_id=enrolment_id,
            protocol=protocol.id,
            protocol_version=str(protocol.version),
            anchor_type=anchor_type,
            anchor_at=anchor_at,
            anchor_event_id=anchor_event_id,
            zone=zone,
            enrolled_by=enrolled_by,
            ends_at=ends_at,
        )
    )
    enrolment = d.state.enrolments[enrolment_id]
    team = {**care_team(d, None), **(team or {})}
    for activity in protocol.activities:
        relative = activity.window.relative_to
        if relative == "anchor":
            schedule_activity(
                d, enrolment, activity, anchor_at, expected_delivery=expected_delivery, team=team
            )
        elif relative != "rule":  # a fact already recorded after the anchor (backfill)
            seen = [f for f in d.state.facts_of(relative) if f.at >= anchor_at]
            if seen:
                schedule_activity(d, enrolment, activity, seen[0].at, team=team)


def cancel_open(
    d: Decision, tasks: Iterable[TaskState], reason: str, cause: str, by: str | None = None
) -> None:
    for t in list(tasks):
        if d.state.tasks[t.task_id].is_open:
            d.emit(ev.TaskCancelled(task_id=t.task_id, reason=reason, by=by, cause=cause))


def close(
    d: Decision,
    enrolment: EnrolmentState,
    reason: ev.CloseReason,
    *,
    by_fact: UUID | None = None,
    detail: str | None = None,
    superseded_by: UUID | None = None,
) -> None:
    cancel_open(
        d,
        d.state.open_tasks(enrolment.enrolment_id),
        f"enrolment closed: {detail or reason}",
        ev.CANCELLED_BY_CLOSURE,
    )
    d.emit(
        ev.EnrolmentClosed(
            enrolment_id=enrolment.enrolment_id,
            reason=reason,
            by_fact=by_fact,
            detail=detail,
            superseded_by=superseded_by,
        )
    )


def pause(d: Decision, enrolment: EnrolmentState, fact: RecordedFact, reason: str) -> None:
    cancel_open(d, d.state.open_tasks(enrolment.enrolment_id), PAUSED, ev.CANCELLED_BY_PAUSE)
    d.emit(
        ev.EnrolmentPaused(
            enrolment_id=enrolment.enrolment_id, reason=reason, by_fact=fact.event_id, at=fact.at
        )
    )


def resume(d: Decision, enrolment: EnrolmentState, fact: RecordedFact, reason: str) -> None:
    # whole calendar days in Europe/Paris (PROTOCOLS.md § 0): from the local date of the
    # pause to that of the resumption; each instant keeps its local wall-clock time, so a
    # due date stays at 23:59:59 across a daylight-saving change
    days = timedelta(days=(local_date(fact.at) - local_date(enrolment.paused_at or fact.at)).days)

    def shift(at: datetime) -> datetime:
        local = at.astimezone(LOCAL_TZ)
        moved = datetime.combine(local.date() + days, local.time(), LOCAL_TZ)
        return moved.astimezone(at.tzinfo)

    ends_at = shift(enrolment.ends_at) if enrolment.ends_at else None
    d.emit(
        ev.EnrolmentResumed(
            enrolment_id=enrolment.enrolment_id,
            reason=reason,
            by_fact=fact.event_id,
            at=fact.at,
            ends_at=ends_at,
        )
    )
    latest: dict[tuple[str, int], TaskState] = {}
    for t in d.state.tasks_of(enrolment.enrolment_id):
        latest[(t.activity, t.occurrence)] = t
    ids = []
    for t in latest.values():
        if t.status == "cancelled" and t.cancel_reason == PAUSED:
            task_id = d.new_id()
            ids.append(task_id)
            d.emit(
                ev.TaskScheduled(
                    task_id=task_id,
                    enrolment_id=t.enrolment_id,
                    protocol=enrolment.protocol,
                    activity=t.activity,
                    occurrence=t.occurrence,
                    role=t.role,
                    earliest=shift(t.earliest),
                    due=shift(t.due),
                    assignee=t.assignee,
                    zone=t.zone,
                    urgent=t.urgent,
                    reason=f"resumed after pause (replaces {t.task_id})",
                )
            )
    complete_from_history(d, ids, since=fact.at)  # what happened in hospital does not count
