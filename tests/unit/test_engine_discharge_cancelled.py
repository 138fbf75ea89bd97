"""A cancelled discharge (A13) retracts what the discharge started; history keeps it all."""

from __future__ import annotations

from datetime import timedelta

from given_when_then import (
    GP,
    NOW,
    NURSE,
    Story,
    consultation,
    day,
    discharge,
    readmission,
    team,
)

from contracts.facts import DischargeCancelled
from contracts.pathway import (
    CANCELLED_BY_RETRACTION,
    EnrolmentClosed,
    EnrolmentPaused,
    PatientEnrolled,
    TaskCancelled,
)

HF = "heart-failure-discharge"


def cancelled(at=None, **which) -> DischargeCancelled:
    return DischargeCancelled(cancelled_at=at or day(1), **which)


def enrolled() -> tuple[Story, PatientEnrolled]:
    story = Story()
    story.record(discharge(NOW, "I50.1", care_team=team(gp=GP, nurse=NURSE)), zone="75114")
    [enrolment] = story.events(PatientEnrolled)
    return story, enrolment


def test_cancelling_the_discharge_cancels_its_enrolment_and_every_open_task_with_a_cause():
    story, enrolment = enrolled()
    story.record(consultation(day(1)))  # the GP visit is done: it stays done
    open_before = story.tasks(status="requested")
    events = story.record(cancelled(day(2)))
    cancels = [e for e in events if isinstance(e, TaskCancelled)]
    assert {e.task_id for e in cancels} == {t.task_id for t in open_before}
    assert {e.cause for e in cancels} == {CANCELLED_BY_RETRACTION}
    assert events[-1] == EnrolmentClosed(
        enrolment_id=enrolment.enrolment_id,
        reason="cancelled",
        by_fact=story.history[-len(events) - 1][0],
        detail="discharge cancelled",
    )
    assert story.task("gp-consultation").status == "completed"
    assert story.state.enrolments[enrolment.enrolment_id].status == "closed"
    # the discharge and the cancellation are both in the record, nothing rewritten
    types = [type(e).__name__ for _, e in story.history]
    assert types.count("DischargeReported") == 1 and types.count("DischargeCancelled") == 1


def test_the_discharge_named_by_its_event_id_or_instant_is_the_one_retracted():
    story, enrolment = enrolled()
    discharge_id = story.history[0][0]
    other = cancelled(discharged_at=NOW + timedelta(hours=1))
    assert story.record(other) == []  # no discharge at that instant: nothing retracted
    by_instant = story.when_recorded(cancelled(discharged_at=NOW)).of_type(EnrolmentClosed)
    by_id = story.when_recorded(cancelled(discharge_event_id=discharge_id)).of_type(EnrolmentClosed)
    assert [e.enrolment_id for e in by_instant] == [enrolment.enrolment_id]
    assert [e.enrolment_id for e in by_id] == [enrolment.enrolment_id]


def test_a_second_cancellation_finds_nothing_open_and_changes_nothing():
    story, _ = enrolled()
    story.record(cancelled())
    assert story.record(cancelled(day(3))) == []


def test_the_same_discharge_sent_again_after_its_cancellation_enrols_again():
    story, first = enrolled()
    story.record(cancelled())
    events = story.record(discharge(NOW, "I50.1"))
    [again] = [e for e in events if isinstance(e, PatientEnrolled)]
    assert again.protocol == HF and again.enrolment_id != first.enrolment_id


def test_cancelling_a_discharge_that_resumed_a_pathway_pauses_it_again_as_of_that_discharge():
    story, enrolment = enrolled()
    story.record(readmission(day(10)))
    story.record(discharge(day(17), "S72.0"))  # another stay: resumes the HF pathway
    events = story.record(cancelled(day(18)))
    [paused] = [e for e in events if isinstance(e, EnrolmentPaused)]
    assert (paused.enrolment_id, paused.at) == (enrolment.enrolment_id, day(17))
    assert {e.reason for e in events if isinstance(e, TaskCancelled)} == {"paused"}
    # the real discharge, a week later, shifts the plan by the whole stay (D+10..D+24)
    cardio_before = story.task("cardiology-consultation")
    story.record(discharge(day(24), "S72.0"))
    cardio = story.task("cardiology-consultation")
    assert cardio.status == "requested"
    assert cardio.due == cardio_before.due + timedelta(days=7)


def test_a_cancelled_discharge_without_any_discharge_recorded_is_only_recorded():
    assert Story().record(cancelled()) == []
