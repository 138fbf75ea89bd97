"""GP-access requests on the pure core: given a patient's stream, when a command or a
timer is decided, then these events (ACI mission 1-A, PROTOCOLS.md § 6)."""

from __future__ import annotations

from datetime import timedelta

from contracts import access as ac
from contracts.facts import GPDeclared
from pathways.domain import (
    CloseGPRequest,
    DeclineGPRequest,
    FireTimer,
    NotAllowedError,
    RecordPatientContact,
    RequestGPAccess,
    RequestStateError,
    TakeGPRequest,
    Timer,
    timers_for,
)
from tests.unit.access_story import GP_A, GP_B, REQUEST, AccessStory
from tests.unit.given_when_then import COORDINATOR, NOW, day, discharge, joined, team

NURSE = ("10000000002", "nurse")


def _filed(criteria=("ald",), age=75) -> AccessStory:  # noqa: ANN001
    story = AccessStory()
    story.run(
        RequestGPAccess(
            request_id=REQUEST,
            criteria=list(criteria),
            age=age,
            zone="69123",
            actor_id=NURSE[0],
            actor_role=NURSE[1],
        )
    )
    return story


def _take(gp: str = GP_A) -> TakeGPRequest:
    return TakeGPRequest(request_id=REQUEST, actor_id=gp, actor_role="gp")


def test_a_nurse_refers_a_patient_and_the_policy_gives_priority_and_deadlines() -> None:
    story = AccessStory()
    events = story.when(
        RequestGPAccess(
            request_id=REQUEST,
            criteria=["ald"],
            age=75,
            zone="69123",
            actor_id=NURSE[0],
            actor_role=NURSE[1],
        )
    ).then(
        ac.GPAccessRequested(
            request_id=REQUEST,
            requested_at=NOW,
            source="referral",
            requested_by_role="nurse",
            criteria=["ald", "age-70-plus"],
            score=65,
            priority="P1",
            target_days=30,
            target_at=NOW + timedelta(days=30),
            contact_due=day(2, 14),  # Monday 14:00 + 2 working days: Wednesday 14:00
            policy="gp-access-priority",
            policy_version=1,
            age_band="70-79",
            zone="69123",
        )
    )
    kinds = [(t.kind, t.fire_at) for t in timers_for(events[0])]
    assert kinds == [("gp-contact", day(2, 14)), ("gp-target", NOW + timedelta(days=30))]


def test_a_friday_request_is_contacted_by_tuesday() -> None:
    story = AccessStory(now=day(4, 9))  # Friday 6 March 2026
    [e] = story.when(
        RequestGPAccess(request_id=REQUEST, actor_id=NURSE[0], actor_role=NURSE[1])
    ).events
    assert e.contact_due == day(8, 9)  # Tuesday 10 March


def test_a_second_open_request_for_the_same_patient_is_refused() -> None:
    story = _filed()
    cmd = RequestGPAccess(
        request_id=REQUEST.__class__(int=901), actor_id="c", actor_role="coordinator"
    )
    story.when(cmd).then_raises(RequestStateError)


def test_an_unknown_criterion_is_refused() -> None:
    AccessStory().when(
        RequestGPAccess(
            request_id=REQUEST, criteria=["astrology"], actor_id="c", actor_role="coordinator"
        )
    ).then_raises(NotAllowedError)


def test_a_gp_takes_it_and_the_second_gp_is_refused() -> None:
    story = _filed()
    taken, circle = story.run(_take(GP_A), now=day(3))
    assert taken == ac.GPAccessTaken(
        request_id=REQUEST, gp=GP_A, at=day(3), check_at=day(3) + timedelta(days=30)
    )
    assert circle == joined(GP_A, "gp", "gp-access")  # she joins the patient's care circle
    refused = story.when(_take(GP_B), now=day(3)).then_raises(RequestStateError)
    assert refused.current_status == "taken"


def test_only_a_gp_takes_a_request() -> None:
    _filed().when(
        TakeGPRequest(request_id=REQUEST, actor_id=NURSE[0], actor_role="nurse")
    ).then_raises(NotAllowedError)


def test_declined_goes_back_on_the_list_with_its_priority() -> None:
    story = _filed()
    story.run(_take(GP_A), now=day(3))
    story.when(
        DeclineGPRequest(request_id=REQUEST, reason="full", actor_id=GP_B, actor_role="gp")
    ).then_raises(NotAllowedError)
    story.when(
        DeclineGPRequest(request_id=REQUEST, reason="full", actor_id=GP_A, actor_role="gp"),
        now=day(4),
    ).then(ac.GPAccessDeclined(request_id=REQUEST, gp=GP_A, reason="full", at=day(4)))
    story.run(
        DeclineGPRequest(request_id=REQUEST, reason="full", actor_id=GP_A, actor_role="gp"),
        now=day(4),
    )
    r = story.state.access.gp_requests[REQUEST]
    assert (r.status, r.priority, r.score) == ("waiting", "P1", 65)
    story.when(_take(GP_B), now=day(5)).of_type(ac.GPAccessTaken)


def test_the_declared_gp_closes_the_request_with_its_date() -> None:
    story = _filed()
    story.run(_take(GP_A), now=day(3))
    fact = GPDeclared(rpps=GP_A, declared_at=day(10))
    events = story.record(fact, now=day(10))
    assert events == [
        ac.GPAccessClosed(
            request_id=REQUEST,
            outcome="gp-declared",
            at=day(10),
            gp=GP_A,
            declared_at=day(10),
            by_fact=story.history[-2][0],
        )
    ]
    assert story.state.access.declared_gp == GP_A


def test_the_coordinator_records_unreachable_moved_away_withdrawn() -> None:
    for outcome in ("unreachable", "moved-away", "withdrawn"):
        story = _filed()
        [closed] = story.run(
            CloseGPRequest(
                request_id=REQUEST,
                outcome=outcome,
                actor_id=COORDINATOR[0],
                actor_role=COORDINATOR[1],
            )
        )
        assert (
            closed.outcome == outcome and story.state.access.gp_requests[REQUEST].status == "closed"
        )
        story.when(_take()).then_raises(RequestStateError)


def _fire(story: AccessStory, kind: str, at) -> list:  # noqa: ANN001
    return story.when(
        FireTimer(timer=Timer(fire_at=at, kind=kind, request_id=REQUEST)), now=at
    ).events


def test_the_contact_timer_escalates_unless_the_coordinator_reached_the_patient() -> None:
    story = _filed()
    assert _fire(story, "gp-contact", day(2, 14)) == [
        ac.GPAccessEscalated(
            request_id=REQUEST, reason="contact-overdue", at=day(2, 14), priority="P1"
        )
    ]
    story.run(
        RecordPatientContact(request_id=REQUEST, actor_id="c", actor_role="coordinator"), now=day(1)
    )
    assert _fire(story, "gp-contact", day(2, 14)) == []


def test_the_target_passes_while_waiting_not_once_taken() -> None:
    story = _filed()
    target = NOW + timedelta(days=30)
    [e] = _fire(story, "gp-target", target)
    assert e.reason == "target-passed"
    story.run(_take(), now=day(5))
    assert _fire(story, "gp-target", target) == []


def test_the_declaration_check_escalates_when_no_gp_was_declared() -> None:
    story = _filed()
    taken, _ = story.run(_take(), now=day(3))  # taken, and the GP joins the care circle
    [e] = _fire(story, "gp-declaration-check", taken.check_at)
    assert e.reason == "declaration-missing"
    story.record(GPDeclared(rpps=GP_A, declared_at=day(9)), now=day(9))
    assert _fire(story, "gp-declaration-check", taken.check_at) == []


def test_a_followed_discharge_naming_no_gp_files_a_request_itself() -> None:
    story = AccessStory()
    events = story.record(discharge(NOW, "I50.1"), zone="69123")
    [req] = [e for e in events if isinstance(e, ac.GPAccessRequested)]
    assert (req.source, req.criteria, req.priority, req.zone) == (
        "discharge",
        ["recent-discharge"],
        "P2",
        "69123",
    )
    assert req.by_fact == story.history[0][0]


def test_a_discharge_naming_a_gp_or_a_declared_gp_files_nothing() -> None:
    story = AccessStory()
    events = story.record(discharge(NOW, "I50.1", care_team=team(gp="10000000001")))
    assert not [e for e in events if isinstance(e, ac.GPAccessRequested)]
    story = AccessStory()
    story.record(GPDeclared(rpps=GP_A, declared_at=NOW - timedelta(days=400)))
    events = story.record(discharge(NOW, "I50.1"))
    assert not [e for e in events if isinstance(e, ac.GPAccessRequested)]


def test_a_discharge_no_pathway_follows_files_nothing() -> None:
    events = AccessStory().record(discharge(NOW, "S72.0"))  # a hip fracture: no protocol
    assert not [e for e in events if isinstance(e, ac.GPAccessRequested)]


def test_a_death_closes_the_open_request_and_its_timers_decide_nothing() -> None:
    from tests.unit.given_when_then import death

    story = _filed()
    events = story.record(death(day(3)), now=day(3))
    assert [(type(e).__name__, getattr(e, "outcome", None)) for e in events] == [
        ("GPAccessClosed", "died")
    ]
    assert _fire(story, "gp-target", NOW + timedelta(days=30)) == []


def test_a_patient_with_a_declared_gp_is_referred_only_when_she_left() -> None:
    story = AccessStory()
    story.record(GPDeclared(rpps=GP_A, declared_at=NOW - timedelta(days=900)))
    refer = {"request_id": REQUEST, "actor_id": NURSE[0], "actor_role": NURSE[1]}
    story.when(RequestGPAccess(**refer)).then_raises(RequestStateError)
    [filed] = story.when(RequestGPAccess(criteria=["gp-left"], **refer)).events
    assert (filed.criteria, filed.score, filed.priority) == (["gp-left"], 15, "P3")


def test_declined_after_its_target_it_escalates_at_once() -> None:
    story = _filed()  # P1: 30 days
    story.run(_take(GP_A), now=day(20))
    late = day(33)
    events = story.when(
        DeclineGPRequest(request_id=REQUEST, reason="moving", actor_id=GP_A, actor_role="gp"),
        now=late,
    ).events
    assert [type(e).__name__ for e in events] == ["GPAccessDeclined", "GPAccessEscalated"]
    assert events[1].reason == "target-passed"
