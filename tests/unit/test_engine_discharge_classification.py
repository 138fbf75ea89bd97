"""A discharge without a diagnosis (ANS's minimal A03 has no DG1): recorded, and the
coordinator gets a task to classify it (enrol in a protocol, or dismiss) by D+2."""

from __future__ import annotations

import pytest
from given_when_then import COORDINATOR, NOW, Story, day, end_of

from contracts.facts import DischargeReported
from contracts.pathway import (
    EnrolmentClosed,
    EscalationRaised,
    PatientEnrolled,
    TaskCancelled,
    TaskCompleted,
    TaskOverdue,
    TaskScheduled,
)
from pathways.domain import CancelTask, CompleteTask, EnrolPatient, FireTimer, timers_for

TRIAGE = "discharge-classification"


def undiagnosed(destination: str = "home") -> DischargeReported:
    return DischargeReported(
        admitted_at=day(-5), discharged_at=NOW, diagnoses=[], finess="750000001",
        destination=destination,
    )  # fmt: skip


def classified() -> tuple[Story, TaskScheduled]:
    story = Story()
    story.record(undiagnosed(), zone="75114")
    [task] = story.events(TaskScheduled)
    return story, task


def test_the_coordinator_is_asked_to_classify_it_with_a_deadline_of_two_days():
    story, task = classified()
    [enrolment] = story.events(PatientEnrolled)
    assert (enrolment.protocol, enrolment.anchor_type) == (TRIAGE, "DischargeReported")
    assert (task.activity, task.role, task.assignee, task.zone) == (
        "classify-discharge", "coordinator", None, "75114",
    )  # fmt: skip
    assert (task.earliest, task.due) == (NOW, end_of(2))  # from the discharge, by D+2


@pytest.mark.parametrize("destination", ["home", "unknown"])
def test_a_discharge_home_or_to_an_unknown_place_is_to_classify(destination):
    events = Story().record(undiagnosed(destination))
    assert [e.protocol for e in events if isinstance(e, PatientEnrolled)] == [TRIAGE]


@pytest.mark.parametrize("destination", ["transfer", "mutation", "death"])
def test_a_discharge_elsewhere_is_only_recorded(destination):
    assert Story().record(undiagnosed(destination)) == []


def test_a_discharge_with_a_diagnosis_is_not_to_classify():
    from given_when_then import discharge

    events = Story().record(discharge(NOW, "S72.0"))
    assert not [e for e in events if isinstance(e, PatientEnrolled)]


def test_enrolling_the_patient_in_a_protocol_answers_the_question():
    story, task = classified()
    coord_id, coord_role = COORDINATOR
    events = story.run(
        EnrolPatient(
            protocol="heart-failure-discharge",
            anchor_at=NOW,
            zone="75114",
            actor_id=coord_id,
            actor_role=coord_role,
        ),  # fmt: skip
        now=day(1),
    )
    assert events[0] == TaskCompleted(
        task_id=task.task_id, completed_at=day(1), on_time=True, by=coord_id,
        findings="enrolled in heart-failure-discharge",
    )  # fmt: skip
    assert isinstance(events[1], EnrolmentClosed) and events[1].reason == "completed"
    assert [e.protocol for e in events if isinstance(e, PatientEnrolled)] == [
        "heart-failure-discharge"
    ]


def test_the_coordinator_dismisses_it_by_cancelling_or_completes_it_with_the_task_commands():
    story, task = classified()
    coord_id, coord_role = COORDINATOR
    dismissed = story.when(
        CancelTask(task_id=task.task_id, reason="not a pathway", actor_id=coord_id,
                   actor_role=coord_role)
    ).of_type(TaskCancelled)  # fmt: skip
    assert [e.task_id for e in dismissed] == [task.task_id]
    done = story.when(
        CompleteTask(task_id=task.task_id, actor_id=coord_id, actor_role=coord_role)
    ).of_type(TaskCompleted)
    assert [e.task_id for e in done] == [task.task_id]


def test_left_unclassified_past_its_deadline_it_escalates_to_the_coordinators():
    story, task = classified()
    _, overdue = timers_for(task)
    events = story.run(FireTimer(timer=overdue), now=overdue.fire_at)
    assert isinstance(events[0], TaskOverdue) and isinstance(events[1], EscalationRaised)


def test_a_discharge_anchor_names_diagnoses_or_is_without_diagnosis_not_both():
    from pathlib import Path

    from given_when_then import PROTOCOLS

    from pathways.domain import ProtocolError
    from pathways.domain.catalog import parse_protocol

    text = (Path(PROTOCOLS) / "discharge-classification.v1.toml").read_text()
    both = text.replace(
        "without_diagnosis = true", 'without_diagnosis = true\ndiagnosis_prefixes = ["I50"]'
    )
    with pytest.raises(ProtocolError, match="without_diagnosis"):
        parse_protocol(both)
