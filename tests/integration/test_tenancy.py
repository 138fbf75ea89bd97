"""Tenancy: event ids are unique per CPTS, and auditors never see internal ids or assignees.

A sender's event id re-sent by another CPTS is that CPTS's own, independent event
(201, its own position, its own timeline line), never 409 "already recorded": no
tenant can learn that an id exists elsewhere. Inside one CPTS, re-sending is still
idempotent (200, the original position) and other content still conflicts (409).
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.conftest import bearer, eventually, serving
from tests.integration.test_walking_skeleton import discharge

INS_A, INS_B = "295109912611193", "253072B07300470"


@pytest.fixture(scope="module")
def hospitals(token) -> dict[str, dict[str, str]]:
    return {c: bearer(token("discharge-system", sub="CHU-1", cpts=c)) for c in ("alpha", "beta")}


async def test_an_event_id_resent_by_another_cpts_is_an_independent_event(
    settings: Settings, token, hospitals
):
    shared = str(uuid.uuid4())
    async with (
        serving(pathways_app(settings)) as pathways,
        serving(projections_app(settings)) as projections,
    ):
        first = await pathways.post(
            "/v1/facts", json=discharge(shared, ins=INS_A), headers=hospitals["alpha"]
        )
        other = await pathways.post(
            "/v1/facts",
            json=discharge(shared, ins=INS_B, diagnoses=["I50.9"]),
            headers=hospitals["beta"],
        )
        assert (first.status_code, other.status_code) == (201, 201), other.text
        assert other.json()["position"] != first.json()["position"]
        assert other.json()["stream"] != first.json()["stream"]

        # inside each CPTS: idempotent, and a different content still conflicts
        again_a = await pathways.post(
            "/v1/facts", json=discharge(shared, ins=INS_A), headers=hospitals["alpha"]
        )
        again_b = await pathways.post(
            "/v1/facts",
            json=discharge(shared, ins=INS_B, diagnoses=["I50.9"]),
            headers=hospitals["beta"],
        )
        assert (again_a.status_code, again_b.status_code) == (200, 200)
        assert again_a.json()["position"] == first.json()["position"]
        assert again_b.json()["position"] == other.json()["position"]
        changed = await pathways.post(
            "/v1/facts", json=discharge(shared, ins=INS_B), headers=hospitals["beta"]
        )
        assert changed.status_code == 409

        # the batch route answers the same way
        batch = await pathways.post(
            "/v1/facts:batch",
            json=[discharge(shared, ins="253072A07300443")],
            headers=bearer(token("discharge-system", sub="CHU-1", cpts="gamma")),
        )
        assert batch.json()["results"][0]["status"] == 201, batch.text

        # both events travel to their own CPTS's timeline (relay, NATS, projections)
        for cpts, answer in (("alpha", first), ("beta", other)):
            patient = answer.json()["stream"].removeprefix("patient-")
            reader = bearer(token("coordinator", sub="COORD-1", cpts=cpts))  # reads every patient

            async def timeline(patient=patient, reader=reader):  # type: ignore[no-untyped-def]
                r = await projections.get(f"/v1/patients/{patient}/timeline", headers=reader)
                return r.json()["entries"] if r.status_code == 200 else None

            entries = await eventually(timeline)
            assert entries[0]["event_id"] == shared


async def test_auditors_may_not_read_an_enrolment_with_its_patient_id_and_assignees(
    settings: Settings, token, hospitals
):
    async with serving(pathways_app(settings, with_relay=False)) as pathways:
        posted = await pathways.post(
            "/v1/facts", json=discharge(ins="182036912345659"), headers=hospitals["alpha"]
        )
        assert posted.status_code == 201, posted.text
        conn = await asyncpg.connect(settings.database.url)
        try:
            enrolment = await eventually(  # the timer index knows the enrolment
                lambda: conn.fetchval(
                    "SELECT enrolment_id FROM enrolment_index WHERE stream = $1",
                    posted.json()["stream"],
                )
            )
        finally:
            await conn.close()
        auditor = bearer(token("auditor", sub="AUDIT-1", cpts="alpha"))
        coordinator = bearer(token("coordinator", sub="COORD-1", cpts="alpha"))
        refused = await pathways.get(f"/v1/enrolments/{enrolment}", headers=auditor)
        assert refused.status_code == 403
        assert posted.json()["stream"].removeprefix("patient-") not in refused.text
        allowed = await pathways.get(f"/v1/enrolments/{enrolment}", headers=coordinator)
        assert allowed.status_code == 200, allowed.text
