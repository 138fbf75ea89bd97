"""Admission and discharge alerts through the real relay, NATS and the notifications
router: a followed patient's admission and discharge reach the professionals of their
tasks and the GP the discharge names; a patient not followed alerts nobody."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid

from contracts import pathway as ev
from contracts.facts import AdmissionReported, DischargeReported
from contracts.identity import CareTeamMember
from tests.integration.conftest import eventually
from tests.integration.test_notifications_routing import (  # noqa: F401 - fixtures
    T0,
    Listener,
    System,
    app_nc,
    listener,
    rpps,
    scheduled,
    system,
)


def alerted(heard: Listener, patient: uuid.UUID) -> list[tuple[str, str]]:
    return sorted(
        (s, n.kind)
        for s, n in heard.got
        if n.patient_id == patient and n.kind in ("admitted", "discharged")
    )


async def test_a_followed_patient_admitted_then_discharged_alerts_the_circle_each_time(
    system: System,  # noqa: F811 - the fixture imported above
    listener: Listener,  # noqa: F811
) -> None:
    nurse, gp, cardiologist = rpps(), rpps(), rpps()
    enrolment = uuid.uuid4()
    visit = scheduled(nurse, enrolment_id=enrolment)
    consult = scheduled(cardiologist, role="cardiologist", enrolment_id=enrolment)
    pooled = scheduled(None, enrolment_id=enrolment, activity="blood-panel", role="lab")
    enrolled = ev.PatientEnrolled(
        enrolment_id=enrolment, protocol="heart-failure-discharge", protocol_version="1",
        anchor_type="DischargeReported", anchor_at=T0,
    )  # fmt: skip
    await system.append(enrolled, visit, consult, pooled)
    await system.append(
        AdmissionReported(admitted_at=T0 + dt.timedelta(days=9), finess="750000001"),
        ev.EnrolmentPaused(enrolment_id=enrolment, reason="AdmissionReported"),
        *(
            ev.TaskCancelled(task_id=t.task_id, reason="paused", cause="paused")
            for t in (visit, consult, pooled)
        ),
    )
    await system.append(
        DischargeReported(
            admitted_at=T0 + dt.timedelta(days=9),
            discharged_at=T0 + dt.timedelta(days=12),
            diagnoses=[],
            finess="750000001",
            destination="home",
            care_team=[CareTeamMember(role="gp", rpps=gp)],
        )  # fmt: skip
    )
    await system.settled()
    to = system.subjects.professional
    expected = sorted(
        [
            (to("demo", "nurse", nurse), "admitted"),
            (to("demo", "cardiologist", cardiologist), "admitted"),
            (to("demo", "nurse", nurse), "discharged"),
            (to("demo", "cardiologist", cardiologist), "discharged"),
            (to("demo", "gp", gp), "discharged"),
        ]
    )

    async def seen() -> list[tuple[str, str]] | None:
        got = alerted(listener, system.patient)  # live subscribers: published after commit
        return got if len(got) >= len(expected) else None

    with contextlib.suppress(AssertionError):
        await eventually(seen)
    assert alerted(listener, system.patient) == expected
    [note] = [n for s, n in listener.got if n.kind == "discharged" and n.assignee == gp]
    assert note.reason == "hospital discharge (home)" and note.task_id is None


async def test_an_admission_of_a_patient_not_followed_alerts_nobody(
    system: System,  # noqa: F811 - the fixture imported above
    listener: Listener,  # noqa: F811
) -> None:
    stranger, followed = uuid.uuid4(), uuid.uuid4()
    nurse = rpps()
    closed = uuid.uuid4()
    await system.append(
        ev.PatientEnrolled(
            enrolment_id=closed,
            protocol="copd-exacerbation",
            protocol_version="1",
            anchor_type="DischargeReported",
            anchor_at=T0,
        ),  # fmt: skip
        scheduled(nurse, enrolment_id=closed),
        ev.EnrolmentClosed(enrolment_id=closed, reason="completed"),
        AdmissionReported(admitted_at=T0, finess="750000001"),
        patient=stranger,
    )
    # a marker: a followed patient's admission after it, through the same router
    enrolment = uuid.uuid4()
    await system.append(
        ev.PatientEnrolled(
            enrolment_id=enrolment,
            protocol="copd-exacerbation",
            protocol_version="1",
            anchor_type="DischargeReported",
            anchor_at=T0,
        ),  # fmt: skip
        scheduled(nurse, enrolment_id=enrolment),
        AdmissionReported(admitted_at=T0, finess="750000001"),
        patient=followed,
    )
    await system.settled()

    async def marker() -> list[tuple[str, str]]:
        return alerted(listener, followed)

    await eventually(marker)
    assert alerted(listener, stranger) == []
