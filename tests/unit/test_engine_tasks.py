"""The task state machine: who may move a task, and what is illegal from where."""

from __future__ import annotations

from uuid import UUID

import pytest
from given_when_then import (
    GP,
    NOW,
    NURSE,
    NURSE_2,
    Story,
    consultation,
    day,
    discharge,
    end_of,
    given,
    joined,
    start_of,
    team,
)

from contracts.pathway import (
    EscalationRaised,
    PatientEnrolled,
    TaskAccepted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskOverdue,
    TaskReassigned,
    TaskRejected,
    TaskScheduled,
    TaskStarted,
)
from pathways.domain import (
    AcceptTask,
    CancelTask,
    CompleteTask,
    FailTask,
    IllegalTransitionError,
    NotAllowedError,
    ReassignTask,
    RejectTask,
    StartTask,
    UnknownTaskError,
)


def story_with_tasks() -> Story:
    story = Story()
    story.record(discharge(NOW, "I50.1", care_team=team(gp=GP)), zone="75114")
    return story


def pool_task(story: Story):
    return story.task("nursing-visit", 3)


def test_a_nurse_accepts_a_pool_task_and_it_becomes_hers():
    story = story_with_tasks()
    task = pool_task(story)
    story.when(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse")).then(
        TaskAccepted(task_id=task.task_id, by=NURSE, role="nurse"),
        joined(NURSE, "nurse"),  # claiming a pool task brings her into the care circle
    )


def test_a_second_accept_by_someone_else_is_an_illegal_transition():
    story = story_with_tasks()
    task = pool_task(story)
    story.run(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse"))
    error = story.when(
        AcceptTask(task_id=task.task_id, actor_id=NURSE_2, actor_role="nurse")
    ).then_raises(IllegalTransitionError)
    assert (error.task_id, error.current_status) == (task.task_id, "accepted")
    assert error.allowed == ["start", "complete", "reject", "fail", "reassign", "cancel"]


def test_accepting_twice_by_the_same_person_decides_nothing():
    story = story_with_tasks()
    task = pool_task(story)
    story.run(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse"))
    story.when(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse")).then_nothing()


def test_a_professional_of_another_role_may_not_accept_a_pool_task():
    story = story_with_tasks()
    story.when(
        AcceptTask(task_id=pool_task(story).task_id, actor_id=GP, actor_role="gp")
    ).then_raises(NotAllowedError)


def test_only_the_assignee_may_accept_an_assigned_task():
    story = story_with_tasks()
    task = story.task("gp-consultation")
    story.when(
        AcceptTask(task_id=task.task_id, actor_id="10000000099", actor_role="gp")
    ).then_raises(NotAllowedError)
    story.when(AcceptTask(task_id=task.task_id, actor_id=GP, actor_role="gp")).then(
        TaskAccepted(task_id=task.task_id, by=GP, role="gp")
    )


def test_accept_start_complete_by_the_assignee_with_findings():
    story = story_with_tasks()
    task = story.task("gp-consultation")
    story.run(AcceptTask(task_id=task.task_id, actor_id=GP, actor_role="gp"))
    story.when(StartTask(task_id=task.task_id, actor_id=GP, actor_role="gp")).then(
        TaskStarted(task_id=task.task_id, by=GP)
    )
    story.run(StartTask(task_id=task.task_id, actor_id=GP, actor_role="gp"))
    story.when(
        CompleteTask(task_id=task.task_id, actor_id=GP, actor_role="gp", findings="stable"),
        now=day(5),
    ).then(
        TaskCompleted(
            task_id=task.task_id, completed_at=day(5), on_time=True, by=GP, findings="stable"
        )
    )


def test_completing_after_the_due_date_is_late():
    story = story_with_tasks()
    task = story.task("gp-consultation")
    [done] = story.run(CompleteTask(task_id=task.task_id, actor_id=GP, actor_role="gp"), now=day(8))
    assert done.on_time is False


def test_starting_a_pool_task_assigns_it_so_another_nurse_cannot_complete_it():
    story = story_with_tasks()
    task = pool_task(story)
    story.run(StartTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse"))
    assert story.state.tasks[task.task_id].assignee == NURSE
    story.when(
        CompleteTask(task_id=task.task_id, actor_id=NURSE_2, actor_role="nurse")
    ).then_raises(NotAllowedError)


def test_a_completed_task_is_final():
    story = story_with_tasks()
    task = story.task("gp-consultation")
    story.run(CompleteTask(task_id=task.task_id, actor_id=GP, actor_role="gp"))
    for command in (
        AcceptTask(task_id=task.task_id, actor_id=GP, actor_role="gp"),
        CancelTask(task_id=task.task_id, reason="no", actor_id="coord-1", actor_role="coordinator"),
    ):
        error = story.when(command).then_raises(IllegalTransitionError)
        assert error.current_status == "completed" and error.allowed == []
        assert "final" in error.message


def test_the_assignee_rejects_and_the_task_goes_back_to_the_pool():
    story = story_with_tasks()
    task = story.task("gp-consultation")
    events = story.run(
        RejectTask(task_id=task.task_id, actor_id=GP, actor_role="gp", reason="on leave")
    )
    assert events[0] == TaskRejected(task_id=task.task_id, by=GP, reason="on leave")
    reissued = events[1]
    assert isinstance(reissued, TaskScheduled)
    assert (reissued.activity, reissued.occurrence, reissued.assignee, reissued.due) == (
        "gp-consultation",
        1,
        None,
        task.due,
    )


def test_a_pool_task_cannot_be_rejected():
    story = story_with_tasks()
    story.when(
        RejectTask(task_id=pool_task(story).task_id, actor_id=NURSE, actor_role="nurse")
    ).then_raises(NotAllowedError)


def test_an_in_progress_task_cannot_be_rejected():
    story = story_with_tasks()
    task = story.task("gp-consultation")
    story.run(StartTask(task_id=task.task_id, actor_id=GP, actor_role="gp"))
    error = story.when(RejectTask(task_id=task.task_id, actor_id=GP, actor_role="gp")).then_raises(
        IllegalTransitionError
    )
    assert error.allowed == ["complete", "fail", "cancel"]


def test_only_the_coordinator_cancels():
    story = story_with_tasks()
    task = pool_task(story)
    story.when(
        CancelTask(task_id=task.task_id, reason="x", actor_id=NURSE, actor_role="nurse")
    ).then_raises(NotAllowedError)
    story.when(
        CancelTask(
            task_id=task.task_id, reason="duplicate", actor_id="coord-1", actor_role="coordinator"
        )
    ).then(TaskCancelled(task_id=task.task_id, reason="duplicate", by="coord-1", cause="requested"))


def test_the_coordinator_reassigns_and_the_new_assignee_must_accept():
    story = story_with_tasks()
    task = pool_task(story)
    story.run(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse"))
    story.when(
        ReassignTask(
            task_id=task.task_id, assignee=NURSE_2, actor_id="coord-1", actor_role="coordinator"
        )
    ).then(
        TaskReassigned(task_id=task.task_id, by="coord-1", assignee=NURSE_2),
        joined(NURSE_2, "nurse"),
    )
    story.run(
        ReassignTask(
            task_id=task.task_id, assignee=NURSE_2, actor_id="coord-1", actor_role="coordinator"
        )
    )
    assert story.state.tasks[task.task_id].status == "requested"
    story.when(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse")).then_raises(
        NotAllowedError
    )


def test_the_assignee_may_hand_a_task_back_to_the_pool_but_not_give_it_to_someone():
    story = story_with_tasks()
    task = pool_task(story)
    story.run(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse"))
    story.when(
        ReassignTask(task_id=task.task_id, assignee=NURSE_2, actor_id=NURSE, actor_role="nurse")
    ).then_raises(NotAllowedError)
    story.when(
        ReassignTask(task_id=task.task_id, assignee=None, actor_id=NURSE, actor_role="nurse")
    ).then(TaskReassigned(task_id=task.task_id, by=NURSE, assignee=None))


def test_a_failed_task_raises_an_escalation():
    story = story_with_tasks()
    task = story.task("gp-consultation")
    story.run(AcceptTask(task_id=task.task_id, actor_id=GP, actor_role="gp"))
    events = story.run(
        FailTask(task_id=task.task_id, reason="patient absent", actor_id=GP, actor_role="gp")
    )
    assert events[0] == TaskFailed(task_id=task.task_id, reason="patient absent")
    assert isinstance(events[1], EscalationRaised) and "patient absent" in events[1].reason


@pytest.mark.parametrize("command", [AcceptTask, StartTask])
def test_an_unknown_task_is_reported_as_such(command):
    story = story_with_tasks()
    error = story.when(
        command(task_id=UUID(int=999_999), actor_id=NURSE, actor_role="nurse")
    ).then_raises(UnknownTaskError)
    assert error.task_id == UUID(int=999_999)


# --- the same rules, written as given / when / then over hand-written events ------------------

ENROLMENT, TASK = UUID(int=500), UUID(int=501)
ENROLLED = PatientEnrolled(
    enrolment_id=ENROLMENT,
    protocol="heart-failure-discharge",
    protocol_version="1",
    anchor_type="DischargeReported",
    anchor_at=NOW,
)
GP_TASK = TaskScheduled(
    task_id=TASK,
    enrolment_id=ENROLMENT,
    protocol="heart-failure-discharge",
    activity="gp-consultation",
    occurrence=1,
    role="gp",
    earliest=start_of(1),
    due=end_of(7),
    assignee=GP,
)


def test_given_a_scheduled_gp_task_when_the_gp_accepts_then_it_is_accepted():
    # a stream stored before care circles existed: the GP joins on her next action
    given(ENROLLED, GP_TASK).when(AcceptTask(task_id=TASK, actor_id=GP, actor_role="gp")).then(
        TaskAccepted(task_id=TASK, by=GP, role="gp"), joined(GP, "gp")
    )


def test_given_a_cancelled_task_when_the_gp_completes_it_then_409_with_nothing_allowed():
    error = (
        given(ENROLLED, GP_TASK, TaskCancelled(task_id=TASK, reason="duplicate"))
        .when(CompleteTask(task_id=TASK, actor_id=GP, actor_role="gp"))
        .then_raises(IllegalTransitionError)
    )
    assert (error.current_status, error.allowed) == ("cancelled", [])


def test_given_a_task_when_its_consultation_is_reported_late_then_it_completes_late():
    story = given(ENROLLED, GP_TASK)
    outcome = story.when_recorded(consultation(day(8)))
    outcome.then(
        consultation(day(8)),  # the fact itself, then what follows from it
        TaskCompleted(
            task_id=TASK,
            completed_at=day(8),
            on_time=False,
            by=GP,
            by_fact=outcome.events[1].by_fact,
            fact_type="ConsultationReported",
        ),
        joined(GP, "gp"),
    )


def test_evolve_ignores_events_about_tasks_it_does_not_know():
    state = given(
        TaskAccepted(task_id=TASK, by=GP, role="gp"), TaskOverdue(task_id=TASK, due=NOW)
    ).state
    assert state.tasks == {} and state.version == 2


def test_a_record_fact_command_decodes_from_json():
    import msgspec

    from pathways.domain.commands import RecordFact

    command = msgspec.json.decode(
        b'{"type": "RecordFact", "event_id": "00000000-0000-0000-0000-000000000001",'
        b' "actor_id": "dpi", "actor_role": "discharge-system", "zone": "75114",'
        b' "fact": {"type": "DeathReported", "died_at": "2026-03-02T10:00:00+00:00"}}',
        type=RecordFact,
    )
    assert command.fact.__struct_config__.tag == "DeathReported"
