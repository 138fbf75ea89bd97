"""Routing, pure: given what is known of a task, when an event arrives, then these
notifications go to these subjects (and the digest is composed at the right hour)."""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from contracts import pathway as ev
from contracts.events import Actor, Envelope
from contracts.notifications import zone_token
from contracts.subjects import Subjects
from notifications.domain.audience import concerns, heard_zones, task_role
from notifications.domain.digest import OpenTask, Recipient, compose, digest_day
from notifications.domain.routing import TaskView, route

S = Subjects("parcours")
T0 = dt.datetime(2026, 3, 9, 9, tzinfo=dt.UTC)
PATIENT = uuid.UUID("00000000-0000-0000-0000-000000000001")
ALICE, BOB = "10000000001", "10000000002"
TASK = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


def envelope(payload: Any) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        stream=f"patient-{PATIENT}",
        version=1,
        type=payload.__struct_config__.tag,
        occurred_at=T0,
        recorded_at=T0,
        cpts="demo",
        correlation_id="c",
        actor=Actor(id="x", role="service"),
        data=payload,
    )


def scheduled(assignee: str | None = None, zone: str | None = "Z1") -> ev.TaskScheduled:
    return ev.TaskScheduled(
        task_id=TASK,
        enrolment_id=uuid.uuid4(),
        protocol="hf",
        activity="visit",
        occurrence=1,
        role="nurse",
        earliest=T0,
        due=T0 + dt.timedelta(days=2),
        assignee=assignee,
        zone=zone,
    )


class Given:
    def __init__(self, *events: Any) -> None:
        self.task: TaskView | None = None
        for payload in events:
            self.task = route(envelope(payload), self.task, subjects=S, default_zone="sector").task

    def when(self, payload: Any) -> list[tuple[str, str]]:
        env = envelope(payload)
        routed = route(env, self.task, subjects=S, default_zone="sector")
        self.after = routed.task
        for a in routed.out:
            assert a.notification.notification_id == f"{env.event_id}:{a.subject}"
        return [(a.subject, a.notification.kind) for a in routed.out]


def given(*events: Any) -> Given:
    return Given(*events)


ALICE_SUBJECT = S.professional("demo", "nurse", ALICE)
BOB_SUBJECT = S.professional("demo", "nurse", BOB)
POOL = S.pool("demo", "nurse", "Z1")


def test_an_assigned_task_goes_to_its_assignee() -> None:
    assert given().when(scheduled(ALICE)) == [(ALICE_SUBJECT, "scheduled")]


def test_a_task_without_assignee_goes_to_its_pool_or_the_default_sector() -> None:
    assert given().when(scheduled(None)) == [(POOL, "scheduled")]
    assert given().when(scheduled(None, zone=None)) == [
        (S.pool("demo", "nurse", "sector"), "scheduled")
    ]


def test_claiming_a_pool_task_tells_the_pool_once_and_confirms_to_the_taker() -> None:
    g = given(scheduled(None))
    assert g.when(ev.TaskAccepted(task_id=TASK, by=ALICE, role="nurse")) == [
        (POOL, "taken"),
        (ALICE_SUBJECT, "accepted"),
    ]
    g = given(scheduled(None), ev.TaskAccepted(task_id=TASK, by=ALICE, role="nurse"))
    assert g.when(ev.TaskAccepted(task_id=TASK, by=BOB, role="nurse")) == []
    assert g.after is not None and g.after.assignee == ALICE


def test_a_reassignment_tells_who_loses_it_and_who_gets_it() -> None:
    g = given(scheduled(ALICE))
    assert g.when(ev.TaskReassigned(task_id=TASK, by="c", assignee=BOB)) == [
        (ALICE_SUBJECT, "reassigned"),
        (BOB_SUBJECT, "assigned"),
    ]
    assert g.when(ev.TaskReassigned(task_id=TASK, by="c", assignee=None)) == [
        (ALICE_SUBJECT, "reassigned"),
        (POOL, "released"),
    ]


def test_a_closed_task_hears_no_reminder_and_no_second_closing() -> None:
    g = given(scheduled(ALICE), ev.TaskCancelled(task_id=TASK, reason="death"))
    assert g.when(ev.ReminderDue(task_id=TASK, due=T0)) == []
    assert g.when(ev.TaskCompleted(task_id=TASK, completed_at=T0, on_time=True)) == []


def test_overdue_is_told_once_and_escalations_go_to_the_coordinators() -> None:
    g = given(scheduled(ALICE), ev.TaskOverdue(task_id=TASK, due=T0))
    assert g.when(ev.TaskOverdue(task_id=TASK, due=T0)) == []
    escalation = ev.EscalationRaised(
        escalation_id=uuid.uuid4(), task_id=TASK, enrolment_id=uuid.uuid4(), reason="late"
    )
    assert g.when(escalation) == [(S.coordinators("demo"), "escalation")]
    assert given().when(escalation) == [(S.coordinators("demo"), "escalation")]


def test_a_rejection_is_for_the_coordinators() -> None:
    assert given(scheduled(ALICE)).when(ev.TaskRejected(task_id=TASK, by=ALICE)) == [
        (S.coordinators("demo"), "rejected")
    ]


def test_a_break_the_glass_grant_is_told_to_the_coordinators_and_circle_changes_to_nobody():
    grant = ev.BreakGlassGranted(
        access_id=uuid.uuid4(),
        rpps=BOB,
        role="nurse",
        reason="fell at home",
        granted_at=T0,
        expires_at=T0 + dt.timedelta(hours=4),
    )
    routed = route(envelope(grant), None, subjects=S, default_zone="sector")
    [told] = routed.out
    assert (told.subject, told.notification.kind) == (S.coordinators("demo"), "break-glass")
    assert told.notification.patient_id == PATIENT and told.notification.urgent
    assert BOB in (told.notification.reason or "") and "fell at home" in told.notification.reason
    joined = ev.CareCircleChanged(rpps=BOB, role="nurse", change="added", source="task")
    assert given().when(joined) == []


def test_receipts_and_unknown_tasks_notify_nobody() -> None:
    assert given(scheduled(ALICE)).when(ev.TaskSeen(task_id=TASK, by=ALICE, at=T0)) == []
    assert given().when(ev.ReminderDue(task_id=TASK, due=T0)) == []


@pytest.mark.parametrize(
    ("zone", "token"),
    [("Z1", "Z1"), ("Saint-Étienne du Rouvray", "Saint-Etienne-du-Rouvray"), ("76.540", "76-540")],
)
def test_zones_become_subject_tokens(zone: str, token: str) -> None:
    assert zone_token(zone) == token


def test_the_digest_is_due_from_seven_local_time_and_lists_own_tasks_first() -> None:
    winter_six_fifty_nine = dt.datetime(2026, 1, 5, 5, 59, tzinfo=dt.UTC)  # 06:59 in Paris
    assert digest_day(winter_six_fifty_nine, 7) is None
    assert digest_day(winter_six_fifty_nine + dt.timedelta(minutes=1), 7) == dt.date(2026, 1, 5)
    assert digest_day(T0, -1) is None
    tasks = [
        OpenTask(
            task_id=1,
            patient_id=None,
            activity="a",
            status="requested",
            earliest=T0,
            due=T0,
            pool=True,
        ),
        OpenTask(
            task_id=2,
            patient_id=None,
            activity="b",
            status="accepted",
            earliest=T0,
            due=T0 + dt.timedelta(days=1),
        ),
    ]
    digest = compose(Recipient("demo", ALICE, "nurse"), dt.date(2026, 1, 5), T0, tasks)
    assert digest is not None and [i.task_id for i in digest.items] == [2, 1]
    assert digest.notification_id == f"digest:demo:{ALICE}:2026-01-05"
    assert compose(Recipient("demo", ALICE, "nurse"), dt.date(2026, 1, 5), T0, []) is None


class Caller(msgspec.Struct, frozen=True):
    cpts: str
    sub: str
    role: str
    actor_role: str


def test_a_task_concerns_its_assignee_its_pool_and_its_coordinators_only() -> None:
    assigned = given(scheduled(assignee=ALICE)).task
    pooled = given(scheduled(zone="Z1")).task
    assert assigned is not None and pooled is not None
    alice, bob = Caller("demo", ALICE, "nurse", "nurse"), Caller("demo", BOB, "nurse", "nurse")
    coordinator = Caller("demo", "coord-1", "coordinator", "coordinator")
    assert concerns(assigned, alice, ()) and not concerns(assigned, bob, ("Z1",))
    assert concerns(pooled, bob, ("Z1",)) and not concerns(pooled, bob, ("Z2",))
    assert not concerns(pooled, Caller("demo", BOB, "gp", "gp"), ("Z1",))
    assert concerns(assigned, coordinator, ()) and concerns(pooled, coordinator, ())
    assert not concerns(assigned, Caller("other", ALICE, "nurse", "nurse"), ())


def test_a_professional_hears_the_valid_zones_once_and_a_specialist_acts_as_their_specialty() -> (
    None
):
    assert heard_zones(["Z2", "Saint-Étienne du Rouvray", "?!", "Z2"]) == (
        "Saint-Etienne-du-Rouvray",
        "Z2",
    )
    assert task_role("specialist", "cardiologist") == "cardiologist"
    assert task_role("nurse", None) == "nurse"


def test_the_notifications_domain_does_no_io_and_reads_no_clock() -> None:
    folder = Path(__file__).resolve().parents[2] / "services/notifications/domain"
    forbidden_imports = ("asyncpg", "nats", "litestar", "structlog", "parcours")
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names.append(getattr(node, "module", None) or "")
                assert not [n for n in names if n.split(".")[0] in forbidden_imports], path.name
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("now", "utcnow", "today", "uuid4", "time"), path.name
