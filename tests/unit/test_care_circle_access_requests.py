"""GP access and unscheduled care bring professionals into the care circle (issue 14 on
the care circle's rule): the GP who takes a GP-access request, the professional who
accepts an unscheduled-care request. Given/when/then on the pure decider."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from contracts import access as ac
from contracts.facts import SharingOpposed
from contracts.pathway import CareCircleChanged
from pathways.domain import (
    AcceptUnscheduledCare,
    DeclineGPRequest,
    RequestGPAccess,
    RequestUnscheduledCare,
    TakeGPRequest,
)
from pathways.domain.circle import may_read
from tests.unit.access_story import GP_A, GP_B, PHARMACIST, REQUEST, AccessStory
from tests.unit.given_when_then import COORDINATOR, NOW, day, joined

NURSE = ("10000000002", "nurse")
SNP = UUID(int=901)
SNP_NURSE = "10000000031"


def _filed() -> AccessStory:
    story = AccessStory()
    story.run(
        RequestGPAccess(
            request_id=REQUEST,
            criteria=["ald"],
            age=75,
            zone="69123",
            actor_id=NURSE[0],
            actor_role=NURSE[1],
        )
    )
    return story


def _take(gp: str) -> TakeGPRequest:
    return TakeGPRequest(request_id=REQUEST, actor_id=gp, actor_role="gp")


def _offered() -> AccessStory:
    story = AccessStory()
    story.run(
        RequestUnscheduledCare(
            request_id=SNP,
            within_hours=24,
            offered_to=[GP_A, SNP_NURSE],
            zone="69123",
            actor_id=PHARMACIST,
            actor_role="pharmacist",
        )
    )
    return story


def test_the_gp_who_takes_the_request_joins_the_circle_as_gp_and_the_other_does_not() -> None:
    story = _filed()
    assert story.state.circle == {}  # filing a request brings nobody in
    story.when(_take(GP_A), now=day(3)).then(
        ac.GPAccessTaken(
            request_id=REQUEST, gp=GP_A, at=day(3), check_at=day(3) + timedelta(days=30)
        ),
        joined(GP_A, "gp", "gp-access"),
    )
    story.run(_take(GP_A), now=day(3))
    assert story.state.circle == {GP_A: "gp"}
    assert may_read(story.state, GP_A, day(3)) and not may_read(story.state, GP_B, day(3))


def test_she_stays_in_the_circle_after_giving_the_request_back_and_joins_once() -> None:
    story = _filed()
    story.run(_take(GP_A), now=day(3))
    decline = DeclineGPRequest(request_id=REQUEST, reason="full", actor_id=GP_A, actor_role="gp")
    assert story.run(decline, now=day(4)) == [
        ac.GPAccessDeclined(request_id=REQUEST, gp=GP_A, reason="full", at=day(4))
    ]  # like a past task: she stays, nothing removed
    assert story.run(_take(GP_A), now=day(5))[1:] == []  # a member already: joins once
    assert story.state.circle == {GP_A: "gp"}


def test_an_opposed_gp_taking_the_request_does_not_join() -> None:
    story = _filed()
    story.record(SharingOpposed(opposed_at=NOW, rpps=GP_A))
    assert story.when(_take(GP_A), now=day(3)).of_type(CareCircleChanged) == []


def test_the_professional_who_accepts_unscheduled_care_joins_in_her_role() -> None:
    story = _offered()
    accept = AcceptUnscheduledCare(request_id=SNP, actor_id=SNP_NURSE, actor_role="nurse")
    story.when(accept, now=day(1)).then(
        ac.UnscheduledCareAccepted(request_id=SNP, by=SNP_NURSE, at=day(1), role="nurse"),
        joined(SNP_NURSE, "nurse", "unscheduled-care"),
    )
    story.run(accept, now=day(1))
    assert story.state.circle == {SNP_NURSE: "nurse"}  # the others offered it stay out
    assert not may_read(story.state, GP_A, day(1))


def test_a_coordinator_accepting_for_the_cpts_joins_no_circle() -> None:
    story = _offered()
    accept = AcceptUnscheduledCare(
        request_id=SNP, actor_id=COORDINATOR[0], actor_role="coordinator"
    )
    assert story.when(accept, now=day(1)).of_type(CareCircleChanged) == []
