"""A seeded cohort for the fuzzer: patients of the three protocols discharged (or diagnosed)
through the pathways API on the virtual clock, a directory, and the projections caught up;
then the real ids the fuzzer feeds into the operations (``World``), read through the APIs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from contracts.identity import INS_TEST_OID, synthetic_ins
from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.clock import iso
from tests.integration.conftest import bearer, eventually, serving

NOW = dt.datetime(2026, 3, 20, 11, tzinfo=dt.UTC)  # the virtual clock of the fuzz run
NURSE = "10000000001"  # the nurse of every seeded care team (the fuzzer's nurse token)
GP = "10000000002"
ZONE = "75114"
PERIODS = ("2026-02", "2026-03", "2026-Q1", "2026")
RESERVED = 3


@dataclass
class World:
    """Real ids of the seeded cohort, for the fuzzer to draw from."""

    patients: list[uuid.UUID] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)  # their INS (test OID)
    # the first RESERVED patients get no fuzzed facts (a death would cancel their tasks):
    # their nurse's tasks stay open for the task commands
    reserved: list[uuid.UUID] = field(default_factory=list)
    enrolments: list[uuid.UUID] = field(default_factory=list)
    tasks: list[uuid.UUID] = field(default_factory=list)
    nurse_tasks: list[uuid.UUID] = field(default_factory=list)  # NURSE's own tasks
    protocols: list[tuple[str, int]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    pseudonyms: list[str] = field(default_factory=list)
    professionals: list[str] = field(default_factory=lambda: [NURSE, GP])
    pools: list[tuple[str, str]] = field(default_factory=lambda: [("nurse", ZONE)])
    periods: tuple[str, ...] = PERIODS
    gp_requests: list[uuid.UUID] = field(default_factory=list)  # GP-access requests
    snp_requests: list[uuid.UUID] = field(default_factory=list)  # unscheduled care


def _team() -> list[dict[str, str]]:
    return [{"role": "nurse", "rpps": NURSE}, {"role": "gp", "rpps": GP}]


def _discharge(n: int, days_ago: int, diagnosis: str) -> dict[str, Any]:
    out = NOW - dt.timedelta(days=days_ago, hours=3)
    return {
        "type": "DischargeReported",
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID, "commune": ZONE},
        "admitted_at": iso(out - dt.timedelta(days=6)),
        "discharged_at": iso(out),
        "diagnoses": [diagnosis],
        "finess": "750712184",
        "care_team": _team(),
    }


def _ogtt(n: int, days_ago: int) -> dict[str, Any]:
    return {
        "type": "GlucoseToleranceTestReported",
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID, "commune": ZONE},
        "tested_at": iso(NOW - dt.timedelta(days=days_ago, hours=2)),
        "fasting_g_l": 0.88,
        "one_hour_g_l": 1.85,
        "two_hour_g_l": 1.40,
        "expected_delivery": (NOW + dt.timedelta(days=70)).date().isoformat(),
    }


def _consultation(n: int, days_ago: int) -> dict[str, Any]:
    return {
        "type": "ConsultationReported",
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
        "consulted_at": iso(NOW - dt.timedelta(days=days_ago)),
        "role": "gp",
        "rpps": GP,
    }


def cohort_facts() -> list[dict[str, Any]]:
    """Heart failure and COPD discharges, gestational diabetes diagnoses, a few GP visits."""
    facts: list[dict[str, Any]] = []
    for k in range(6):
        facts.append(_discharge(70_000 + k, 3 + 6 * k, "I50.1"))
    for k in range(3):
        facts.append(_discharge(70_100 + k, 4 + 9 * k, "J44.1"))
    for k in range(3):
        facts.append(_ogtt(70_200 + k, 5 + 10 * k))
    facts += [_consultation(70_000 + k, 1 + 6 * k) for k in range(3)]
    return facts


async def seed(settings: Settings, token: Any) -> World:
    """Plays the cohort through the three services (in-process) and reads its ids back."""
    async with (
        serving(pathways_app(settings)) as pathways,
        serving(notifications_app(settings)) as notifications,
        serving(projections_app(settings)) as projections,
    ):
        return await seed_into(pathways, notifications, projections, token)


async def _seed_access(pathways: Any, token: Any, world: World) -> None:
    """GP-access requests (a nurse refers), SNP slots (the GP) and SNP requests (a
    pharmacist) for patients 70 300+, not in the cohort's pathways."""
    nurse = bearer(token("nurse", sub=NURSE))
    gp = bearer(token("gp", sub=GP))
    pharmacist = bearer(token("pharmacist", sub="10000000003"))
    slots = {"day": NOW.date().isoformat(), "zone": ZONE, "slots": 4}
    assert (await pathways.post("/v1/snp/slots", json=slots, headers=gp)).status_code == 201
    for k in range(4):
        patient = {"ins": synthetic_ins(70_300 + k), "oid": INS_TEST_OID, "commune": ZONE}
        asked = await pathways.post(
            "/v1/gp-access/requests",
            json={"patient": patient, "criteria": ["ald"] if k % 2 else []},
            headers=nurse,
        )
        assert asked.status_code == 201, asked.text
        world.gp_requests.append(uuid.UUID(asked.json()["request_id"]))
        snp = await pathways.post(
            "/v1/snp/requests",
            json={"patient": patient, "within_hours": 24 if k % 2 else 48},
            headers=pharmacist,
        )
        assert snp.status_code == 201, snp.text
        world.snp_requests.append(uuid.UUID(snp.json()["request_id"]))


async def seed_into(pathways: Any, notifications: Any, projections: Any, token: Any) -> World:
    """Plays the cohort through running services (clients of the three) in the CPTS of
    ``token``'s tokens, and reads its ids back."""
    world = World()
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    auditor = bearer(token("auditor", sub="AUDIT-1"))
    for rpps, role in ((NURSE, "nurse"), (GP, "gp")):
        added = await notifications.post(
            "/v1/directory/professionals",
            json={"rpps": rpps, "role": role, "zones": [ZONE]},
            headers=coordinator,
        )
        assert added.status_code in (200, 201), added.text
    enrolled = 0
    for body in cohort_facts():
        answer = await pathways.post("/v1/facts", json=body, headers=hospital)
        assert answer.status_code == 201, answer.text
        patient = uuid.UUID(answer.json()["stream"].removeprefix("patient-"))
        if patient not in world.patients:
            world.patients.append(patient)
            world.identities.append(body["patient"]["ins"])
        enrolled += body["type"] != "ConsultationReported"

    await _seed_access(pathways, token, world)

    async def caught_up() -> list[dict] | None:
        got = await projections.get("/v1/enrolments", headers=coordinator)
        found = got.json()["enrolments"] if got.status_code == 200 else []
        return found if len(found) == enrolled else None

    enrolments = await eventually(caught_up, timeout=60)
    world.enrolments = [uuid.UUID(e["enrolment_id"]) for e in enrolments]
    world.reserved = world.patients[:RESERVED]
    for e in enrolments:
        detail = await pathways.get(f"/v1/enrolments/{e['enrolment_id']}", headers=coordinator)
        assert detail.status_code == 200, detail.text
        for t in detail.json()["tasks"]:
            world.tasks.append(uuid.UUID(t["task_id"]))
            if t.get("assignee") == NURSE and uuid.UUID(e["patient_id"]) in world.reserved:
                world.nurse_tasks.append(uuid.UUID(t["task_id"]))

    protocols = (await pathways.get("/v1/protocols", headers=coordinator)).json()
    world.protocols = [(p["id"], p["version"]) for p in protocols]
    listed = (
        await projections.get("/v1/indicators", params={"period": "2026"}, headers=auditor)
    ).json()
    world.codes = [i["code"] for p in listed["protocols"] for i in p["indicators"]]
    for code in world.codes:
        cases = await projections.get(
            f"/v1/indicators/{code}/cases", params={"period": "2026"}, headers=auditor
        )
        world.pseudonyms += [c["case"] for c in cases.json()["cases"]]
    world.pseudonyms = sorted(set(world.pseudonyms))
    assert world.tasks and world.nurse_tasks and world.codes and world.pseudonyms, world
    return world
