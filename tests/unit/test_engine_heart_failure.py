"""Heart-failure discharge: anchor, plan, completion, rules, pause, death, escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from given_when_then import (
    CARDIO,
    D0,
    GP,
    NOW,
    NURSE,
    Story,
    consultation,
    day,
    death,
    discharge,
    end_of,
    joined,
    lab,
    readmission,
    start_of,
    team,
    visit,
)

from contracts.pathway import (
    EnrolmentClosed,
    EnrolmentPaused,
    EnrolmentResumed,
    PatientEnrolled,
    TaskCancelled,
    TaskCompleted,
    TaskScheduled,
)

HF = "heart-failure-discharge"
CREATININE, POTASSIUM, SODIUM, NT_PRO_BNP = "2160-0", "2823-3", "2951-2", "33762-6"


def enrolled(**kwargs) -> Story:
    story = Story()
    story.record(discharge(NOW, "I50.1", **kwargs), zone="75114")
    return story


@pytest.mark.parametrize("code", ["I50", "I50.1", "I509", "I11.0", "I13.0", "I13.2"])
def test_a_discharge_home_for_heart_failure_enrols(code):
    events = Story().record(discharge(NOW, code))
    enrolled = [e for e in events if isinstance(e, PatientEnrolled)]
    assert [(e.protocol, e.protocol_version, e.anchor_type, e.anchor_at) for e in enrolled] == [
        (HF, "1", "DischargeReported", NOW)
    ]


@pytest.mark.parametrize("code", ["I11.9", "I13.1", "I10", "I25.1", "J44.1"])
def test_a_discharge_for_another_diagnosis_does_not_enrol_in_heart_failure(code):
    events = Story().record(discharge(NOW, code))
    assert not [e for e in events if isinstance(e, PatientEnrolled) and e.protocol == HF]


def test_heart_failure_must_be_the_main_diagnosis_and_the_destination_home():
    assert Story().record(discharge(NOW, "S72.0", "I50.1")) == []
    assert Story().record(discharge(NOW, "I50.1", destination="nursing-home")) == []


def test_enrolment_plans_every_task_with_its_window_from_the_discharge_date():
    story = enrolled()
    enrolment = story.events(PatientEnrolled)[0]
    assert enrolment.zone == "75114" and enrolment.ends_at == end_of(90)
    plan = [
        (t.activity, t.occurrence, t.role, t.earliest, t.due) for t in story.events(TaskScheduled)
    ]
    assert plan[0] == ("blood-panel", 1, "nurse", start_of(1), end_of(7))
    assert plan[1] == ("gp-consultation", 1, "gp", start_of(1), end_of(7))
    assert plan[-1] == ("cardiology-consultation", 1, "cardiologist", start_of(30), end_of(60))
    assert len(plan) == 3 + 16


def test_nursing_visits_are_twice_a_week_for_eight_weeks():
    visits = [e for e in enrolled().events(TaskScheduled) if e.activity == "nursing-visit"]
    assert [v.occurrence for v in visits] == list(range(1, 17))
    windows = [(v.earliest, v.due) for v in visits]
    assert windows[:4] == [
        (start_of(1), end_of(3)),
        (start_of(4), end_of(7)),
        (start_of(8), end_of(10)),
        (start_of(11), end_of(14)),
    ]
    assert windows[-1] == (start_of(53), end_of(56))


def test_windows_are_local_calendar_days_across_the_summer_time_change():
    visits = [e for e in enrolled().events(TaskScheduled) if e.activity == "nursing-visit"]
    # occurrence 8 runs from D+25 to D+28; Paris moves from UTC+1 to UTC+2 on D+27 (29 March)
    assert visits[7].earliest.isoformat() == "2026-03-26T23:00:00+00:00"
    assert visits[7].due.isoformat() == "2026-03-30T21:59:59+00:00"


def test_the_care_team_gets_its_tasks_and_the_rest_are_pool_tasks_in_the_zone():
    story = enrolled(care_team=team(gp=GP, cardiologist=CARDIO))
    assert story.task("gp-consultation").assignee == GP
    assert story.task("cardiology-consultation").assignee == CARDIO
    pool = story.task("blood-panel")
    assert pool.assignee is None and pool.zone == "75114"


def test_a_gp_consultation_within_seven_days_completes_the_task_on_time():
    story = enrolled()
    task = story.task("gp-consultation")
    consulted = consultation(day(5))
    outcome = story.when_recorded(consulted)
    outcome.then(
        consulted,  # the fact itself, then what follows from it
        TaskCompleted(
            task_id=task.task_id,
            completed_at=day(5),
            on_time=True,
            by=GP,
            by_fact=outcome.events[1].by_fact,
            fact_type="ConsultationReported",
        ),
        joined(GP, "gp"),  # completing the task brings the GP into the care circle
    )


def test_a_gp_consultation_after_seven_days_still_completes_the_task_but_late():
    story = enrolled()
    done, gp_joins = story.record(consultation(day(9)))
    assert gp_joins == joined(GP, "gp")
    assert done.task_id == story.task("gp-consultation").task_id
    assert done.on_time is False


def test_a_consultation_by_another_role_does_not_complete_the_gp_task():
    story = enrolled()
    events = story.record(consultation(day(3), role="physiotherapist"))
    assert events == []


def test_the_blood_panel_completes_when_creatinine_potassium_and_sodium_are_all_in():
    story = enrolled()
    assert story.record(lab(day(3), CREATININE)) == []
    assert story.record(lab(day(3), NT_PRO_BNP)) == []
    assert story.record(lab(day(4), POTASSIUM)) == []
    [done] = story.record(lab(day(6), SODIUM))
    assert (done.task_id, done.completed_at, done.on_time) == (
        story.task("blood-panel").task_id,
        day(6),
        True,
    )


def test_labs_drawn_before_the_discharge_do_not_count_for_the_panel():
    story = Story()
    story.record(lab(day(-1), CREATININE))
    story.record(discharge(NOW, "I50.1"))
    story.record(lab(day(2), POTASSIUM))
    assert story.record(lab(day(2), SODIUM)) == []
    [done] = story.record(lab(day(10), CREATININE))
    assert done.on_time is False


def test_a_fact_reported_before_its_discharge_arrives_completes_the_new_task():
    story = Story()
    story.record(consultation(day(4)))
    events = story.record(discharge(NOW, "I50.1"))
    [done] = [e for e in events if isinstance(e, TaskCompleted)]
    assert done.task_id == story.task("gp-consultation").task_id and done.on_time


def test_a_nursing_visit_completes_the_occurrence_whose_window_holds_it():
    story = enrolled()
    done, nurse_joins = story.record(visit(day(5), weight=70))
    assert nurse_joins == joined(NURSE, "nurse")
    assert done.task_id == story.task("nursing-visit", 2).task_id and done.on_time


def test_a_missed_nursing_visit_is_completed_late_by_the_next_visit_before_the_current_one():
    story = enrolled()
    first, _nurse_joins = story.record(visit(day(5)))  # occurrence 1 (days 1-3) was missed
    assert first.task_id == story.task("nursing-visit", 2).task_id
    [second] = story.record(visit(day(6)))
    assert second.task_id == story.task("nursing-visit", 1).task_id and not second.on_time


def test_an_extra_nursing_visit_does_not_use_up_a_future_occurrence():
    story = enrolled()
    story.record(visit(day(2)))
    assert story.record(visit(day(3))) == []


def test_a_cardiology_consultation_before_d30_still_completes_the_task_early():
    story = enrolled()
    done, cardiologist_joins = story.record(
        consultation(day(20), role="specialist", rpps=CARDIO, specialty="cardiology")
    )
    assert cardiologist_joins == joined(CARDIO, "cardiologist")
    assert done.task_id == story.task("cardiology-consultation").task_id and done.on_time


def test_a_weight_gain_above_two_kg_in_three_days_raises_an_urgent_gp_task_due_in_24_hours():
    story = enrolled(care_team=team(gp=GP))
    story.record(visit(day(5), weight=70.0))
    events = story.record(visit(day(8), weight=72.5))
    [alert] = [e for e in events if isinstance(e, TaskScheduled)]
    assert (alert.activity, alert.role, alert.assignee, alert.urgent) == (
        "decompensation-alert",
        "gp",
        GP,
        True,
    )
    assert (alert.earliest, alert.due) == (day(8), day(8) + timedelta(hours=24))
    assert "2.5 kg" in alert.reason


@pytest.mark.parametrize(
    "earlier",
    [
        pytest.param((day(5), 70.5), id="a gain of 2 kg exactly"),
        pytest.param((day(4), 70.0), id="a gain spread over 4 days"),
    ],
)
def test_no_alert_without_a_gain_above_2_kg_within_3_days(earlier):
    story = enrolled()
    story.record(visit(earlier[0], weight=earlier[1]))
    events = story.record(visit(day(8), weight=72.5))
    assert not [e for e in events if isinstance(e, TaskScheduled)]


def test_a_second_weight_gain_while_the_alert_is_open_raises_no_second_alert():
    story = enrolled()
    story.record(visit(day(5), weight=70.0))
    story.record(visit(day(8), weight=72.5))
    events = story.record(visit(day(8, hour=18), weight=73.0))
    assert not [e for e in events if isinstance(e, TaskScheduled)]
    *completed, gp_joins = story.record(consultation(day(9, hour=9)))
    assert gp_joins == joined(GP, "gp")
    done = {e.task_id: e for e in completed}
    assert done[story.task("decompensation-alert").task_id].on_time
    assert not done[story.task("gp-consultation").task_id].on_time  # the D+7 visit, late


def test_readmission_pauses_the_enrolment_and_cancels_its_open_tasks():
    story = enrolled()
    story.record(consultation(day(3)))
    events = story.record(readmission(day(10)))
    cancelled = [e for e in events if isinstance(e, TaskCancelled)]
    assert {e.reason for e in cancelled} == {"paused"}
    assert story.task("gp-consultation").status == "completed"
    assert len(cancelled) == len(story.tasks()) - 1
    [paused] = [e for e in events if isinstance(e, EnrolmentPaused)]
    assert (paused.reason, paused.at) == ("ReadmissionReported", day(10))
    assert story.record(consultation(day(11))) == []


def test_a_discharge_home_for_another_reason_resumes_with_the_time_spent_in_hospital_added():
    story = enrolled()
    story.record(readmission(day(10)))
    cardio = story.task("cardiology-consultation")
    events = story.record(discharge(day(17), "S72.0"))
    [resumed] = [e for e in events if isinstance(e, EnrolmentResumed)]
    assert resumed.ends_at == end_of(90) + timedelta(days=7)
    again = story.task("cardiology-consultation")
    assert again.task_id != cardio.task_id and again.status == "requested"
    assert (again.earliest, again.due) == (
        cardio.earliest + timedelta(days=7),
        cardio.due + timedelta(days=7),
    )
    assert len(story.tasks(status="requested")) == len(
        [t for t in story.tasks() if t.cancel_reason == "paused"]
    )


def test_a_new_heart_failure_discharge_re_enrols_and_closes_the_paused_enrolment():
    story = enrolled()
    first = story.events(PatientEnrolled)[0].enrolment_id
    story.record(readmission(day(10)))
    events = story.record(discharge(day(17), "I50.9"))
    [closed] = [e for e in events if isinstance(e, EnrolmentClosed)]
    [second] = [e for e in events if isinstance(e, PatientEnrolled)]
    assert (closed.enrolment_id, closed.reason, closed.superseded_by) == (
        first,
        "transferred",
        second.enrolment_id,
    )
    assert second.anchor_at == day(17)
    assert not [e for e in events if isinstance(e, EnrolmentResumed)]


def test_the_same_discharge_reported_again_does_not_re_enrol():
    story = enrolled()
    assert story.record(discharge(NOW, "I50.1")) == []


def test_death_closes_the_enrolment_and_cancels_every_open_task():
    story = enrolled()
    story.record(consultation(day(3)))
    events = story.record(death(day(12)))
    assert events[-1] == EnrolmentClosed(
        enrolment_id=story.events(PatientEnrolled)[0].enrolment_id,
        reason="death",
        by_fact=story.history[-len(events) - 1][0],
        detail="DeathReported",
    )
    assert all(isinstance(e, TaskCancelled) for e in events[:-1])
    assert not story.tasks(status="requested")
    assert story.record(visit(day(13))) == []


def test_a_coordinator_enrols_explicitly_from_an_anchor_date():
    from given_when_then import COORDINATOR

    from pathways.domain import EnrolPatient

    story = Story()
    events = story.run(
        EnrolPatient(
            protocol=HF,
            anchor_at=D0,
            care_team=team(nurse=NURSE),
            actor_id=COORDINATOR[0],
            actor_role=COORDINATOR[1],
        )
    )
    assert events[0].anchor_type == "CoordinatorEnrolment" and events[0].enrolled_by == "coord-1"
    assert story.task("nursing-visit", 5).assignee == NURSE


def test_death_while_paused_closes_the_enrolment():
    story = enrolled()
    story.record(readmission(day(10)))
    events = story.record(death(day(12)))
    assert [type(e) for e in events] == [EnrolmentClosed] and events[0].reason == "death"


def test_only_a_coordinator_enrols_explicitly_and_never_twice():
    from given_when_then import COORDINATOR

    from pathways.domain import EnrolmentConflictError, EnrolPatient, NotAllowedError

    def enrol(role: str) -> EnrolPatient:
        return EnrolPatient(protocol=HF, anchor_at=D0, actor_id="someone", actor_role=role)

    Story().when(enrol("nurse")).then_raises(NotAllowedError)
    enrolled().when(enrol(COORDINATOR[1])).then_raises(EnrolmentConflictError)


def test_a_readmission_before_any_enrolment_changes_nothing():
    assert Story().record(readmission(day(-20))) == []
