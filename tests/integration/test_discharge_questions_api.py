"""The JSON API takes a cancelled discharge like any fact, and a discharge without a
diagnosis puts a question to the coordinator that an explicit enrolment answers; read
back through ``GET /v1/enrolments/{id}`` (real PostgreSQL, virtual clock)."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.test_pathways_copd import stream_events

PARIS = ZoneInfo("Europe/Paris")
DISCHARGE = dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)  # Monday, 16:00 in Paris


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC))


def patient(n: int) -> dict:
    return {"ins": synthetic_ins(n), "oid": INS_TEST_OID, "commune": "75114"}


def discharge(n: int, *diagnoses: str, event_id: uuid.UUID | None = None) -> dict:
    body = {
        "type": "DischargeReported",
        "patient": patient(n),
        "admitted_at": iso(DISCHARGE - dt.timedelta(days=5)),
        "discharged_at": iso(DISCHARGE),
        "diagnoses": list(diagnoses),
        "finess": "750712184",
    }
    return body | ({"event_id": str(event_id)} if event_id else {})


async def test_a_cancelled_discharge_posted_as_json_cancels_the_enrolment_it_started(
    virtual: Settings, token
) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    discharge_id = uuid.uuid4()
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        posted = await api.post(
            "/v1/facts", headers=hospital, json=discharge(5101, "I50.1", event_id=discharge_id)
        )
        assert posted.status_code == 201, posted.text
        [enrolled] = [
            d for t, d in await stream_events(virtual, posted.json()["stream"])
            if t == "PatientEnrolled"
        ]  # fmt: skip
        cancelled = await api.post(
            "/v1/facts",
            headers=hospital,
            json={
                "type": "DischargeCancelled",
                "patient": patient(5101),
                "cancelled_at": iso(DISCHARGE + dt.timedelta(hours=2)),
                "discharge_event_id": str(discharge_id),
            },
        )
        assert cancelled.status_code == 201, cancelled.text
        assert cancelled.json()["consequences"] > 1  # the tasks' cancellations and the closing
        view = (
            await api.get(f"/v1/enrolments/{enrolled['enrolment_id']}", headers=coordinator)
        ).json()
    assert (view["status"], view["close_reason"]) == ("closed", "cancelled")
    assert view["tasks"] and {t["status"] for t in view["tasks"]} == {"cancelled"}


async def test_a_discharge_without_diagnosis_asks_the_coordinator_and_an_enrolment_answers(
    virtual: Settings, token
) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        posted = await api.post("/v1/facts", headers=hospital, json=discharge(5102))
        assert posted.status_code == 201, posted.text
        [question] = [
            d for t, d in await stream_events(virtual, posted.json()["stream"])
            if t == "PatientEnrolled"
        ]  # fmt: skip
        assert question["protocol"] == "discharge-classification"
        url = f"/v1/enrolments/{question['enrolment_id']}"
        [task] = (await api.get(url, headers=coordinator)).json()["tasks"]
        # by D+2 in Paris: Wednesday 4 November 2026, 23:59:59 (UTC+1)
        assert (task["activity"], task["role"], task["due"]) == (
            "classify-discharge", "coordinator", "2026-11-04T22:59:59Z",
        )  # fmt: skip
        enrolled = await api.post(
            "/v1/enrolments",
            headers=coordinator,
            json={
                "patient": patient(5102),
                "protocol": "heart-failure-discharge",
                "anchor_at": iso(DISCHARGE),
            },
        )
        assert enrolled.status_code == 201, enrolled.text
        answered = (await api.get(url, headers=coordinator)).json()
    assert (answered["status"], answered["close_reason"]) == ("closed", "completed")
    assert [t["status"] for t in answered["tasks"]] == ["completed"]
