"""Gestational diabetes, played through the HTTP API with the virtual clock: an OGTT enrols
(an overt-diabetes one does not), education, reviews every 15 days until the delivery, the
insulin rule, and the postpartum glucose test 4 to 12 weeks after the delivery."""

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
D0 = dt.date(2026, 3, 2)  # the OGTT
EXPECTED_DELIVERY = D0 + dt.timedelta(days=84)  # 25 May 2026
DELIVERY = 50  # she gives birth on D+50 (21 April 2026)
PATIENT = {"ins": "289057511400662", "oid": "1.2.250.1.213.1.4.10", "commune": "75114"}
OVERT = {"ins": "292067511400727", "oid": "1.2.250.1.213.1.4.10", "commune": "75114"}
GP, MIDWIFE, DIETITIAN, ENDOCRINOLOGIST = "10000000002", "10000000006", "10000000007", "10000000008"


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC))


def at(day: int, hour: int = 10, base: dt.date = D0) -> dt.datetime:
    local = dt.datetime.combine(base + dt.timedelta(days=day), dt.time(hour), PARIS)
    return local.astimezone(dt.UTC)


def start(day: int, base: dt.date = D0) -> str:
    return iso(at(day, 0, base))


def end(day: int, base: dt.date = D0) -> str:
    local = dt.datetime.combine(base + dt.timedelta(days=day), dt.time(23, 59, 59), PARIS)
    return iso(local.astimezone(dt.UTC))


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


def ogtt(fasting: float, one_hour: float, two_hour: float) -> dict:
    return {
        "type": "GlucoseToleranceTestReported",
        "tested_at": iso(at(0)),
        "fasting_g_l": fasting,
        "one_hour_g_l": one_hour,
        "two_hour_g_l": two_hour,
        "expected_delivery": EXPECTED_DELIVERY.isoformat(),
    }


def consultation(day: int, role: str, rpps: str) -> dict:
    return {
        "type": "ConsultationReported",
        "consulted_at": iso(at(day)),
        "role": role,
        "rpps": rpps,
    }


def self_monitoring(first: int, last: int, readings: int, above: int) -> dict:
    return {
        "type": "SelfMonitoringReported",
        "period_start": (D0 + dt.timedelta(days=first)).isoformat(),
        "period_end": (D0 + dt.timedelta(days=last)).isoformat(),
        "readings": readings,
        "above_target": above,
    }


def fasting_glucose(day: int) -> dict:
    return {
        "type": "LabResultReported",
        "collected_at": iso(at(day)),
        "loinc": "1558-6",
        "value": 0.91,
        "unit": "g/L",
    }


async def test_gestational_diabetes_from_ogtt_to_postpartum_test(virtual: Settings, token) -> None:
    admin = bearer(token("admin", sub="ADMIN-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    lab = bearer(token("lab", sub="LAB-1"))

    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:

        async def report(headers: dict, fact: dict, patient: dict = PATIENT) -> dict:
            answer = await api.post("/v1/facts", headers=headers, json={**fact, "patient": patient})
            assert answer.status_code == 201, answer.text
            return answer.json()

        async def advance_to(day: int) -> None:
            moved = await api.post(
                "/v1/admin/clock/advance", headers=admin, json={"to": iso(at(day, 11))}
            )
            assert moved.status_code == 200, moved.text

        # fasting >= 1.26 g/L is overt diabetes: recorded, not enrolled here
        overt = await report(lab, ogtt(1.30, 2.10, 1.90), OVERT)
        assert overt["consequences"] == 0
        assert [t for t, _ in await stream_events(virtual, overt["stream"])] == [
            "GlucoseToleranceTestReported"
        ]

        # 1 h >= 1.80 g/L: gestational diabetes, enrolled from the test
        enrolled = await report(lab, ogtt(0.88, 1.85, 1.40))
        stream = enrolled["stream"]
        [e] = [d for t, d in await stream_events(virtual, stream) if t == "PatientEnrolled"]
        assert (e["protocol"], e["anchor_type"]) == (
            "gestational-diabetes",
            "GlucoseToleranceTestReported",
        )
        enrolment = f"/v1/enrolments/{e['enrolment_id']}"
        plan = (await api.get(enrolment, headers=coordinator)).json()["tasks"]
        # education by D+7; reviews every 15 days from D+8 while D0+start < expected delivery
        assert [
            (t["activity"], t["occurrence"], t["role"], t["earliest"], t["due"]) for t in plan
        ] == [
            ("education", 1, "dietitian", start(1), end(7)),
            *(
                (
                    "glucose-review",
                    n + 1,
                    ("gp", "midwife")[n % 2],
                    start(8 + 15 * n),
                    end(22 + 15 * n),
                )
                for n in range(6)
            ),
        ]

        await advance_to(5)
        assert (
            await report(
                bearer(token("dietitian", sub=DIETITIAN)), consultation(5, "dietitian", DIETITIAN)
            )
        )["consequences"] == 2  # the education done, and the dietitian joins the care circle
        await advance_to(10)
        assert (await report(bearer(token("gp", sub=GP)), consultation(10, "gp", GP)))[
            "consequences"
        ] == 2  # and the GP joins

        # the insulin rule: >= 20 % of readings above target over >= 7 days after education
        midwife = bearer(token("midwife", sub=MIDWIFE))
        first = await report(midwife, self_monitoring(5, 9, readings=20, above=8))
        assert first["consequences"] == 0  # 40 %, but only 4 days after the education
        await advance_to(14)
        second = await report(midwife, self_monitoring(10, 13, readings=30, above=6))
        assert second["consequences"] == 1  # 14 of 50 (28 %) over 8 days: the decision is raised
        insulin = [
            t
            for t in (await api.get(enrolment, headers=coordinator)).json()["tasks"]
            if t["activity"] == "insulin-decision"
        ]
        assert [(t["role"], t["earliest"], t["due"]) for t in insulin] == [
            ("endocrinologist", start(14), end(17))
        ]
        await advance_to(16)
        endo = consultation(16, "endocrinologist", ENDOCRINOLOGIST)
        assert (await report(bearer(token("endocrinologist", sub=ENDOCRINOLOGIST)), endo))[
            "consequences"
        ] == 2  # and the endocrinologist joins
        await advance_to(25)
        assert (await report(midwife, consultation(25, "midwife", MIDWIFE)))["consequences"] == 2

        # review 3 (D+38..D+52) is never done; the delivery on D+50 stops reviews 4-6
        await advance_to(DELIVERY)
        delivery = {
            "type": "DeliveryReported",
            "delivered_at": iso(at(DELIVERY)),
            "finess": "750712184",
        }
        born = await report(midwife, delivery)
        assert born["consequences"] == 5  # postpartum test + long-term screening, 3 reviews stopped
        tasks = (await api.get(enrolment, headers=coordinator)).json()["tasks"]
        after_birth = {t["activity"]: (t["earliest"], t["due"]) for t in tasks}
        birth = D0 + dt.timedelta(days=DELIVERY)
        assert after_birth["postpartum-glucose-test"] == (start(28, birth), end(84, birth))
        assert after_birth["long-term-screening"] == (start(365, birth), end(1095, birth))

        # a fasting glucose 3 weeks after the delivery is too early to count; 6 weeks counts
        await advance_to(DELIVERY + 20)
        assert (await report(lab, fasting_glucose(DELIVERY + 20)))["consequences"] == 0
        await advance_to(DELIVERY + 45)
        assert (await report(lab, fasting_glucose(DELIVERY + 42)))["consequences"] == 1

        final = (await api.get(enrolment, headers=coordinator)).json()
        assert final["status"] == "active"
        assert [(t["activity"], t["occurrence"], t["status"]) for t in final["tasks"]] == [
            ("education", 1, "completed"),
            ("glucose-review", 1, "completed"),
            ("glucose-review", 2, "completed"),
            ("glucose-review", 3, "requested"),
            ("glucose-review", 4, "cancelled"),
            ("glucose-review", 5, "cancelled"),
            ("glucose-review", 6, "cancelled"),
            ("insulin-decision", 1, "completed"),
            ("postpartum-glucose-test", 1, "completed"),
            ("long-term-screening", 1, "requested"),
        ]
        events = await stream_events(virtual, stream)
        name = {t["task_id"]: (t["activity"], t["occurrence"]) for t in final["tasks"]}
        assert [name[d["task_id"]] for t, d in events if t == "TaskOverdue"] == [
            ("glucose-review", 3)
        ]
        assert [name[d["task_id"]] for t, d in events if t == "EscalationRaised"] == [
            ("glucose-review", 3)
        ]
        assert {name[d["task_id"]]: d["reason"] for t, d in events if t == "TaskCancelled"} == {
            ("glucose-review", n): "stopped: DeliveryReported" for n in (4, 5, 6)
        }
        assert all(d["on_time"] for t, d in events if t == "TaskCompleted")
