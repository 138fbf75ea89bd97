"""Gestational diabetes: OGTT thresholds, education, reviews until delivery, insulin, postpartum."""

from __future__ import annotations

from datetime import timedelta

import pytest
from given_when_then import (
    D0,
    NOW,
    NURSE,
    Story,
    consultation,
    day,
    delivery,
    diagnosis,
    end_of,
    joined,
    lab,
    ogtt,
    self_monitoring,
    start_of,
    visit,
)

from contracts.pathway import PatientEnrolled, TaskCancelled, TaskCompleted, TaskScheduled

GD = "gestational-diabetes"
EXPECTED = D0.date() + timedelta(days=100)


def enrolled(expected_delivery=EXPECTED) -> Story:
    story = Story()
    story.record(diagnosis(NOW, "O24.4", expected_delivery=expected_delivery))
    return story


def enrols(fact) -> bool:
    return any(isinstance(e, PatientEnrolled) and e.protocol == GD for e in Story().record(fact))


@pytest.mark.parametrize(
    "values",
    [
        pytest.param((0.92, None, None), id="fasting 0.92"),
        pytest.param((0.85, 1.80, None), id="1 h 1.80"),
        pytest.param((0.85, 1.50, 1.53), id="2 h 1.53"),
        pytest.param((1.25, None, None), id="fasting 1.25, just below overt"),
    ],
)
def test_an_ogtt_at_a_threshold_enrols(values):
    assert enrols(ogtt(NOW, *values))


@pytest.mark.parametrize(
    "values",
    [
        pytest.param((0.91, 1.79, 1.52), id="every value just below"),
        pytest.param((1.26, None, None), id="fasting 1.26: overt diabetes"),
        pytest.param((1.40, 2.5, 2.2), id="overt diabetes whatever the other values"),
    ],
)
def test_a_normal_or_overt_diabetes_ogtt_does_not_enrol(values):
    assert not enrols(ogtt(NOW, *values))


def test_a_gestational_diabetes_diagnosis_code_enrols_and_another_code_does_not():
    assert enrols(diagnosis(NOW, "O24.4"))
    assert enrols(diagnosis(NOW, "O24.41"))
    assert not enrols(diagnosis(NOW, "O24.0"))
    assert not enrols(diagnosis(NOW, "E11.9"))


def test_a_second_diagnosis_of_the_same_pregnancy_does_not_re_enrol():
    story = enrolled()
    assert story.record(ogtt(day(2), 0.95)) == []


def test_education_is_due_by_diagnosis_plus_seven_days_and_done_by_a_dietitian_or_an_educating_nurse():
    story = enrolled()
    task = story.task("education")
    assert (task.role, task.earliest, task.due) == ("dietitian", start_of(1), end_of(7))
    assert story.record(visit(day(3), education=False)) == []
    done, nurse_joins = story.record(visit(day(4), education=True))
    assert nurse_joins == joined(NURSE, "nurse")
    assert done.task_id == task.task_id and done.on_time


def test_reviews_every_15_days_alternate_gp_and_midwife_until_the_expected_delivery():
    reviews = [e for e in enrolled().events(TaskScheduled) if e.activity == "glucose-review"]
    # periods start on D+8, D+23, ... D+98; the next (D+113) is after the expected delivery (D+100)
    assert [(r.occurrence, r.role) for r in reviews] == [
        (1, "gp"), (2, "midwife"), (3, "gp"), (4, "midwife"), (5, "gp"), (6, "midwife"), (7, "gp")
    ]  # fmt: skip
    assert (reviews[0].earliest, reviews[0].due) == (start_of(8), end_of(22))
    assert (reviews[6].earliest, reviews[6].due) == (start_of(98), end_of(112))


def test_without_an_expected_delivery_reviews_are_planned_up_to_the_horizon():
    reviews = [e for e in enrolled(None).events(TaskScheduled) if e.activity == "glucose-review"]
    assert len(reviews) == 9  # starts D+8 ... D+128 <= 140


def test_a_review_consultation_by_an_obstetrician_completes_the_review_in_its_window():
    story = enrolled()
    done, obstetrician_joins = story.record(
        consultation(day(25), role="obstetrician", rpps="10000000005")
    )
    assert obstetrician_joins == joined("10000000005", "obstetrician")
    assert done.task_id == story.task("glucose-review", 2).task_id and done.on_time


def test_delivery_stops_the_reviews_and_plans_the_postpartum_test_4_to_12_weeks_after():
    story = enrolled()
    born = day(60, hour=3)
    events = story.record(delivery(born))
    scheduled = {e.activity: e for e in events if isinstance(e, TaskScheduled)}
    postpartum = scheduled["postpartum-glucose-test"]
    assert (postpartum.role, postpartum.earliest, postpartum.due) == (
        "gp",
        start_of(88),
        end_of(144),
    )
    assert (scheduled["long-term-screening"].earliest, scheduled["long-term-screening"].due) == (
        start_of(60 + 365),
        end_of(60 + 1095),
    )
    stopped = [story.state.tasks[e.task_id] for e in events if isinstance(e, TaskCancelled)]
    assert [t.occurrence for t in stopped] == [5, 6, 7]
    assert all(t.activity == "glucose-review" for t in stopped)
    assert story.task("glucose-review", 4).status == "requested"  # D+53..D+67 holds the delivery


def test_a_glucose_test_before_four_weeks_postpartum_does_not_count_but_one_in_the_window_does():
    story = enrolled()
    story.record(delivery(day(60)))
    assert story.record(lab(day(70), "1558-6", value=0.9, unit="g/L")) == []
    events = story.record(lab(day(100), "1558-6", value=0.9, unit="g/L"))
    [done] = [e for e in events if isinstance(e, TaskCompleted)]
    assert done.task_id == story.task("postpartum-glucose-test").task_id and done.on_time


def test_a_postpartum_ogtt_completes_the_test_and_does_not_re_enrol():
    story = enrolled()
    story.record(delivery(day(60)))
    events = story.record(ogtt(day(120), 0.95, 1.9, 1.6))
    assert [type(e) for e in events] == [TaskCompleted]


def educated(story: Story) -> Story:
    story.record(consultation(day(3), role="dietitian", rpps="10000000006"))
    return story


def test_readings_above_target_a_week_after_education_raise_the_insulin_decision():
    story = educated(enrolled())
    assert story.record(self_monitoring(4, 7, readings=16, above=6)) == []  # 4 days only
    events = story.record(self_monitoring(8, 10, readings=12, above=3))
    [decision] = [e for e in events if isinstance(e, TaskScheduled)]
    assert (decision.activity, decision.role) == ("insulin-decision", "endocrinologist")
    # the report counts from the end of its last day (D+10), due 3 days later
    assert (decision.earliest, decision.due) == (start_of(11), end_of(14))
    assert "32% of 28 readings" in decision.reason
    assert story.record(self_monitoring(11, 14, readings=16, above=10)) == []  # decided once


def test_readings_mostly_on_target_raise_no_insulin_decision():
    story = educated(enrolled())
    assert story.record(self_monitoring(4, 12, readings=36, above=5)) == []


def test_no_insulin_decision_before_the_education_is_done():
    story = enrolled()
    assert story.record(self_monitoring(1, 12, readings=48, above=40)) == []
