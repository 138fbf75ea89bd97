"""Admission and discharge alerts, pure: given what the router knows of a patient's tasks
and enrolments, when an admission or a discharge arrives, then these professionals hear it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from contracts.events import Actor, Envelope
from contracts.facts import AdmissionReported, DischargeReported, LabResultReported
from contracts.identity import CareTeamMember
from contracts.subjects import Subjects
from notifications.domain.alerts import alerts, care_circle
from notifications.domain.routing import TaskView

S = Subjects("parcours")
T0 = dt.datetime(2026, 3, 9, 9, tzinfo=dt.UTC)
PATIENT = uuid.UUID("00000000-0000-0000-0000-000000000001")
ENROLMENT = uuid.UUID("00000000-0000-0000-0000-0000000000e1")
NURSE, GP, CARDIO, OTHER_GP = "10000000001", "10000000002", "10000000003", "10000000009"


def envelope(payload: Any) -> Envelope:
    return Envelope(
        event_id=uuid.UUID(int=77),
        stream=f"patient-{PATIENT}",
        version=9,
        type=payload.__struct_config__.tag,
        occurred_at=T0,
        recorded_at=T0,
        cpts="demo",
        correlation_id="c",
        actor=Actor(id="x", role="discharge-system"),
        data=payload,
    )


def task(role: str, assignee: str | None, status: str = "requested", **kw: Any) -> TaskView:
    return TaskView(
        task_id=uuid.uuid4(), cpts="demo", patient_id=PATIENT,
        enrolment_id=kw.pop("enrolment_id", ENROLMENT), protocol="hf", activity=f"{role}-x",
        occurrence=1, role=role, zone="Z1", assignee=assignee, earliest=T0, due=T0,
        status=status, **kw,
    )  # fmt: skip


ADMISSION = AdmissionReported(admitted_at=T0, finess="750000001")


def discharge(destination: str = "home", gp: str | None = None) -> DischargeReported:
    team = [CareTeamMember(role="gp", rpps=gp)] if gp else []
    return DischargeReported(
        admitted_at=T0 - dt.timedelta(days=3), discharged_at=T0, diagnoses=[],
        finess="750000001", destination=destination, care_team=team,
    )  # fmt: skip


def test_an_admission_tells_the_assignees_of_the_open_tasks_each_once():
    tasks = [task("nurse", NURSE), task("nurse", NURSE), task("gp", GP), task("lab", None)]
    out = alerts(envelope(ADMISSION), tasks, {ENROLMENT: "active"}, S)
    assert [(a.subject, a.notification.kind) for a in out] == [
        (S.professional("demo", "gp", GP), "admitted"),
        (S.professional("demo", "nurse", NURSE), "admitted"),
    ]
    note = out[0].notification
    assert (note.patient_id, note.event_id, note.reason) == (
        PATIENT, uuid.UUID(int=77), "hospital admission",
    )  # fmt: skip
    assert note.notification_id == f"{uuid.UUID(int=77)}:{out[0].subject}"
    assert note.task_id is None


@pytest.mark.parametrize("destination", ["home", "transfer", "death", "unknown"])
def test_a_discharge_for_any_reason_tells_the_circle_and_the_gp_the_discharge_names(destination):
    tasks = [task("nurse", NURSE, "cancelled", cause="paused")]  # paused by the stay
    out = alerts(envelope(discharge(destination, gp=OTHER_GP)), tasks, {ENROLMENT: "paused"}, S)
    assert {(a.notification.role, a.notification.assignee) for a in out} == {
        ("nurse", NURSE),
        ("gp", OTHER_GP),
    }
    assert {a.notification.kind for a in out} == {"discharged"}
    assert out[0].notification.reason == f"hospital discharge ({destination})"


def test_done_or_dropped_tasks_and_closed_enrolments_are_not_the_circle():
    closed = uuid.uuid4()
    tasks = [
        task("nurse", NURSE, "completed"),
        task("gp", GP, "cancelled", cause="requested"),
        task("cardiologist", CARDIO, enrolment_id=closed),  # its enrolment closed meanwhile
    ]
    assert care_circle(tasks, {ENROLMENT: "active", closed: "closed"}, ADMISSION) == []


def test_a_patient_not_followed_alerts_nobody_even_with_a_gp_named():
    assert alerts(envelope(discharge(gp=GP)), [], {}, S) == []
    assert alerts(envelope(discharge(gp=GP)), [], {ENROLMENT: "closed"}, S) == []


def test_other_facts_alert_nobody():
    fact = LabResultReported(collected_at=T0, loinc="2160-0", value=1.0, unit="mg/dL")
    assert alerts(envelope(fact), [task("nurse", NURSE)], {ENROLMENT: "active"}, S) == []
