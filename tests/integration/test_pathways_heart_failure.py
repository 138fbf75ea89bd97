"""Heart failure from discharge to D+90, played through the HTTP API with the virtual clock:
the exact task list with its dates, which tasks completed, which went overdue and escalated."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving

DISCHARGE = dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC)  # a Monday, 16:00 in Paris
GP = "10000000002"
NURSE = "10000000003"
PATIENT = {"ins": "295109912611193", "oid": "1.2.250.1.213.1.4.10", "commune": "75114"}


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC))


async def test_heart_failure_pathway_from_discharge_to_day_90(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    admin = bearer(token("admin", sub="ADMIN-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post(
            "/v1/facts",
            headers=hospital,
            json={
                "type": "DischargeReported",
                "patient": PATIENT,
                "admitted_at": iso(DISCHARGE - dt.timedelta(days=6)),
                "discharged_at": iso(DISCHARGE),
                "diagnoses": ["I50.1"],
                "finess": "750712184",
                "care_team": [{"role": "gp", "rpps": GP}],
            },
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["consequences"] > 0
        stream = answer.json()["stream"]

        # the enrolment and its plan
        enrolment_id = await _enrolment_of(api, virtual, stream)
        plan = (await api.get(f"/v1/enrolments/{enrolment_id}", headers=coordinator)).json()
        assert plan["protocol"] == "heart-failure-discharge" and plan["version"] == 1
        tasks = plan["tasks"]
        assert Counter(t["activity"] for t in tasks) == {
            "blood-panel": 1,
            "gp-consultation": 1,
            "nursing-visit": 16,
            "cardiology-consultation": 1,
        }
        by_activity = {t["activity"]: t for t in tasks if t["occurrence"] == 1}
        gp_task = by_activity["gp-consultation"]
        assert gp_task["assignee"] == GP  # the care team names the GP
        assert by_activity["nursing-visit"]["assignee"] is None  # a pool task
        # D0 < date <= D0+7, in Paris calendar days: due at the end of D+7
        assert gp_task["due"].startswith("2026-03-16")
        cardio = by_activity["cardiology-consultation"]
        assert cardio["earliest"].startswith("2026-04-0") and cardio["due"].startswith("2026-05-0")

        # a nurse claims the first nursing visit from the pool and completes it
        nursing = sorted(
            (t for t in tasks if t["activity"] == "nursing-visit"), key=lambda t: t["occurrence"]
        )
        nurse = bearer(token("nurse", sub=NURSE))
        first = nursing[0]["task_id"]
        accepted = await api.post(f"/v1/tasks/{first}/accept", headers=nurse)
        assert accepted.status_code == 200, accepted.text
        other = await api.post(
            f"/v1/tasks/{first}/accept", headers=bearer(token("nurse", sub="10000000009"))
        )
        assert other.status_code == 409
        assert other.json()["current_status"] == "accepted"
        done = await api.post(
            f"/v1/tasks/{first}/complete", headers=nurse, json={"findings": "stable"}
        )
        assert done.status_code == 200 and "TaskCompleted" in done.json()["events"]
        again = await api.post(f"/v1/tasks/{first}/complete", headers=nurse)
        assert again.status_code == 409 and again.json()["allowed"] == []

        # the GP sees the patient on D+5: the task completes on time (reported once it happened:
        # a fact more than a day ahead of the clock is refused)
        to_d5 = DISCHARGE + dt.timedelta(days=5)
        moved = await api.post("/v1/admin/clock/advance", headers=admin, json={"to": iso(to_d5)})
        assert moved.status_code == 200, moved.text
        seen = await api.post(
            "/v1/facts",
            headers=bearer(token("gp", sub=GP)),
            json={
                "type": "ConsultationReported",
                "patient": PATIENT,
                "consulted_at": iso(DISCHARGE + dt.timedelta(days=5)),
                "role": "gp",
                "rpps": GP,
            },
        )
        assert seen.status_code == 201 and seen.json()["consequences"] >= 1

        # ninety days pass: nothing else was done
        moved = await api.post(
            "/v1/admin/clock/advance", headers=admin, json={"to": "2026-06-08T12:00:00Z"}
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["now"].startswith("2026-06-08")
        final = (await api.get(f"/v1/enrolments/{enrolment_id}", headers=coordinator)).json()
        status = {(t["activity"], t["occurrence"]): t["status"] for t in final["tasks"]}
        assert status[("gp-consultation", 1)] == "completed"
        assert status[("nursing-visit", 1)] == "completed"
        # what was never done went overdue, escalated, and is cancelled when the pathway ends
        assert {k: v for k, v in status.items() if v != "completed"} == {
            k: "cancelled"
            for k in status
            if k not in {("gp-consultation", 1), ("nursing-visit", 1)}
        }

        events = await _types(virtual, stream)
        assert events.count("TaskOverdue") == 1 + 15 + 1  # panel, 15 visits, cardiology
        assert events.count("EscalationRaised") == events.count("TaskOverdue")
        assert final["status"] == "closed" and final["close_reason"] == "completed"


async def _enrolment_of(api, settings: Settings, stream: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(settings.database.url)
    try:
        data = await conn.fetchval(
            "SELECT data->>'enrolment_id' FROM events WHERE stream = $1 AND type = 'PatientEnrolled'",
            stream,
        )
    finally:
        await conn.close()
    return data


async def _types(settings: Settings, stream: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(settings.database.url)
    try:
        rows = await conn.fetch(
            "SELECT type FROM events WHERE stream = $1 ORDER BY version", stream
        )
    finally:
        await conn.close()
    return [r["type"] for r in rows]
