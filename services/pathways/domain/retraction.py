"""A cancelled discharge (HL7 A13, or ``DischargeCancelled`` posted as JSON) retracts
what that discharge started; nothing stored is rewritten.

Which discharge: the fact's ``discharge_event_id``, else the discharge reported with
its ``discharged_at``, else the patient's latest discharge. Then:

- every enrolment the discharge anchored (``PatientEnrolled.anchor_event_id``) that
  is still open is closed with reason ``cancelled``, its open tasks cancelled first
  (cause ``discharge-cancelled``): assignees and pools hear of it as of any
  cancellation, and indicators leave the enrolment out (the case list says why);
- an enrolment the discharge resumed after a readmission is paused again, as of
  the discharge instant (so a later discharge shifts the plan by the whole stay).

An enrolment the discharge superseded (closed ``transferred``) stays closed: the
coordinator may enrol the patient again. A second cancellation of the same
discharge finds nothing open and changes nothing but the record.
"""

from __future__ import annotations

from uuid import UUID

from contracts import pathway as ev
from contracts.facts import DischargeCancelled, DischargeReported
from pathways.domain.decision import Decision
from pathways.domain.scheduling import cancel_open, pause
from pathways.domain.state import PatientState, RecordedFact

RETRACTED = "discharge cancelled by the hospital"


def cancelled_discharge(state: PatientState, fact: DischargeCancelled) -> RecordedFact | None:
    """The recorded discharge that ``fact`` cancels, if the record has it."""
    discharges = state.facts_of("DischargeReported")
    if fact.discharge_event_id is not None:
        return next((f for f in discharges if f.event_id == fact.discharge_event_id), None)
    if fact.discharged_at is not None:
        return next(
            (
                f
                for f in reversed(discharges)
                if isinstance(f.fact, DischargeReported)
                and f.fact.discharged_at == fact.discharged_at
            ),
            None,
        )
    return discharges[-1] if discharges else None


def retract_discharge(d: Decision, fact: DischargeCancelled, fact_id: UUID) -> None:
    target = cancelled_discharge(d.state, fact)
    if target is None or target.event_id is None:
        return
    for e in d.state.enrolments_in("active", "paused"):
        if e.anchor_event_id == target.event_id:
            cancel_open(
                d, d.state.open_tasks(e.enrolment_id), RETRACTED, ev.CANCELLED_BY_RETRACTION
            )
            d.emit(
                ev.EnrolmentClosed(
                    enrolment_id=e.enrolment_id,
                    reason="cancelled",
                    by_fact=fact_id,
                    detail="discharge cancelled",
                )
            )
        elif e.status == "active" and e.resumed_by == target.event_id:
            pause(d, e, RecordedFact(fact_id, fact, target.at), reason="DischargeCancelled")
