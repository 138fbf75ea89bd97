"""The care circle: who joins, who leaves, and who may read (given/when/then on the decider)."""

from __future__ import annotations

from datetime import timedelta

from given_when_then import (
    CARDIO,
    COORDINATOR,
    GP,
    NOW,
    NURSE,
    NURSE_2,
    Story,
    consultation,
    day,
    discharge,
    given,
    joined,
    team,
)

from contracts.facts import GPDeclared, SharingOpposed
from contracts.pathway import BreakGlassGranted, CareCircleChanged, TaskReassigned
from pathways.domain import (
    AcceptTask,
    BreakTheGlass,
    ChangeCareCircle,
    NotAllowedError,
    SyncCareCircle,
)
from pathways.domain.circle import may_read

OTHER_GP = "10000000009"


def enrolled(**care_team: str) -> Story:
    story = Story()
    story.record(discharge(NOW, "I50.1", care_team=team(**care_team)), zone="75114")
    return story


def change(rpps: str, role: str, how: str, reason: str = "joins the team") -> ChangeCareCircle:
    return ChangeCareCircle(
        rpps=rpps,
        role=role,
        change=how,
        reason=reason,
        actor_id=COORDINATOR[0],
        actor_role=COORDINATOR[1],
    )


def glass(rpps: str = NURSE_2, role: str = "nurse") -> BreakTheGlass:
    return BreakTheGlass(reason="patient fell at home", hours=4, actor_id=rpps, actor_role=role)


def test_the_hospital_care_team_of_a_discharge_joins_the_circle():
    story = Story()
    outcome = story.when_recorded(
        discharge(NOW, "I50.1", care_team=team(gp=GP, cardiologist=CARDIO))
    )
    circle = outcome.of_type(CareCircleChanged)
    assert circle == [
        joined(GP, "gp", "discharge-care-team"),
        joined(CARDIO, "cardiologist", "discharge-care-team"),
    ]  # once each, although their tasks are assigned to them in the same decision


def test_a_pool_task_claimed_brings_its_professional_in_and_she_stays_after_the_task():
    story = enrolled(gp=GP)
    task = story.task("nursing-visit", 3)
    assert NURSE not in story.state.circle
    story.run(AcceptTask(task_id=task.task_id, actor_id=NURSE, actor_role="nurse"))
    assert story.state.circle[NURSE] == "nurse"
    story.run(change(NURSE, "nurse", "removed", "left the CPTS"))
    assert NURSE not in story.state.circle  # an explicit removal by a coordinator


def test_the_declared_medecin_traitant_joins_as_gp():
    story = enrolled()
    story.when_recorded(GPDeclared(declared_at=day(2), rpps=OTHER_GP)).then(
        GPDeclared(declared_at=day(2), rpps=OTHER_GP),
        joined(OTHER_GP, "gp", "gp-declared"),
    )


def test_a_coordinator_adds_and_removes_with_a_reason_and_nobody_else_may():
    story = enrolled()
    story.when(change(OTHER_GP, "gp", "added", "replaces the GP on leave")).then(
        CareCircleChanged(
            rpps=OTHER_GP,
            role="gp",
            change="added",
            source="coordinator",
            reason="replaces the GP on leave",
            by=COORDINATOR[0],
        )
    )
    by_nurse = ChangeCareCircle(
        rpps=NURSE, role="nurse", change="added", reason="me", actor_id=NURSE, actor_role="nurse"
    )
    story.when(by_nurse).then_raises(NotAllowedError)
    story.when(change(OTHER_GP, "gp", "removed")).then_nothing()  # not a member: no change


def test_opposition_takes_a_member_out_and_she_never_comes_back():
    story = enrolled(gp=GP)
    assert GP in story.state.circle
    opposed = SharingOpposed(opposed_at=day(1), rpps=GP)
    gp_task = story.task("gp-consultation")
    assert gp_task.assignee == GP
    story.when_recorded(opposed).then(
        opposed,
        CareCircleChanged(
            rpps=GP,
            role="gp",
            change="removed",
            source="opposition",
            reason="the patient opposes sharing with this professional",
        ),
        # her open task of the patient goes back to its pool
        TaskReassigned(task_id=gp_task.task_id, by="sharing-opposition", assignee=None),
    )
    story.record(opposed)
    assert not may_read(story.state, GP, NOW)
    # completing her task, being declared or named on a discharge: she stays out
    completed = story.record(consultation(day(3)))
    assert completed and not [e for e in completed if isinstance(e, CareCircleChanged)]
    assert story.record(GPDeclared(declared_at=day(4), rpps=GP)) == []
    story.record(discharge(day(40), "I50.1", care_team=team(gp=GP)))
    assert GP not in story.state.circle
    assert [e.change for e in story.events(CareCircleChanged) if e.rpps == GP] == [
        "added",
        "removed",
    ]
    story.when(change(GP, "gp", "added")).then_raises(NotAllowedError)
    story.when(glass(GP, "gp")).then_raises(NotAllowedError)


def test_break_the_glass_grants_a_limited_time_and_ends_on_its_own():
    story = enrolled(gp=GP)
    assert not may_read(story.state, NURSE_2, NOW)
    [granted] = story.when(glass()).of_type(BreakGlassGranted)
    assert granted == BreakGlassGranted(
        access_id=granted.access_id,
        rpps=NURSE_2,
        role="nurse",
        reason="patient fell at home",
        granted_at=NOW,
        expires_at=NOW + timedelta(hours=4),
    )
    story.run(glass())
    assert NURSE_2 not in story.state.circle  # a grant, not a membership
    assert may_read(story.state, NURSE_2, NOW + timedelta(hours=3, minutes=59))
    assert not may_read(story.state, NURSE_2, NOW + timedelta(hours=4))


def test_a_member_needs_no_glass_and_a_coordinator_cannot_break_it():
    story = enrolled(gp=GP)
    story.when(glass(GP, "gp")).then_nothing()
    story.when(
        BreakTheGlass(reason="x", hours=4, actor_id="coord-1", actor_role="coordinator")
    ).then_raises(NotAllowedError)


def test_a_stream_stored_before_care_circles_is_brought_up_to_date_once():
    # the events of a stream recorded before the care circle existed: no CareCircleChanged
    legacy = Story()
    legacy.record(discharge(NOW, "I50.1", care_team=team(gp=GP, cardiologist=CARDIO)))
    old = [e for _, e in legacy.history if not isinstance(e, CareCircleChanged)]
    story = given(*old)
    story.record(GPDeclared(declared_at=day(1), rpps=OTHER_GP))  # joins at once (new rule)
    story.record(SharingOpposed(opposed_at=day(1), rpps=CARDIO))
    assert story.state.circle == {OTHER_GP: "gp"}
    sync = SyncCareCircle(actor_id="parcours-cli", actor_role="admin")
    story.when(sync).then(joined(GP, "gp"))  # the GP's task; the cardiologist opposed
    story.run(sync)
    story.when(sync).then_nothing()
    story.when(SyncCareCircle(actor_id=NURSE, actor_role="nurse")).then_raises(NotAllowedError)
