"""End to end through the three services: a discharge posted over HTTP shows in the timeline;
every client mistake gets a problem+json answer, never a 500."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.conftest import bearer, eventually, serving

INS = "295109912611193"


def discharge(event_id: str | None = None, ins: str = INS, **over) -> dict:
    body = {
        "type": "DischargeReported",
        "patient": {"ins": ins, "oid": "1.2.250.1.213.1.4.10", "birth_name": "DUPONT"},
        "admitted_at": "2026-03-01T09:00:00Z",
        "discharged_at": "2026-03-08T14:00:00Z",
        "diagnoses": ["I50.1"],
        "finess": "750712184",
    }
    if event_id:
        body["event_id"] = event_id
    body.update(over)
    return body


@pytest.fixture(scope="module")
def hospital(token) -> dict[str, str]:
    return bearer(token("discharge-system", sub="CHU-1"))


async def test_a_posted_discharge_appears_in_the_patients_timeline(
    settings: Settings, token, hospital
):
    async with (
        serving(pathways_app(settings)) as pathways,
        serving(projections_app(settings)) as projections,
        serving(notifications_app(settings)) as notifications,
    ):
        event_id = str(uuid.uuid4())
        answer = await pathways.post(
            "/v1/facts",
            json=discharge(event_id),
            headers={**hospital, "X-Correlation-ID": "corr-e2e"},
        )
        assert answer.status_code == 201, answer.text
        accepted = answer.json()
        assert accepted["event_id"] == event_id and accepted["position"] > 0
        assert answer.headers["x-correlation-id"] == "corr-e2e"
        patient_id = accepted["stream"].removeprefix("patient-")

        # a coordinator of the CPTS reads every patient of it (professionals: their circle)
        reader = bearer(token("coordinator", sub="COORD-1"))

        async def timeline():
            r = await projections.get(f"/v1/patients/{patient_id}/timeline", headers=reader)
            return r.json()["entries"] if r.status_code == 200 else None

        entries = await eventually(timeline)
        assert entries[0]["event_id"] == event_id
        assert entries[0]["type"] == "DischargeReported"
        assert entries[0]["label"] == "Sortie d'hospitalisation"

        for service in (pathways, projections, notifications):
            assert (await service.get("/health/live")).status_code == 200
            ready = await service.get("/health/ready")
            assert ready.json()["checks"] == {"postgresql": "ok", "nats": "ok"}
            assert (await service.get("/schema/openapi.json")).status_code == 200

        # the correlation id travelled into the envelope
        conn = await asyncpg.connect(settings.database.url)
        try:
            stored = await conn.fetchval(
                "SELECT correlation_id FROM events WHERE event_id = $1", uuid.UUID(event_id)
            )
            identity = await conn.fetchval(
                "SELECT data::text FROM events WHERE event_id = $1", uuid.UUID(event_id)
            )
        finally:
            await conn.close()
        assert stored == "corr-e2e"
        assert INS not in identity and "DUPONT" not in identity  # events carry the patient id only


async def test_sending_the_same_event_id_again_answers_200_with_the_same_answer(settings, hospital):
    async with serving(pathways_app(settings, with_relay=False)) as client:
        event_id = str(uuid.uuid4())
        first = await client.post("/v1/facts", json=discharge(event_id), headers=hospital)
        again = await client.post("/v1/facts", json=discharge(event_id), headers=hospital)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["position"] == again.json()["position"]
        changed = await client.post(
            "/v1/facts", json=discharge(event_id, diagnoses=["I50.9"]), headers=hospital
        )
        assert changed.status_code == 409
        assert changed.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("case", "status", "field"),
    [
        ("no token", 401, None),
        ("expired token", 401, None),
        ("auditor posts", 403, None),
        ("malformed json", 400, None),
        ("unknown type", 422, "type"),
        ("bad INS key", 422, "patient.ins"),
        ("bad diagnosis", 422, "diagnoses[0]"),
        ("unknown field", 422, "colour"),
        ("too large", 413, None),
    ],
)
async def test_client_mistakes_get_problem_details(settings, token, hospital, case, status, field):
    headers = hospital
    content = None
    body: dict | None = discharge()
    if case == "no token":
        headers = {}
    elif case == "expired token":
        headers = bearer(token("discharge-system", ttl_seconds=-10))
    elif case == "auditor posts":
        headers = bearer(token("auditor"))
    elif case == "malformed json":
        body, content = None, b'{"type": "DischargeReported",'
    elif case == "unknown type":
        body = {"type": "Teleportation", "patient": {"ins": INS}}
    elif case == "bad INS key":
        body = discharge(ins="295109912611194")
    elif case == "bad diagnosis":
        body = discharge(diagnoses=["heart"])
    elif case == "unknown field":
        body = discharge(colour="blue")
    elif case == "too large":
        body = discharge(notes="x" * (1024 * 1024 + 10))
    async with serving(pathways_app(settings, with_relay=False)) as client:
        if content is not None:
            r = await client.post(
                "/v1/facts",
                content=content,
                headers={**headers, "content-type": "application/json"},
            )
        else:
            r = await client.post("/v1/facts", json=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == status and problem["detail"]
    if field:
        assert problem["field"] == field
    if case == "unknown type":
        assert "DischargeReported" in problem["accepted"]
    assert "295109912611194" not in r.text and INS not in r.text
