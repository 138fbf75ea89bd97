"""COPD after an exacerbation, from discharge to D+90, played through the HTTP API with the
virtual clock: the GP on time, the pulmonologist late, the bronchodilator completed by its
ATC code, the flu vaccination in season, rehabilitation never done (overdue, escalated)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest

from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving

PARIS = ZoneInfo("Europe/Paris")
D0 = dt.date(2026, 11, 2)  # a Monday, in the flu season (15 October - 31 January)
DISCHARGE = dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC)  # 16:00 in Paris
PATIENT = {"ins": "180117510200144", "oid": "1.2.250.1.213.1.4.10", "commune": "75114"}
GP, PULMONOLOGIST, PHARMACIST = "10000000002", "10000000004", "10000000005"


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC))


def at(day: int, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock in Paris on D0+day, as a UTC instant."""
    local = dt.datetime.combine(D0 + dt.timedelta(days=day), dt.time(hour), PARIS)
    return local.astimezone(dt.UTC)


def start(day: int) -> str:
    return iso(at(day, 0))


def end(day: int) -> str:
    local = dt.datetime.combine(D0 + dt.timedelta(days=day), dt.time(23, 59, 59), PARIS)
    return iso(local.astimezone(dt.UTC))


def local_start(d: dt.date) -> str:
    return iso(dt.datetime.combine(d, dt.time(0), PARIS).astimezone(dt.UTC))


def local_end(d: dt.date) -> str:
    return iso(dt.datetime.combine(d, dt.time(23, 59, 59), PARIS).astimezone(dt.UTC))


async def stream_events(settings: Settings, stream: str) -> list[tuple[str, dict]]:
    conn = await asyncpg.connect(settings.database.url)
    try:
        rows = await conn.fetch(
            "SELECT type, data::text AS data FROM events WHERE stream = $1 ORDER BY version",
            stream,
        )
    finally:
        await conn.close()
    return [(r["type"], msgspec.json.decode(r["data"])) for r in rows]


async def test_copd_pathway_from_discharge_to_day_90(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    admin = bearer(token("admin", sub="ADMIN-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))

    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:

        async def report(role: str, sub: str, fact: dict) -> dict:
            answer = await api.post(
                "/v1/facts", headers=bearer(token(role, sub=sub)), json={**fact, "patient": PATIENT}
            )
            assert answer.status_code == 201, answer.text
            return answer.json()

        async def advance_to(day: int, hour: int = 10) -> None:
            moved = await api.post(
                "/v1/admin/clock/advance", headers=admin, json={"to": iso(at(day, hour))}
            )
            assert moved.status_code == 200, moved.text

        answer = await api.post(
            "/v1/facts",
            headers=hospital,
            json={
                "type": "DischargeReported",
                "patient": PATIENT,
                "admitted_at": iso(DISCHARGE - dt.timedelta(days=8)),
                "discharged_at": iso(DISCHARGE),
                "diagnoses": ["J44.1"],
                "finess": "750712184",
            },
        )
        assert answer.status_code == 201, answer.text
        stream = answer.json()["stream"]
        [enrolled] = [d for t, d in await stream_events(virtual, stream) if t == "PatientEnrolled"]
        assert enrolled["protocol"] == "copd-exacerbation"
        enrolment = f"/v1/enrolments/{enrolled['enrolment_id']}"

        # the plan: HAS / PRADO BPCO windows, counted in Paris calendar days from D0
        plan = (await api.get(enrolment, headers=coordinator)).json()
        assert [
            (t["activity"], t["occurrence"], t["role"], t["earliest"], t["due"])
            for t in plan["tasks"]
        ] == [
            ("gp-followup", 1, "gp", start(1), end(7)),
            ("pulmonology-consultation", 1, "pulmonologist", start(1), end(60)),
            ("long-acting-bronchodilator", 1, "pharmacist", start(1), end(90)),
            ("rehabilitation", 1, "physiotherapist", start(1), end(90)),
            *(
                ("nurse-education", n + 1, "nurse", start(1 + 7 * n), end(7 + 7 * n))
                for n in range(8)
            ),
            ("gp-second", 1, "gp", start(45), end(75)),
            # the season running on D0: 15 October 2026 - 31 January 2027
            (
                "flu-vaccination",
                1,
                "pharmacist",
                local_start(dt.date(2026, 10, 15)),
                local_end(dt.date(2027, 1, 31)),
            ),
            ("spirometry", 1, "pulmonologist", start(1), end(365)),
        ]
        task_of = {(t["activity"], t["occurrence"]): t["task_id"] for t in plan["tasks"]}

        await advance_to(5)
        gp = await report(
            "gp",
            GP,
            {"type": "ConsultationReported", "consulted_at": iso(at(5)), "role": "gp", "rpps": GP},
        )
        # the follow-up (not the second consultation, D+45..D+75), and the GP joins the circle
        assert gp["consequences"] == 2

        await advance_to(20)
        short_acting = await report(
            "pharmacist",
            PHARMACIST,
            {"type": "DispensingReported", "dispensed_at": iso(at(19)), "atc": "R03AC02"},
        )
        assert short_acting["consequences"] == 0  # salbutamol is short-acting: it does not count
        long_acting = await report(
            "pharmacist",
            PHARMACIST,
            {"type": "DispensingReported", "dispensed_at": iso(at(20)), "atc": "R03AL03"},
        )
        assert long_acting["consequences"] == 1
        flu = await report(
            "pharmacist",
            PHARMACIST,
            {
                "type": "VaccinationReported",
                "vaccinated_at": iso(at(20, 11)),
                "vaccine": "influenza",
                "rpps": PHARMACIST,
            },
        )
        assert flu["consequences"] == 2  # the pharmacist who vaccinated joins the circle

        await advance_to(70)  # the pulmonology task went overdue at the end of D+60
        late = await report(
            "pulmonologist",
            PULMONOLOGIST,
            {
                "type": "ConsultationReported",
                "consulted_at": iso(at(70)),
                "role": "pulmonologist",
                "rpps": PULMONOLOGIST,
            },
        )
        assert late["consequences"] == 2  # completed late, and the pulmonologist joins

        await advance_to(91)
        final = (await api.get(enrolment, headers=coordinator)).json()
        assert final["status"] == "active"  # a one-year pathway
        status = {(t["activity"], t["occurrence"]): t["status"] for t in final["tasks"]}
        assert status == {
            ("gp-followup", 1): "completed",
            ("pulmonology-consultation", 1): "completed",
            ("long-acting-bronchodilator", 1): "completed",
            ("rehabilitation", 1): "requested",
            **{("nurse-education", n): "requested" for n in range(1, 9)},
            ("gp-second", 1): "requested",
            ("flu-vaccination", 1): "completed",
            ("spirometry", 1): "requested",
        }

        events = await stream_events(virtual, stream)
        name = {v: k for k, v in task_of.items()}
        completed = {
            name[d["task_id"]]: (d["on_time"], d["fact_type"])
            for t, d in events
            if t == "TaskCompleted"
        }
        assert completed == {
            ("gp-followup", 1): (True, "ConsultationReported"),
            ("long-acting-bronchodilator", 1): (True, "DispensingReported"),
            ("flu-vaccination", 1): (True, "VaccinationReported"),
            ("pulmonology-consultation", 1): (False, "ConsultationReported"),  # late
        }
        overdue = sorted(name[d["task_id"]] for t, d in events if t == "TaskOverdue")
        assert overdue == sorted(
            [
                ("pulmonology-consultation", 1),
                ("rehabilitation", 1),
                ("gp-second", 1),
                *(("nurse-education", n) for n in range(1, 9)),
            ]
        )
        escalated = sorted(name[d["task_id"]] for t, d in events if t == "EscalationRaised")
        assert escalated == overdue
        assert all(
            d["reason"] == f"{name[d['task_id']][0]} #{name[d['task_id']][1]} overdue"
            for t, d in events
            if t == "EscalationRaised"
        )
