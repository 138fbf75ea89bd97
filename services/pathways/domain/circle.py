"""The patient's care circle: who may read the patient's data (need-to-know, CSP L1110-4).

The rule, decided here once and published as ``CareCircleChanged`` events:

- a professional joins when one of the patient's tasks is assigned to her, or she
  claims (accepts), starts or completes one (past and present tasks: she stays);
- the declared médecin traitant (``GPDeclared``) joins, as ``gp``;
- the professionals named in a discharge's hospital care team join;
- the GP who takes the patient's GP-access request (``GPAccessTaken``) joins, as ``gp``,
  and a professional who accepts an unscheduled-care request (``UnscheduledCareAccepted``)
  joins in the role she accepted it in (past requests too: she stays, as with tasks);
- a coordinator adds or removes a professional explicitly, with a reason
  (``ChangeCareCircle``);
- a patient's opposition to sharing with a named professional (``SharingOpposed``)
  takes her out (her open tasks of the patient go back to their pools), and she never
  joins again, whatever the source.

``publish_circle_changes`` runs after every decision on the events it produced, so a
change is recorded with what caused it. ``may_read`` is the access rule every reader
applies to its copy: the circle, or an unexpired break-the-glass grant, never an
opposed professional. Coordinators and admins of the CPTS are checked by the readers
(they are not members).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from contracts import access as ac
from contracts import pathway as ev
from contracts.base import EventPayload
from contracts.facts import (
    ConsultationReported,
    DischargeReported,
    GPDeclared,
    NursingVisitReported,
    SharingOpposed,
)
from contracts.roles import PROFESSIONAL_ROLES, Role
from pathways.domain.commands import BreakTheGlass, ChangeCareCircle, SyncCareCircle
from pathways.domain.decision import Decision
from pathways.domain.errors import NotAllowedError
from pathways.domain.state import PatientState

_RPPS = re.compile(r"[0-9]{11}")
STAFF = frozenset({Role.COORDINATOR, Role.ADMIN})
OPPOSITION_ACTOR = "sharing-opposition"  # ``by`` of the reassignments an opposition causes


def _performer_role(fact: EventPayload | None, task_role: str) -> str:
    """The role a professional acted in: the reported fact's (a nurse may do a dietitian's
    education), else the task's (a specialist consultation counts as the task's specialty)."""
    if isinstance(fact, NursingVisitReported):
        return Role.NURSE.value
    if isinstance(fact, ConsultationReported) and fact.role != Role.SPECIALIST:
        return fact.role
    return task_role


def _joins(
    event: EventPayload, state: PatientState, fact: EventPayload | None
) -> Iterator[tuple[str, str, str]]:
    """(RPPS, role, source) of the professionals an event brings into the circle."""
    match event:
        case ev.TaskScheduled(assignee=str(who)):
            yield who, event.role, ev.CIRCLE_BY_TASK
        case ev.TaskAccepted():
            yield event.by, event.role, ev.CIRCLE_BY_TASK
        case ev.TaskStarted() | ev.TaskCompleted() | ev.TaskReassigned():
            who = event.assignee if isinstance(event, ev.TaskReassigned) else event.by
            task = state.tasks.get(event.task_id)
            if who is not None and task is not None:
                by_fact = isinstance(event, ev.TaskCompleted) and event.by_fact is not None
                yield who, _performer_role(fact if by_fact else None, task.role), ev.CIRCLE_BY_TASK
        case GPDeclared():
            yield event.rpps, Role.GP.value, ev.CIRCLE_BY_GP_DECLARATION
        case DischargeReported():
            for member in event.care_team:
                yield member.rpps, member.role, ev.CIRCLE_BY_DISCHARGE
        case ac.GPAccessTaken():
            yield event.gp, Role.GP.value, ev.CIRCLE_BY_GP_ACCESS
        case ac.UnscheduledCareAccepted(role=str(role)) if role in PROFESSIONAL_ROLES:
            yield event.by, role, ev.CIRCLE_BY_UNSCHEDULED_CARE


def publish_circle_changes(d: Decision, produced: int) -> None:
    """Record the circle changes that the decision's first ``produced`` events cause."""
    fact = d.events[0].payload if d.events and d.events[0].event_id is not None else None
    for decided in d.events[:produced]:
        event = decided.payload
        if isinstance(event, SharingOpposed):
            _opposed(d, event.rpps)
            continue
        for rpps, role, source in _joins(event, d.state, fact):
            if _RPPS.fullmatch(rpps) and rpps not in d.state.circle and rpps not in d.state.opposed:
                d.emit(ev.CareCircleChanged(rpps=rpps, role=role, change="added", source=source))


def _opposed(d: Decision, rpps: str) -> None:
    """She leaves the circle, and her open tasks of the patient go back to their pools."""
    if rpps in d.state.circle:
        d.emit(
            ev.CareCircleChanged(
                rpps=rpps,
                role=d.state.circle[rpps],
                change="removed",
                source=ev.CIRCLE_BY_OPPOSITION,
                reason="the patient opposes sharing with this professional",
            )
        )
    for task in list(d.state.tasks.values()):
        if task.assignee == rpps and task.is_open:
            d.emit(ev.TaskReassigned(task_id=task.task_id, by=OPPOSITION_ACTOR, assignee=None))


def change_care_circle(cmd: ChangeCareCircle, d: Decision) -> None:
    if cmd.actor_role not in STAFF:
        raise NotAllowedError("only a coordinator changes a care circle explicitly")
    if cmd.change == "added":
        if cmd.rpps in d.state.opposed:
            raise NotAllowedError("the patient opposes sharing with this professional")
        if d.state.circle.get(cmd.rpps) == cmd.role:
            return
    elif cmd.rpps not in d.state.circle:
        return
    d.emit(
        ev.CareCircleChanged(
            rpps=cmd.rpps,
            role=cmd.role if cmd.change == "added" else d.state.circle[cmd.rpps],
            change="added" if cmd.change == "added" else "removed",
            source=ev.CIRCLE_BY_COORDINATOR,
            reason=cmd.reason,
            by=cmd.actor_id,
        )
    )


def break_the_glass(cmd: BreakTheGlass, d: Decision) -> None:
    if cmd.actor_role not in PROFESSIONAL_ROLES:
        raise NotAllowedError("break-the-glass is for professionals outside the care circle")
    if cmd.actor_id in d.state.opposed:
        raise NotAllowedError("the patient opposes sharing with this professional")
    if cmd.actor_id in d.state.circle:
        return  # a member reads already: nothing to grant
    now = d.ctx.now
    d.emit(
        ev.BreakGlassGranted(
            access_id=d.new_id(),
            rpps=cmd.actor_id,
            role=cmd.actor_role,
            reason=cmd.reason,
            granted_at=now,
            expires_at=now + timedelta(hours=cmd.hours),
        )
    )


def sync_care_circle(cmd: SyncCareCircle, d: Decision) -> None:
    """Streams stored before care circles: the members their state still shows join (the
    assignees of their tasks, the latest discharge's care team, the declared GPs)."""
    if cmd.actor_role not in (Role.ADMIN, Role.SERVICE):
        raise NotAllowedError("only an admin (or the CLI) synchronises care circles")
    found: list[tuple[str, str, str]] = []
    for task in sorted(d.state.tasks.values(), key=lambda t: (t.due, str(t.task_id))):
        if task.assignee:
            found.append((task.assignee, task.role, ev.CIRCLE_BY_TASK))
    found += [(rpps, role, ev.CIRCLE_BY_DISCHARGE) for role, rpps in d.state.care_team.items()]
    found += [
        (f.fact.rpps, Role.GP.value, ev.CIRCLE_BY_GP_DECLARATION)
        for f in d.state.facts_of("GPDeclared")
        if isinstance(f.fact, GPDeclared)
    ]
    added: set[str] = set()
    for rpps, role, source in found:
        if _RPPS.fullmatch(rpps) and rpps not in d.state.circle and rpps not in d.state.opposed:
            if rpps not in added:
                added.add(rpps)
                d.emit(ev.CareCircleChanged(rpps=rpps, role=role, change="added", source=source))


def may_read(state: PatientState, rpps: str, now: datetime) -> bool:
    """May this professional read the patient's data now (member, or an unexpired grant)?"""
    if rpps in state.opposed:
        return False
    if rpps in state.circle:
        return True
    until = state.break_glass.get(rpps)
    return until is not None and now < until
