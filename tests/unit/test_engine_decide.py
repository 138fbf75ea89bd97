"""``decide`` is the one way to decide: every command returns its events and the state
they lead to; recording a fact returns the fact itself, then what it causes."""

from __future__ import annotations

from given_when_then import NOW, Story, discharge

from contracts.pathway import PatientEnrolled, TaskScheduled
from pathways.domain import AcceptTask, decide, evolve


def test_recording_a_fact_returns_the_fact_first_then_what_it_causes():
    story = Story()
    fact = discharge(NOW, "I50.1")
    command = story.fact_command(fact)

    events, state = decide(command, story.state, story.ctx())

    first, *caused = events
    assert (first.payload, first.event_id, first.caused_by) == (fact, command.event_id, None)
    assert isinstance(caused[0].payload, PatientEnrolled)
    assert [type(e.payload) for e in caused[1:]] == [TaskScheduled] * 19  # PROTOCOLS.md § 1
    assert all(e.caused_by == command.event_id and e.event_id is None for e in caused)


def test_the_state_returned_is_the_fold_of_the_events_returned():
    story = Story()
    story.record(discharge(NOW, "I50.1"))
    task = story.task("gp-consultation")
    command = AcceptTask(task_id=task.task_id, actor_id="10000000001", actor_role="gp")

    events, state = decide(command, story.state, story.ctx())

    folded = story.state
    for e in events:
        assert e.caused_by is None  # the command's actor decided it: no fact behind it
        folded = evolve(folded, e.payload, e.event_id)
    assert state == folded and state.tasks[task.task_id].status == "accepted"
