"""An identity merge (A40): the merged record's open tasks move to the surviving record,
duplicates are cancelled, both histories only grow."""

from __future__ import annotations

from given_when_then import GP, NOW, NURSE, Story, consultation, counter, day, discharge, team

from contracts.pathway import (
    CANCELLED_AS_DUPLICATE,
    CANCELLED_BY_MERGE,
    EnrolmentClosed,
    PatientEnrolled,
    TaskCancelled,
    TaskScheduled,
)
from pathways.domain import HandOverTasks, TakeOverTasks
from pathways.domain.merging import plan_merge

HF, COPD = "heart-failure-discharge", "copd-exacerbation"
ACTOR = ("hl7:GAM@CHU-TEST", "discharge-system")


def patient(first_id: int, *facts) -> Story:
    story = Story()
    story.new_id = counter(first_id)  # ids unique across the two records
    for fact in facts:
        story.record(fact, zone="75114")
    return story


def merge(merged: Story, surviving: Story) -> tuple[list, list]:
    moved, duplicates, superseded = plan_merge(merged.state, surviving.state, counter(900_000))
    taken = surviving.run(
        TakeOverTasks(
            merged_stream="patient-merged", tasks=moved, actor_id=ACTOR[0], actor_role=ACTOR[1]
        )
    )
    handed = merged.run(
        HandOverTasks(
            surviving_stream="patient-surviving",
            moved=[m.task_id for m in moved],
            duplicates=duplicates,
            superseded=superseded,
            actor_id=ACTOR[0],
            actor_role=ACTOR[1],
        )  # fmt: skip
    )
    return taken, handed


def test_open_tasks_move_to_a_survivor_without_the_pathway_under_a_new_enrolment():
    merged = patient(1, discharge(NOW, "I50.1", care_team=team(nurse=NURSE)))
    merged.record(consultation(day(2)))  # done on the merged record: stays there
    surviving = patient(500_000)
    open_before = merged.tasks(status="requested")
    taken, handed = merge(merged, surviving)
    [enrolled] = [e for e in taken if isinstance(e, PatientEnrolled)]
    [old] = merged.events(PatientEnrolled)
    assert (enrolled.protocol, enrolled.anchor_at, enrolled.ends_at) == (HF, NOW, old.ends_at)
    scheduled = [e for e in taken if isinstance(e, TaskScheduled)]
    assert sorted((e.activity, e.occurrence, e.due, e.assignee) for e in scheduled) == sorted(
        (t.activity, t.occurrence, t.due, t.assignee) for t in open_before
    )
    assert {e.moved_from for e in scheduled} == {t.task_id for t in open_before}
    assert {e.enrolment_id for e in scheduled} == {enrolled.enrolment_id}
    cancelled = [e for e in handed if isinstance(e, TaskCancelled)]
    assert {e.task_id for e in cancelled} == {t.task_id for t in open_before}
    assert {e.cause for e in cancelled} == {CANCELLED_BY_MERGE}
    assert handed[-1] == EnrolmentClosed(
        enrolment_id=old.enrolment_id,
        reason="merged",
        detail="merged into another patient record",
        superseded_by=enrolled.enrolment_id,
    )
    assert merged.task("gp-consultation").status == "completed"


def test_occurrences_already_open_on_the_survivor_are_cancelled_as_duplicates_not_copied():
    merged = patient(1, discharge(NOW, "I50.1"))
    surviving = patient(500_000, discharge(NOW, "I50.1", care_team=team(gp=GP)))
    surviving.record(consultation(day(2), rpps=GP))  # its GP visit is done, not open
    taken, handed = merge(merged, surviving)
    [survivor_enrolment] = surviving.events(PatientEnrolled)  # no new enrolment
    scheduled = [e for e in taken if isinstance(e, TaskScheduled)]
    assert [(e.activity, e.enrolment_id) for e in scheduled] == [
        ("gp-consultation", survivor_enrolment.enrolment_id)
    ]
    causes = {e.task_id: e.cause for e in handed if isinstance(e, TaskCancelled)}
    gp_task = merged.task("gp-consultation").task_id
    assert causes.pop(gp_task) == CANCELLED_BY_MERGE
    assert set(causes.values()) == {CANCELLED_AS_DUPLICATE} and causes
    assert len(surviving.tasks(activity="gp-consultation", status="requested")) == 1


def test_a_merge_decided_again_changes_nothing():
    merged = patient(1, discharge(NOW, "J44.1"))
    surviving = patient(500_000, discharge(NOW, "I50.1"))
    merge(merged, surviving)
    assert merge(merged, surviving) == ([], [])
    assert {e.protocol for e in surviving.events(PatientEnrolled)} == {HF, COPD}


def test_a_take_over_decided_twice_before_the_hand_over_schedules_each_task_once():
    merged = patient(1, discharge(NOW, "I50.1"))
    surviving = patient(500_000)
    moved, _, _ = plan_merge(merged.state, surviving.state, counter(900_000))
    command = TakeOverTasks(
        merged_stream="patient-merged", tasks=moved, actor_id=ACTOR[0], actor_role=ACTOR[1]
    )
    first = surviving.run(command)
    assert len([e for e in first if isinstance(e, TaskScheduled)]) == len(moved) > 0
    assert surviving.run(command) == []
