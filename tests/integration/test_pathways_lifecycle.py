"""Readmission pauses a heart-failure pathway, a discharge home resumes it with every open
task shifted by the whole Paris days spent in hospital, and death closes it and cancels what is left;
played through the HTTP API with the virtual clock."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest

from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving

PARIS = ZoneInfo("Europe/Paris")
D0 = dt.date(2026, 3, 9)
PATIENT = {"ins": "175027511400572", "oid": "1.2.250.1.213.1.4.10", "commune": "75114"}
GP, NURSE = "10000000002", "10000000003"
PAUSED_DAYS = 10  # readmitted on D+10, discharged home on D+20 at the same local hour


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC))


def at(day: int, hour: int = 10) -> dt.datetime:
    local = dt.datetime.combine(D0 + dt.timedelta(days=day), dt.time(hour), PARIS)
    return local.astimezone(dt.UTC)


def start(day: int, shift: dt.timedelta = dt.timedelta(0)) -> str:
    return iso(at(day, 0) + shift)


def end(day: int, shift: dt.timedelta = dt.timedelta(0)) -> str:
    local = dt.datetime.combine(D0 + dt.timedelta(days=day), dt.time(23, 59, 59), PARIS)
    return iso(local.astimezone(dt.UTC) + shift)


# The pause lasts from D+10 10:00 to D+20 10:00 in Paris, across the change to summer
# time (29 March 2026): 10 days less an hour. Resumed tasks move by 10 whole Paris days
# (PROTOCOLS.md § 0): a due date stays at 23:59:59 local time.
SHIFT = at(PAUSED_DAYS + 10) - at(10)


def nursing_window(n: int) -> tuple[int, int]:
    """Twice a week for 8 weeks: occurrence n (from 1) covers D+lo..D+hi."""
    period, slot = divmod(n - 1, 2)
    base = 1 + 7 * period
    return base + slot * 7 // 2, base + (slot + 1) * 7 // 2 - 1


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


async def test_readmission_pauses_discharge_resumes_and_death_closes(
    virtual: Settings, token
) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    admin = bearer(token("admin", sub="ADMIN-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    lab = bearer(token("lab", sub="LAB-1"))

    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:

        async def report(headers: dict, fact: dict) -> dict:
            answer = await api.post("/v1/facts", headers=headers, json={**fact, "patient": PATIENT})
            assert answer.status_code == 201, answer.text
            return answer.json()

        async def advance_to(day: int, hour: int = 9) -> None:
            moved = await api.post(
                "/v1/admin/clock/advance", headers=admin, json={"to": iso(at(day, hour))}
            )
            assert moved.status_code == 200, moved.text

        async def tasks() -> list[dict]:
            return (await api.get(enrolment, headers=coordinator)).json()["tasks"]

        discharge = {
            "type": "DischargeReported",
            "admitted_at": iso(at(-6)),
            "discharged_at": iso(at(0, 16)),
            "diagnoses": ["I50.1"],
            "finess": "750712184",
        }
        stream = (await report(hospital, discharge))["stream"]
        [enrolled] = [d for t, d in await stream_events(virtual, stream) if t == "PatientEnrolled"]
        enrolment = f"/v1/enrolments/{enrolled['enrolment_id']}"

        # the blood panel (three results) and the GP on time
        await advance_to(3, 11)
        for loinc in ("2160-0", "2823-3", "2951-2"):
            await report(
                lab,
                {
                    "type": "LabResultReported",
                    "collected_at": iso(at(2)),
                    "loinc": loinc,
                    "value": 1.0,
                    "unit": "x",
                },
            )
        gp = {"type": "ConsultationReported", "consulted_at": iso(at(3)), "role": "gp", "rpps": GP}
        await report(bearer(token("gp", sub=GP)), gp)

        # readmitted on D+10: nursing visits 1 and 2 went overdue, everything open is cancelled
        await advance_to(10)
        readmission = {
            "type": "ReadmissionReported",
            "admitted_at": iso(at(10)),
            "finess": "750712184",
            "diagnoses": ["I50.1"],
        }
        paused = await report(hospital, readmission)
        assert paused["consequences"] == 1 + 16 + 1  # EnrolmentPaused, 16 visits, cardiology
        view = (await api.get(enrolment, headers=coordinator)).json()
        assert view["status"] == "paused"
        assert Counter((t["activity"], t["status"]) for t in view["tasks"]) == {
            ("blood-panel", "completed"): 1,
            ("gp-consultation", "completed"): 1,
            ("nursing-visit", "cancelled"): 16,
            ("cardiology-consultation", "cancelled"): 1,
        }
        await advance_to(20)  # nothing fires while the patient is in hospital
        assert [t for t, _ in await stream_events(virtual, stream)][-1] == "EnrolmentPaused"

        # discharged home on D+20 (another diagnosis: no re-enrolment): resumed, re-planned
        home = {
            **discharge,
            "admitted_at": iso(at(10)),
            "discharged_at": iso(at(20)),
            "diagnoses": ["J18.9"],
        }
        resumed = await report(hospital, home)
        assert resumed["consequences"] == 1 + 17  # EnrolmentResumed, 16 visits and cardiology
        view = (await api.get(enrolment, headers=coordinator)).json()
        assert view["status"] == "active"
        assert SHIFT == dt.timedelta(days=PAUSED_DAYS, hours=-1)
        assert view["ends_at"] == end(90 + PAUSED_DAYS)
        replanned = [t for t in view["tasks"] if t["status"] == "requested"]
        assert [(t["activity"], t["occurrence"], t["earliest"], t["due"]) for t in replanned] == [
            *(
                (
                    "nursing-visit",
                    n,
                    start(nursing_window(n)[0] + PAUSED_DAYS),
                    end(nursing_window(n)[1] + PAUSED_DAYS),
                )
                for n in range(1, 17)
            ),
            (
                "cardiology-consultation",
                1,
                start(30 + PAUSED_DAYS),
                end(60 + PAUSED_DAYS),
            ),
        ]

        # D+30: the re-planned visits 1-5 (due by D+27) are overdue; then the patient dies
        await advance_to(30)
        death = {"type": "DeathReported", "died_at": iso(at(30))}
        died = await report(hospital, death)
        open_before_death = 16 - 5 + 5 + 1  # visits 6-16, the overdue 1-5, cardiology
        # cancelled, EnrolmentClosed, and the GP-access request the discharge filed (it named
        # no GP, issue 14) closes as died
        assert died["consequences"] == open_before_death + 2
        view = (await api.get(enrolment, headers=coordinator)).json()
        assert (view["status"], view["close_reason"]) == ("closed", "death")
        assert Counter((t["activity"], t["status"]) for t in view["tasks"]) == {
            ("blood-panel", "completed"): 1,
            ("gp-consultation", "completed"): 1,
            ("nursing-visit", "cancelled"): 32,
            ("cardiology-consultation", "cancelled"): 2,
        }

        # months later: a closed pathway decides nothing more
        await advance_to(120)
        events = await stream_events(virtual, stream)
        after_death = [t for t, _ in events[[t for t, _ in events].index("DeathReported") :]]
        assert after_death == [
            "DeathReported",
            *["TaskCancelled"] * open_before_death,
            "EnrolmentClosed",
            "GPAccessClosed",
        ]
        name = {t["task_id"]: (t["activity"], t["occurrence"]) for t in await tasks()}
        overdue = [name[d["task_id"]] for t, d in events if t == "TaskOverdue"]
        # before the pause: visits 1 and 2; after the resume: the re-planned visits 1-5
        assert overdue == [("nursing-visit", n) for n in (1, 2, 1, 2, 3, 4, 5)]
        assert [t for t, _ in events].count("EscalationRaised") == len(overdue)
        reasons = Counter(d["reason"] for t, d in events if t == "TaskCancelled")
        assert reasons == {"paused": 17, "enrolment closed: DeathReported": open_before_death}
        [closed] = [d for t, d in events if t == "EnrolmentClosed"]
        assert closed["reason"] == "death"
