"""Timers as data, reminders, overdue escalation, end of the pathway, protocol migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from given_when_then import (
    GP,
    NOW,
    Story,
    consultation,
    day,
    discharge,
    end_of,
    joined,
    readmission,
    start_of,
    visit,
)

from contracts.pathway import (
    EnrolmentClosed,
    EscalationRaised,
    PatientEnrolled,
    ProtocolVersionChanged,
    ReminderDue,
    TaskCancelled,
    TaskCompleted,
    TaskOverdue,
    TaskScheduled,
)
from pathways.domain import (
    EnrolmentConflictError,
    FireTimer,
    MigrateProtocol,
    NotAllowedError,
    Timer,
    timers_cancelled_by,
    timers_for,
)


def enrolled() -> Story:
    story = Story()
    story.record(discharge(NOW, "I50.1"))
    return story


def test_a_scheduled_task_gets_a_reminder_at_8_paris_time_on_its_due_day_and_an_overdue_check():
    story = enrolled()
    task = story.events(TaskScheduled)[1]  # gp-consultation, due D+7 23:59:59
    assert timers_for(task) == [
        Timer(
            fire_at=day(7, hour=8),
            kind="reminder",
            task_id=task.task_id,
            enrolment_id=task.enrolment_id,
        ),
        Timer(
            fire_at=end_of(7), kind="overdue", task_id=task.task_id, enrolment_id=task.enrolment_id
        ),
    ]
    assert day(7, hour=8) == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


def test_an_urgent_task_due_before_8_gets_no_reminder():
    task = TaskScheduled(
        task_id=UUID(int=7),
        enrolment_id=UUID(int=8),
        protocol="heart-failure-discharge",
        activity="decompensation-alert",
        occurrence=1,
        role="gp",
        earliest=day(3, hour=6),
        due=day(4, hour=6),
        urgent=True,
    )
    assert [t.kind for t in timers_for(task)] == ["overdue"]


def test_an_enrolment_gets_an_end_timer_and_closing_events_make_task_timers_moot():
    story = enrolled()
    enrolment = story.events(PatientEnrolled)[0]
    assert timers_for(enrolment) == [
        Timer(fire_at=end_of(90), kind="enrolment-end", enrolment_id=enrolment.enrolment_id)
    ]
    done, gp_joins = story.record(consultation(day(3)))
    assert gp_joins == joined(GP, "gp")  # completing the task brings the GP into the circle
    assert timers_cancelled_by(done) == done.task_id
    assert timers_cancelled_by(enrolment) is None


def test_the_reminder_fires_while_the_task_is_open():
    story = enrolled()
    task = story.events(TaskScheduled)[1]
    reminder, _ = timers_for(task)
    story.when(FireTimer(timer=reminder)).then(ReminderDue(task_id=task.task_id, due=task.due))


def test_an_overdue_task_is_marked_and_escalated_to_the_coordinator_once():
    story = enrolled()
    task = story.events(TaskScheduled)[1]
    _, overdue = timers_for(task)
    events = story.run(FireTimer(timer=overdue), now=overdue.fire_at)
    assert events[0] == TaskOverdue(task_id=task.task_id, due=task.due)
    assert events[1] == EscalationRaised(
        escalation_id=events[1].escalation_id,
        task_id=task.task_id,
        enrolment_id=task.enrolment_id,
        reason="gp-consultation #1 overdue",
        urgent=False,
    )
    story.when(FireTimer(timer=overdue)).then_nothing()
    late, _gp_joins = story.record(consultation(day(9)))
    assert late.task_id == task.task_id and late.on_time is False


def test_an_urgent_task_escalates_as_urgent_at_its_due_time():
    story = enrolled()
    story.record(visit(day(5), weight=70.0))
    story.record(visit(day(7), weight=72.5))
    alert = story.task("decompensation-alert")
    overdue = [t for t in timers_for(story.events(TaskScheduled)[-1]) if t.kind == "overdue"][0]
    assert overdue.fire_at == day(7) + timedelta(hours=24)
    events = story.run(FireTimer(timer=overdue))
    assert events[1].urgent is True and events[1].task_id == alert.task_id


def test_timers_of_completed_or_cancelled_tasks_fire_for_nothing():
    story = enrolled()
    task = story.events(TaskScheduled)[1]
    story.record(consultation(day(3)))
    for timer in timers_for(task):
        story.when(FireTimer(timer=timer)).then_nothing()


def test_the_end_of_the_pathway_cancels_what_is_left_and_closes_it_as_completed():
    story = enrolled()
    [end] = timers_for(story.events(PatientEnrolled)[0])
    events = story.run(FireTimer(timer=end), now=end.fire_at)
    assert all(isinstance(e, TaskCancelled) for e in events[:-1]) and len(events) == 1 + len(
        story.tasks()
    )
    assert isinstance(events[-1], EnrolmentClosed) and events[-1].reason == "completed"
    story.when(FireTimer(timer=end)).then_nothing()


def test_migrating_to_version_2_keeps_history_and_re_plans_the_future():
    story = enrolled()
    enrolment = story.events(PatientEnrolled)[0].enrolment_id
    story.record(consultation(day(3)))
    story.record(visit(day(2)))
    story.record(visit(day(5)))
    now = day(12)
    events = story.run(
        MigrateProtocol(enrolment_id=enrolment, to_version=2, actor_id="admin", actor_role="admin"),
        now=now,
    )
    assert events[0] == ProtocolVersionChanged(
        enrolment_id=enrolment, protocol="heart-failure-discharge", from_version="1", to_version="2"
    )
    cancelled = {
        story.state.tasks[e.task_id].activity for e in events if isinstance(e, TaskCancelled)
    }
    assert cancelled == {"nursing-visit", "cardiology-consultation"}
    nursing = [t for t in story.tasks("nursing-visit")]
    kept = [
        (t.occurrence, t.status) for t in nursing if t.status != "cancelled" and t.earliest < now
    ]
    assert kept == [(1, "completed"), (2, "completed"), (3, "requested"), (4, "requested")]
    new = [e for e in events if isinstance(e, TaskScheduled)]
    assert [(e.activity, e.occurrence) for e in new] == [
        ("nursing-visit", n) for n in range(3, 9)
    ] + [("cardiology-consultation", 1)]
    assert (new[0].earliest, new[0].due) == (start_of(15), end_of(21))
    assert (new[-1].earliest, new[-1].due) == (start_of(1), end_of(30))
    assert story.task("gp-consultation").status == "completed"
    assert story.state.enrolments[enrolment].version == 2


def test_migration_is_for_coordinators_and_active_enrolments_and_idempotent():
    story = enrolled()
    enrolment = story.events(PatientEnrolled)[0].enrolment_id
    story.when(
        MigrateProtocol(enrolment_id=enrolment, to_version=2, actor_id=GP, actor_role="gp")
    ).then_raises(NotAllowedError)
    story.when(
        MigrateProtocol(
            enrolment_id=enrolment, to_version=1, actor_id="c", actor_role="coordinator"
        )
    ).then_nothing()
    story.record(readmission(day(4)))
    story.when(
        MigrateProtocol(
            enrolment_id=enrolment, to_version=2, actor_id="c", actor_role="coordinator"
        )
    ).then_raises(EnrolmentConflictError)


def test_a_migrated_task_completed_by_a_later_fact_is_judged_by_the_new_window():
    story = enrolled()
    enrolment = story.events(PatientEnrolled)[0].enrolment_id
    story.run(
        MigrateProtocol(
            enrolment_id=enrolment, to_version=2, actor_id="c", actor_role="coordinator"
        ),
        now=day(10),
    )
    [done] = [
        e
        for e in story.record(consultation(day(40), role="cardiologist", rpps="10000000004"))
        if isinstance(e, TaskCompleted)
    ]
    assert done.on_time is False  # version 2 asks for it by D+30


def test_the_end_timer_of_a_paused_enrolment_waits_for_the_resumed_end():
    story = enrolled()
    [end] = timers_for(story.events(PatientEnrolled)[0])
    story.record(readmission(day(80)))
    story.when(FireTimer(timer=end), now=end.fire_at).then_nothing()
    resumed = story.record(discharge(day(95), "S72.0"))
    [later] = [t for e in resumed for t in timers_for(e) if t.kind == "enrolment-end"]
    assert later.fire_at == end.fire_at + timedelta(days=15)
    story.when(FireTimer(timer=end)).then_nothing()
    assert isinstance(story.when(FireTimer(timer=later)).events[-1], EnrolmentClosed)


def test_a_timer_key_keeps_its_stored_shape_kind_owner_and_instant() -> None:
    # stored keys dedupe a re-index (ON CONFLICT on the key): the text must never change
    task, enrolment = UUID(int=7), UUID(int=9)
    at = datetime(2026, 3, 27, 7, 0, tzinfo=UTC)
    reminder = Timer(fire_at=at, kind="reminder", task_id=task, enrolment_id=enrolment)
    ending = Timer(fire_at=at, kind="enrolment-end", enrolment_id=enrolment)
    assert reminder.key == "reminder:00000000-0000-0000-0000-000000000007:2026-03-27T07:00:00+00:00"
    assert ending.key == (
        "enrolment-end:00000000-0000-0000-0000-000000000009:2026-03-27T07:00:00+00:00"
    )
    assert Timer(fire_at=at + timedelta(hours=1), kind="overdue", task_id=task).key.endswith(
        "T08:00:00+00:00"
    )
