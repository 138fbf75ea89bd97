"""Patient identity stays behind the HTTP API: the patient's care circle and coordinators
read it with their token, others are refused (a pool task's patient only once claimed),
every read is logged."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.conftest import bearer, serving
from tests.integration.patient_tasks import open_pool_task, patient_state

PATIENT = {
    "ins": "253072B07300470",
    "oid": "1.2.250.1.213.1.4.10",
    "birth_name": "LEGRAND",
    "first_names": "ANNE",
    "birth_date": "1948-05-02",
    "commune": "75114",
}
GP = "10000000021"


async def test_identity_is_read_by_the_patients_professionals_and_every_read_is_logged(
    settings: Settings, token
) -> None:
    virtual = settings.replace(
        clock="virtual", clock_start=dt.datetime(2026, 4, 6, 18, tzinfo=dt.UTC)
    )
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        posted = await api.post(
            "/v1/facts",
            headers=bearer(token("discharge-system")),
            json={
                "type": "DischargeReported",
                "patient": PATIENT,
                "admitted_at": "2026-04-01T08:00:00Z",
                "discharged_at": "2026-04-06T15:00:00Z",
                "diagnoses": ["I50.9"],
                "finess": "750712184",
                "care_team": [{"role": "gp", "rpps": GP}],
            },
        )
        patient_id = posted.json()["stream"].removeprefix("patient-")
        route = f"/v1/patients/{patient_id}/identity"

        mine = await api.get(route, headers=bearer(token("gp", sub=GP)))
        assert mine.status_code == 200, mine.text
        assert mine.json()["birth_name"] == "LEGRAND" and mine.json()["birth_date"] == "1948-05-02"
        # a nurse of the territory with open nursing visits in her pool: not before she
        # claims one (then she is in the patient's care circle)
        nurse = bearer(token("nurse", sub="10000000022", zones=["75114"]))
        pool = await api.get(route, headers=nurse)
        assert pool.status_code == 403 and "LEGRAND" not in pool.text
        assert "care circle" in pool.json()["detail"]
        task_id = await open_pool_task(settings.database.url, patient_id, "nurse")
        claimed = await api.post(f"/v1/tasks/{task_id}/accept", headers=nurse)
        assert claimed.status_code == 200, claimed.text
        assert (await api.get(route, headers=nurse)).status_code == 200
        # another GP has no task for this patient
        other = await api.get(route, headers=bearer(token("gp", sub="10000000023")))
        assert other.status_code == 403 and "LEGRAND" not in other.text
        # nor the details of the patient's tasks (an enrolment and its tasks)
        state = await patient_state(settings.database.url, patient_id)
        enrolment = f"/v1/enrolments/{next(iter(state.enrolments))}"
        details = await api.get(enrolment, headers=bearer(token("gp", sub="10000000023")))
        assert details.status_code == 403
        assert (await api.get(enrolment, headers=bearer(token("gp", sub=GP)))).status_code == 200
        coordinator = await api.get(route, headers=bearer(token("coordinator", sub="COORD-1")))
        assert coordinator.status_code == 200
        elsewhere = await api.get(route, headers=bearer(token("coordinator", cpts="other")))
        assert elsewhere.status_code == 404
        auditor = await api.get(route, headers=bearer(token("auditor")))
        assert auditor.status_code == 403

    conn = await asyncpg.connect(settings.database.url)
    try:
        log = await conn.fetch(
            """SELECT sub, granted, route FROM access_log WHERE $1 = ANY(patient_ids)
               AND purpose = 'patient identity' ORDER BY id""",
            uuid.UUID(patient_id),
        )
    finally:
        await conn.close()
    assert [(r["sub"], r["granted"]) for r in log] == [
        (GP, True),
        ("10000000022", False),  # before her claim
        ("10000000022", True),  # after it
        ("10000000023", False),
        ("COORD-1", True),
        ("SYS-1", False),  # the other CPTS's coordinator: no such patient there, logged
    ]  # the auditor's role is refused before anything is read
    assert {r["route"] for r in log} == {"GET /v1/patients/{patient_id}/identity"}
