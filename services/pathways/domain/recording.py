"""What a recorded fact changes, in order:

1. a ``close_on`` fact (death) closes every open enrolment, cancelling its tasks;
2. a ``pause_on`` fact (readmission) after the anchor pauses active enrolments;
3. an anchoring fact enrols in the latest version of each protocol it matches,
   unless the patient is already in that protocol; when the protocol re-enrols on
   a new anchor (a new heart-failure discharge), the current enrolment closes as
   ``transferred`` (``superseded_by`` the new one) and a new one starts;
   a discharge home that does not re-enrol resumes a paused enrolment;
4. a fact that a window is relative to (delivery) schedules those activities,
   and stops the recurrences that run until it;
5. the fact completes matching open tasks (see ``completion``);
6. observation rules (see ``rules``).

A cancelled discharge only retracts what the discharge started (see ``retraction``).

Also the coordinator's explicit enrolment (``EnrolPatient``), which answers the
questions put to the coordinator (a protocol with ``answered_by_enrolment``: the
classification of a discharge without a diagnosis).
"""

from __future__ import annotations

from contracts import pathway as ev
from contracts.facts import DeathReported, DischargeCancelled, DischargeReported
from contracts.roles import Role
from pathways.domain.commands import EnrolPatient, RecordFact
from pathways.domain.completion import complete_by_fact
from pathways.domain.decision import Decision
from pathways.domain.errors import EnrolmentConflictError, NotAllowedError
from pathways.domain.gp_access import follow_access
from pathways.domain.matching import anchors, expected_delivery, fact_type
from pathways.domain.retraction import retract_discharge
from pathways.domain.rules import apply_rules
from pathways.domain.scheduling import cancel_open, close, enrol, pause, resume, schedule_activity
from pathways.domain.state import RecordedFact, fact_time

COORDINATOR_ENROLMENT = "CoordinatorEnrolment"


def record_fact(cmd: RecordFact, d: Decision) -> None:
    fact = cmd.fact
    tag = fact_type(fact)
    rec = RecordedFact(cmd.event_id, fact, fact_time(fact))
    d.record(fact, cmd.event_id)
    if isinstance(fact, DischargeCancelled):
        retract_discharge(d, fact, cmd.event_id)
        return

    for e in d.state.enrolments_in("active", "paused"):
        if tag in d.protocol_of(e).lifecycle.close_on:
            reason = "death" if isinstance(fact, DeathReported) else "withdrawn"
            close(d, e, reason, by_fact=cmd.event_id, detail=tag)
    for e in d.state.enrolments_in("active"):
        if tag in d.protocol_of(e).lifecycle.pause_on and rec.at > e.anchor_at:
            pause(d, e, rec, reason=tag)

    _anchor(cmd, d, rec)

    for e in d.state.enrolments_in("active"):
        if rec.at < e.anchor_at:
            continue
        protocol = d.protocol_of(e)
        for activity in protocol.activities:
            if activity.window.relative_to == tag and not any(
                t.activity == activity.id for t in d.state.tasks_of(e.enrolment_id)
            ):
                schedule_activity(d, e, activity, rec.at)
            r = activity.recurrence
            if r is not None and r.until_fact == tag:
                stopped = [
                    t
                    for t in d.state.open_tasks(e.enrolment_id)
                    if t.activity == activity.id and t.earliest > rec.at
                ]
                cancel_open(d, stopped, f"stopped: {tag}", ev.CANCELLED_BY_STOP)

    complete_by_fact(d, rec)
    apply_rules(d, rec)
    follow_access(d, rec)


def _anchor(cmd: RecordFact, d: Decision, rec: RecordedFact) -> None:
    fact = cmd.fact
    for protocol in d.ctx.catalog.latest_all():
        if not anchors(protocol.anchor, fact):
            continue
        current = d.state.current_enrolment(protocol.id)
        new_id = None
        if current is not None:
            if not d.protocol_of(current).lifecycle.reenrol_on_new_anchor:
                continue
            if rec.at <= current.anchor_at:
                continue  # the same stay reported twice, or an older one arriving late
            new_id = d.new_id()
            close(
                d,
                current,
                "transferred",
                by_fact=cmd.event_id,
                detail=f"re-enrolled on a new {fact_type(fact)}",
                superseded_by=new_id,
            )
        enrol(
            d,
            protocol,
            enrolment_id=new_id or d.new_id(),
            anchor_type=fact_type(fact),
            anchor_at=rec.at,
            anchor_event_id=cmd.event_id,
            zone=cmd.zone,
            expected_delivery=expected_delivery(fact),
        )
    if isinstance(fact, DischargeReported):
        for e in d.state.enrolments_in("paused"):
            lifecycle = d.protocol_of(e).lifecycle
            if fact.destination in lifecycle.resume_destinations and rec.at >= (
                e.paused_at or rec.at
            ):
                resume(d, e, rec, reason=fact_type(fact))


def enrol_patient(cmd: EnrolPatient, d: Decision) -> None:
    if cmd.actor_role != Role.COORDINATOR:
        raise NotAllowedError("only a coordinator may enrol a patient explicitly")
    catalog = d.ctx.catalog
    protocol = (
        catalog.latest(cmd.protocol)
        if cmd.version is None
        else catalog.get(cmd.protocol, cmd.version)
    )
    if not protocol.anchor.coordinator_enrolment:
        raise NotAllowedError(f"protocol {protocol.id} does not allow explicit enrolment")
    current = d.state.current_enrolment(protocol.id)
    if current is not None:
        raise EnrolmentConflictError(
            f"the patient is already enrolled in {protocol.id} ({current.enrolment_id}, {current.status})"
        )
    _answer_questions(cmd, d, protocol.id)
    enrol(
        d,
        protocol,
        enrolment_id=d.new_id(),
        anchor_type=COORDINATOR_ENROLMENT,
        anchor_at=cmd.anchor_at,
        zone=cmd.zone,
        enrolled_by=cmd.actor_id,
        team={m.role: m.rpps for m in cmd.care_team},
        expected_delivery=cmd.expected_delivery,
    )


def _answer_questions(cmd: EnrolPatient, d: Decision, protocol: str) -> None:
    """An explicit enrolment answers the open questions put to the coordinator (a
    discharge to classify): their tasks complete, by the coordinator, and they close."""
    for e in d.state.enrolments_in("active", "paused"):
        if e.protocol == protocol or not d.protocol_of(e).lifecycle.answered_by_enrolment:
            continue
        for t in d.state.open_tasks(e.enrolment_id):
            d.emit(
                ev.TaskCompleted(
                    task_id=t.task_id,
                    completed_at=d.ctx.now,
                    on_time=d.ctx.now <= t.due,
                    by=cmd.actor_id,
                    findings=f"enrolled in {protocol}",
                )
            )
        close(d, e, "completed", detail=f"enrolled in {protocol}")
