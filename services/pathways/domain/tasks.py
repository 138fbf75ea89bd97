"""The task state machine (FHIR Task statuses) and who may move a task.

    requested ──accept──▶ accepted ──start──▶ in-progress ──complete──▶ completed
        │  └──────────start / complete (implicit accept)──────────▲
        ├─reject─▶ rejected   (requested, accepted; by the assignee)
        ├─cancel─▶ cancelled  (requested, accepted, in-progress; by the coordinator)
        └─fail───▶ failed     (accepted, in-progress; by the assignee)
    reassign: requested, accepted → requested with the new assignee (coordinator;
    the assignee may also hand the task back to the pool).

Performer: the assignee; for a pool task (no assignee) any professional of the
task's role, and accepting or starting it assigns it to them, so a second accept
by someone else is an illegal transition (409). Accepting again by the same
person decides nothing. A rejected task is re-issued to the pool (same
activity, occurrence and window); a failed task raises an escalation.
"""

from __future__ import annotations

from contracts import pathway as ev
from contracts.roles import Role
from pathways.domain.commands import (
    AcceptTask,
    CancelTask,
    CompleteTask,
    FailTask,
    ReassignTask,
    RejectTask,
    StartTask,
)
from pathways.domain.decision import Decision
from pathways.domain.errors import IllegalTransitionError, NotAllowedError, UnknownTaskError
from pathways.domain.state import TaskState

TaskCommand = (
    AcceptTask | StartTask | CompleteTask | RejectTask | FailTask | ReassignTask | CancelTask
)

FROM_STATUSES: dict[str, frozenset[str]] = {
    "accept": frozenset({"requested"}),
    "start": frozenset({"requested", "accepted"}),
    "complete": frozenset({"requested", "accepted", "in-progress"}),
    "reject": frozenset({"requested", "accepted"}),
    "fail": frozenset({"accepted", "in-progress"}),
    "reassign": frozenset({"requested", "accepted"}),
    "cancel": frozenset({"requested", "accepted", "in-progress"}),
}
_ACTION = {
    AcceptTask: "accept",
    StartTask: "start",
    CompleteTask: "complete",
    RejectTask: "reject",
    FailTask: "fail",
    ReassignTask: "reassign",
    CancelTask: "cancel",
}


def allowed_actions(status: str) -> list[str]:
    return [action for action, statuses in FROM_STATUSES.items() if status in statuses]


def _is_performer(task: TaskState, actor_id: str, actor_role: str) -> bool:
    if task.assignee is not None:
        return actor_id == task.assignee
    return actor_role == task.role


def _check_actor(action: str, task: TaskState, cmd: TaskCommand) -> None:
    if action == "cancel":
        if cmd.actor_role != Role.COORDINATOR:
            raise NotAllowedError("only the coordinator may cancel a task")
    elif action == "reassign":
        releasing = cmd.assignee is None and task.assignee == cmd.actor_id  # type: ignore[union-attr]
        if cmd.actor_role != Role.COORDINATOR and not releasing:
            raise NotAllowedError(
                "only the coordinator may reassign a task (its assignee may hand it back to the pool)"
            )
    elif action == "reject" and task.assignee is None:
        raise NotAllowedError("a pool task has no assignee to decline it: leave it in the pool")
    elif not _is_performer(task, cmd.actor_id, cmd.actor_role):
        who = (
            f"its assignee ({task.assignee})"
            if task.assignee
            else f"a professional with role {task.role}"
        )
        raise NotAllowedError(f"only {who} may {action} this task")


def handle_task_command(cmd: TaskCommand, d: Decision) -> None:
    task = d.state.tasks.get(cmd.task_id)
    if task is None:
        raise UnknownTaskError(cmd.task_id)
    action = _ACTION[type(cmd)]
    if action == "accept" and task.status == "accepted" and task.assignee == cmd.actor_id:
        return  # accepted twice by the same person: nothing new
    if task.status not in FROM_STATUSES[action]:
        allowed = allowed_actions(task.status)
        raise IllegalTransitionError(
            task.task_id,
            task.status,
            allowed,
            f"a task that is {task.status} cannot be {action}ed"
            + (f"; allowed: {', '.join(allowed)}" if allowed else "; it is final"),
        )
    _check_actor(action, task, cmd)
    now = d.ctx.now
    match cmd:
        case AcceptTask():
            d.emit(ev.TaskAccepted(task_id=task.task_id, by=cmd.actor_id, role=cmd.actor_role))
        case StartTask():
            d.emit(ev.TaskStarted(task_id=task.task_id, by=cmd.actor_id))
        case CompleteTask():
            d.emit(
                ev.TaskCompleted(
                    task_id=task.task_id,
                    completed_at=now,
                    on_time=now <= task.due,
                    by=cmd.actor_id,
                    findings=cmd.findings,
                )
            )
        case RejectTask():
            d.emit(ev.TaskRejected(task_id=task.task_id, by=cmd.actor_id, reason=cmd.reason))
            _reissue_to_pool(d, task)
        case FailTask():
            d.emit(ev.TaskFailed(task_id=task.task_id, reason=cmd.reason))
            d.emit(
                ev.EscalationRaised(
                    escalation_id=d.new_id(),
                    task_id=task.task_id,
                    enrolment_id=task.enrolment_id,
                    reason=f"{task.activity} #{task.occurrence} failed: {cmd.reason}",
                    urgent=task.urgent,
                )
            )
        case ReassignTask():
            if cmd.assignee != task.assignee or task.status != "requested":
                d.emit(
                    ev.TaskReassigned(task_id=task.task_id, by=cmd.actor_id, assignee=cmd.assignee)
                )
        case CancelTask():
            d.emit(
                ev.TaskCancelled(
                    task_id=task.task_id,
                    reason=cmd.reason,
                    by=cmd.actor_id,
                    cause=ev.CANCELLED_ON_REQUEST,
                )
            )


def _reissue_to_pool(d: Decision, task: TaskState) -> None:
    enrolment = d.state.enrolments.get(task.enrolment_id)
    if enrolment is None or enrolment.status != "active":
        return
    d.emit(
        ev.TaskScheduled(
            task_id=d.new_id(),
            enrolment_id=task.enrolment_id,
            protocol=enrolment.protocol,
            activity=task.activity,
            occurrence=task.occurrence,
            role=task.role,
            earliest=task.earliest,
            due=task.due,
            assignee=None,
            zone=task.zone,
            urgent=task.urgent,
            reason=f"replaces rejected task {task.task_id}",
        )
    )
