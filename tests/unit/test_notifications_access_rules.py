"""Access-to-care notifications, pure: given an unscheduled-care request, its accept, its
escalation, or a GP-access escalation, then these people hear it (issue 14's gap)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from contracts.access import (
    GPAccessEscalated,
    UnscheduledCareAccepted,
    UnscheduledCareClosed,
    UnscheduledCareEscalated,
    UnscheduledCareRequested,
)
from contracts.events import Actor, Envelope
from contracts.notifications import notification_encoder
from contracts.subjects import Subjects
from notifications.domain.access import Offer, access_notices, offer_before

S = Subjects("parcours")
T0 = dt.datetime(2026, 3, 9, 9, tzinfo=dt.UTC)
PATIENT = uuid.UUID("00000000-0000-0000-0000-000000000001")
REQUEST = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
GP_A, GP_B, NURSE_C, STRANGER = "10000000001", "10000000002", "10000000003", "10000000009"
ROLES = {GP_A: "gp", GP_B: "gp", NURSE_C: "nurse"}
COORD = "parcours.demo.coord"


def envelope(payload: Any, n: int = 77) -> Envelope:
    return Envelope(
        event_id=uuid.UUID(int=n),
        stream=f"patient-{PATIENT}",
        version=n,
        type=payload.__struct_config__.tag,
        occurred_at=T0,
        recorded_at=T0,
        cpts="demo",
        correlation_id="c",
        actor=Actor(id="x", role="service"),
        data=payload,
    )


REQUESTED = UnscheduledCareRequested(
    request_id=REQUEST,
    requested_at=T0,
    within_hours=24,
    deadline=T0 + dt.timedelta(hours=24),
    escalate_at=T0 + dt.timedelta(hours=18),
    requested_by_role="pharmacist",
    offered_to=[GP_B, GP_A, NURSE_C],
    zone="76540",
    reason="fever since yesterday",
)


def to(role: str, rpps: str) -> str:
    return f"parcours.demo.tasks.{role}.{rpps}"


def test_a_request_is_offered_to_each_offered_professional_on_her_own_subject() -> None:
    found = access_notices(envelope(REQUESTED), None, ROLES, S)
    assert [(a.subject, a.notification.kind) for a in found.out] == [
        (to("gp", GP_A), "snp-offered"),
        (to("gp", GP_B), "snp-offered"),
        (to("nurse", NURSE_C), "snp-offered"),
    ]
    note = found.out[0].notification
    assert note.request_id == REQUEST and note.zone == "76540" and note.within_hours == 24
    assert note.deadline == T0 + dt.timedelta(hours=24)
    assert note.notification_id == f"{uuid.UUID(int=77)}:{to('gp', GP_A)}"
    assert found.not_in_directory == 0


def test_an_offer_names_no_patient_not_even_the_reference_nor_the_free_text() -> None:
    for a in access_notices(envelope(REQUESTED), None, ROLES, S).out:
        assert a.notification.patient_id is None and a.notification.reason is None
        wire = notification_encoder.encode(a.notification)
        assert str(PATIENT).encode() not in wire and b"fever" not in wire


def test_a_professional_not_in_the_directory_is_skipped_and_counted() -> None:
    request = UnscheduledCareRequested(**{**_fields(REQUESTED), "offered_to": [GP_A, STRANGER]})
    found = access_notices(envelope(request), None, ROLES, S)
    assert [a.subject for a in found.out] == [to("gp", GP_A)]
    assert found.not_in_directory == 1


def test_an_accept_tells_the_other_offered_professionals_it_is_taken() -> None:
    accepted = UnscheduledCareAccepted(request_id=REQUEST, by=GP_A, at=T0, role="gp")
    found = access_notices(envelope(accepted, 78), Offer(REQUESTED), ROLES, S)
    assert [(a.subject, a.notification.kind) for a in found.out] == [
        (to("gp", GP_B), "snp-taken"),
        (to("nurse", NURSE_C), "snp-taken"),
    ]
    assert all(a.notification.assignee == GP_A for a in found.out)
    assert all(a.notification.request_id == REQUEST for a in found.out)


def test_a_second_accept_or_an_accept_of_an_unknown_request_tells_nobody() -> None:
    again = UnscheduledCareAccepted(request_id=REQUEST, by=GP_B, at=T0)
    assert access_notices(envelope(again, 79), Offer(REQUESTED, GP_A), ROLES, S).out == []
    assert access_notices(envelope(again, 79), None, ROLES, S).out == []


def test_the_offer_before_an_event_is_read_from_the_stream_in_order() -> None:
    first = UnscheduledCareAccepted(request_id=REQUEST, by=GP_A, at=T0)
    second = UnscheduledCareAccepted(request_id=REQUEST, by=GP_B, at=T0)
    other = UnscheduledCareAccepted(request_id=uuid.uuid4(), by=GP_B, at=T0)
    stream = [envelope(REQUESTED, 1), envelope(other, 2), envelope(first, 3), envelope(second, 4)]
    assert offer_before(stream, REQUEST, uuid.UUID(int=3)) == Offer(REQUESTED)
    assert offer_before(stream, REQUEST, uuid.UUID(int=4)) == Offer(REQUESTED, GP_A)
    assert offer_before(stream, REQUEST, uuid.UUID(int=1)) is None


def test_escalations_go_to_the_coordinators() -> None:
    snp = UnscheduledCareEscalated(request_id=REQUEST, at=T0)
    [note] = access_notices(envelope(snp), Offer(REQUESTED), ROLES, S).out
    assert (note.subject, note.notification.kind) == (COORD, "snp-escalated")
    assert note.notification.request_id == REQUEST and note.notification.urgent
    assert note.notification.patient_id == PATIENT and note.notification.zone == "76540"
    gp = GPAccessEscalated(request_id=REQUEST, reason="target-passed", at=T0, priority="P1")
    [note] = access_notices(envelope(gp), None, ROLES, S).out
    assert (note.subject, note.notification.kind) == (COORD, "gp-access-escalated")
    assert note.notification.reason == "target-passed (P1)"


def test_a_closed_request_tells_nobody() -> None:
    closed = UnscheduledCareClosed(request_id=REQUEST, outcome="seen", at=T0)
    assert access_notices(envelope(closed), Offer(REQUESTED, GP_A), ROLES, S).out == []


def _fields(struct: Any) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}
