"""An identity merge (HL7 A40) moves the merged record's open work to the surviving one.

Both records keep their history: nothing stored is rewritten; each gets new events,
decided here and appended together through the one write path.

``plan_merge(merged, surviving, new_id)`` reads both states and says what moves:

- each open task of the merged record goes to the survivor's enrolment of the same
  protocol (active or paused), or to a new enrolment the survivor gets, with the merged
  enrolment's protocol version, anchor and end (one per merged enrolment);
- a task whose activity occurrence is already open in the survivor's enrolment is a
  duplicate: it is not copied, only cancelled on the merged record.

``take_over`` (``TakeOverTasks``, on the surviving record) enrols where needed and
schedules each moved task (same activity, occurrence, role, window, assignee, zone;
``moved_from`` names the task it replaces). A task already taken over, or whose
occurrence became open meanwhile, is skipped: deciding it again changes nothing.

``hand_over`` (``HandOverTasks``, on the merged record) cancels the moved tasks (cause
``merged``) and the duplicates (cause ``merge-duplicate``), then closes each enrolment
that goes on in the survivor (reason ``merged``, ``superseded_by`` the survivor's).
A paused enrolment of the merged record has no open task: it stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from contracts import pathway as ev
from pathways.domain.commands import HandOverTasks, MovedTask, TakeOverTasks
from pathways.domain.decision import Decision
from pathways.domain.scheduling import cancel_open
from pathways.domain.state import PatientState

MOVED = "moved to the surviving patient record (identity merge)"
DUPLICATE = "already open on the surviving patient record (identity merge)"


def plan_merge(
    merged: PatientState, surviving: PatientState, new_id: Callable[[], UUID]
) -> tuple[list[MovedTask], list[UUID], dict[UUID, UUID]]:
    """(tasks to move, duplicate task ids, merged enrolment -> survivor enrolment)."""
    moved: list[MovedTask] = []
    duplicates: list[UUID] = []
    superseded: dict[UUID, UUID] = {}
    for e in merged.enrolments_in("active"):
        open_tasks = merged.open_tasks(e.enrolment_id)
        if not open_tasks:
            continue
        target = surviving.current_enrolment(e.protocol)
        into = target.enrolment_id if target is not None else new_id()
        superseded[e.enrolment_id] = into
        taken = set()
        if target is not None:
            taken = {(t.activity, t.occurrence) for t in surviving.open_tasks(into)}
        for t in open_tasks:
            if (t.activity, t.occurrence) in taken:
                duplicates.append(t.task_id)
                continue
            moved.append(
                MovedTask(
                    task_id=t.task_id,
                    into_enrolment=into,
                    protocol=e.protocol,
                    version=e.version,
                    anchor_type=e.anchor_type,
                    anchor_at=e.anchor_at,
                    anchor_event_id=e.anchor_event_id,
                    ends_at=e.ends_at,
                    activity=t.activity,
                    occurrence=t.occurrence,
                    role=t.role,
                    earliest=t.earliest,
                    due=t.due,
                    assignee=t.assignee,
                    zone=t.zone,
                    urgent=t.urgent,
                )
            )
    return moved, duplicates, superseded


def take_over(cmd: TakeOverTasks, d: Decision) -> None:
    for m in cmd.tasks:
        state = d.state
        if any(t.moved_from == m.task_id for t in state.tasks.values()):
            continue  # taken over already
        if m.into_enrolment not in state.enrolments:
            d.emit(
                ev.PatientEnrolled(
                    enrolment_id=m.into_enrolment,
                    protocol=m.protocol,
                    protocol_version=str(m.version),
                    anchor_type=m.anchor_type,
                    anchor_at=m.anchor_at,
                    anchor_event_id=m.anchor_event_id,
                    zone=m.zone,
                    enrolled_by=cmd.actor_id,
                    ends_at=m.ends_at,
                )
            )
        if any(
            (t.activity, t.occurrence) == (m.activity, m.occurrence)
            for t in d.state.open_tasks(m.into_enrolment)
        ):
            continue  # open meanwhile: the merged one is a duplicate
        d.emit(
            ev.TaskScheduled(
                task_id=d.new_id(),
                enrolment_id=m.into_enrolment,
                protocol=m.protocol,
                activity=m.activity,
                occurrence=m.occurrence,
                role=m.role,
                earliest=m.earliest,
                due=m.due,
                assignee=m.assignee,
                zone=m.zone,
                urgent=m.urgent,
                reason="moved from a merged patient record",
                moved_from=m.task_id,
            )
        )


def hand_over(cmd: HandOverTasks, d: Decision) -> None:
    tasks = d.state.tasks
    cancel_open(d, [tasks[t] for t in cmd.moved if t in tasks], MOVED, ev.CANCELLED_BY_MERGE)
    cancel_open(
        d, [tasks[t] for t in cmd.duplicates if t in tasks], DUPLICATE, ev.CANCELLED_AS_DUPLICATE
    )
    for enrolment_id, into in cmd.superseded.items():
        e = d.state.enrolments.get(enrolment_id)
        if e is None or e.status != "active" or d.state.open_tasks(enrolment_id):
            continue
        d.emit(
            ev.EnrolmentClosed(
                enrolment_id=enrolment_id,
                reason="merged",
                detail="merged into another patient record",
                superseded_by=into,
            )
        )
