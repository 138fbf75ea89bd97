"""Firing timers: reminders, overdue checks with escalation, end of enrolment.

Idempotent: a timer whose task is no longer open (or already overdue), or whose
enrolment is closed or has a later end, decides nothing.
"""

from __future__ import annotations

from contracts import pathway as ev
from pathways.domain.commands import FireTimer
from pathways.domain.decision import Decision
from pathways.domain.gp_access import fire_access_timer
from pathways.domain.scheduling import close
from pathways.domain.snp import fire_snp_timer


def fire_timer(cmd: FireTimer, d: Decision) -> None:
    timer = cmd.timer
    if timer.kind.startswith("gp-"):
        fire_access_timer(timer, d)
        return
    if timer.kind == "snp-escalation":
        fire_snp_timer(timer, d)
        return
    if timer.kind == "enrolment-end":
        e = d.state.enrolments.get(timer.enrolment_id) if timer.enrolment_id else None
        if e is None or e.status != "active" or (e.ends_at and timer.fire_at < e.ends_at):
            return  # a paused enrolment's clock is stopped: its resumption sets a new end
        close(d, e, "completed", detail="end of the pathway")
        return
    task = d.state.tasks.get(timer.task_id) if timer.task_id else None
    if task is None or not task.is_open:
        return
    e = d.state.enrolments.get(task.enrolment_id)
    if e is None or e.status != "active":
        return
    if timer.kind == "reminder":
        d.emit(ev.ReminderDue(task_id=task.task_id, due=task.due))
    elif timer.kind == "overdue" and not task.overdue:
        d.emit(ev.TaskOverdue(task_id=task.task_id, due=task.due))
        if d.protocol_of(e).escalation.on_overdue:
            d.emit(
                ev.EscalationRaised(
                    escalation_id=d.new_id(),
                    task_id=task.task_id,
                    enrolment_id=task.enrolment_id,
                    reason=f"{task.activity} #{task.occurrence} overdue",
                    urgent=task.urgent,
                )
            )
