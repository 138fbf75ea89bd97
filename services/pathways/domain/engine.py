"""``decide``: the one entry point of the pathway decider.

``decide(command, state, ctx) -> Decided(events, state)`` validates a command
against a patient's state and returns the events to append, in order, with the
state they lead to. Every command is decided the same way: recording a fact
returns the fact itself (under the id the command carries) followed by what it
causes. It never does IO: the time and new ids come from ``ctx``. Errors are
``pathways.domain.errors`` classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pathways.domain import gp_access, snp
from pathways.domain.access_commands import (
    AcceptUnscheduledCare,
    CloseGPRequest,
    CloseUnscheduledCare,
    DeclineGPRequest,
    RecordPatientContact,
    RequestGPAccess,
    RequestUnscheduledCare,
    TakeGPRequest,
)
from pathways.domain.circle import (
    break_the_glass,
    change_care_circle,
    publish_circle_changes,
    sync_care_circle,
)
from pathways.domain.commands import (
    AcceptTask,
    BreakTheGlass,
    CancelTask,
    ChangeCareCircle,
    CompleteTask,
    DecideContext,
    EnrolPatient,
    FailTask,
    FireTimer,
    HandOverTasks,
    MigrateProtocol,
    ReassignTask,
    RecordFact,
    RejectTask,
    StartTask,
    SyncCareCircle,
    TakeOverTasks,
)
from pathways.domain.deadlines import fire_timer
from pathways.domain.decision import Decided, Decision
from pathways.domain.merging import hand_over, take_over
from pathways.domain.migration import migrate
from pathways.domain.recording import enrol_patient, record_fact
from pathways.domain.state import PatientState
from pathways.domain.tasks import handle_task_command

_HANDLERS: dict[type, Callable[[Any, Decision], None]] = {
    RecordFact: record_fact,
    EnrolPatient: enrol_patient,
    FireTimer: fire_timer,
    MigrateProtocol: migrate,
    ChangeCareCircle: change_care_circle,
    BreakTheGlass: break_the_glass,
    SyncCareCircle: sync_care_circle,
    TakeOverTasks: take_over,
    HandOverTasks: hand_over,
    RequestGPAccess: gp_access.request_gp_access,
    RecordPatientContact: gp_access.record_patient_contact,
    TakeGPRequest: gp_access.take_gp_request,
    DeclineGPRequest: gp_access.decline_gp_request,
    CloseGPRequest: gp_access.close_gp_request,
    RequestUnscheduledCare: snp.request_unscheduled_care,
    AcceptUnscheduledCare: snp.accept_unscheduled_care,
    CloseUnscheduledCare: snp.close_unscheduled_care,
    **{
        c: handle_task_command
        for c in (
            AcceptTask,
            StartTask,
            CompleteTask,
            RejectTask,
            FailTask,
            ReassignTask,
            CancelTask,
        )
    },
}


def decide(command: object, state: PatientState, ctx: DecideContext) -> Decided:
    handler = _HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"the pathway decider has no handler for {type(command).__name__}")
    decision = Decision(state, ctx)
    handler(command, decision)
    publish_circle_changes(decision, len(decision.events))
    return Decided(decision.events, decision.state)
