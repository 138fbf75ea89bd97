"""Seeded cohorts played through the real API with the virtual clock, one per protocol:
the pathways service (ingestion, engine, relay, scheduler) and the projections service run
together; facts are posted to ``/v1/facts`` day by day as the clock advances (a fact may
not be more than a day ahead of the clock); then every indicator an auditor reads equals
the value computed by hand below, case by case. Also: an as-of query before and after a
late fact, and a patient's timeline is not found from another CPTS.

Days are Paris calendar days from D0, the local date of the anchor (discharge, OGTT).
Windows (from the protocol files): ``D0+from < day <= D0+to``. Tests run in file order on
one virtual clock that only moves forward, so each protocol plays in a later season.

Each cohort is read while its pathways are open and again after they closed (heart
failure at D+95 after its 90 days, COPD at D+370 after its 365, gestational diabetes at
D+1255 after its 1250): PROTOCOLS.md § 0, missed stays missed, so closing a pathway
(which cancels its open tasks) changes no indicator. Deaths and readmissions (any
admission) take out what was still open when they came: every indicator of every
protocol excludes on them (the protocol files record the few deviations).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts.events import patient_of_stream
from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from projections.domain.pseudonyms import event_pseudonym, pseudonym
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.test_projections_helpers import views_caught_up

PARIS = ZoneInfo("Europe/Paris")
FINESS = "750712184"
GP, NURSE, CARDIO, PULMO, DIETITIAN, MIDWIFE = (
    "10000000002",
    "10000000003",
    "10000000004",
    "10000000005",
    "10000000007",
    "10000000006",
)
HF, COPD, GD = "heart-failure-discharge", "copd-exacerbation", "gestational-diabetes"


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC))


class Days:
    """Instants of a cohort: ``at(n, hour)`` is ``hour`` o'clock in Paris on D0+n."""

    def __init__(self, d0: dt.date) -> None:
        self.d0 = d0

    def at(self, n: int, hour: int = 10, minute: int = 0) -> dt.datetime:
        local = dt.datetime.combine(self.d0 + dt.timedelta(days=n), dt.time(hour, minute), PARIS)
        return local.astimezone(dt.UTC)


# --- facts, as the API takes them ------------------------------------------------------------


def discharge(t: dt.datetime, diagnosis: str) -> dict:
    return {
        "type": "DischargeReported",
        "admitted_at": iso(t - dt.timedelta(days=6)),
        "discharged_at": iso(t),
        "diagnoses": [diagnosis],
        "finess": FINESS,
    }


def consultation(t: dt.datetime, role: str, rpps: str) -> dict:
    return {"type": "ConsultationReported", "consulted_at": iso(t), "role": role, "rpps": rpps}


def nursing_visit(t: dt.datetime, education: bool = False) -> dict:
    return {
        "type": "NursingVisitReported",
        "visited_at": iso(t),
        "rpps": NURSE,
        "education": education,
    }


def lab(t: dt.datetime, loinc: str, value: float = 1.0, unit: str = "mmol/L") -> dict:
    return {
        "type": "LabResultReported",
        "collected_at": iso(t),
        "loinc": loinc,
        "value": value,
        "unit": unit,
    }


def hf_panel(t: dt.datetime) -> list[dict]:
    """Creatinine, potassium and sodium: the three codes that complete the HF blood panel."""
    return [
        lab(t, "2160-0", 95, "umol/L"),
        lab(t + dt.timedelta(minutes=1), "2823-3", 4.2),
        lab(t + dt.timedelta(minutes=2), "2951-2", 139),
    ]


def death(t: dt.datetime) -> dict:
    return {"type": "DeathReported", "died_at": iso(t)}


def readmission(t: dt.datetime) -> dict:
    return {"type": "ReadmissionReported", "admitted_at": iso(t), "finess": FINESS}


# --- playing a cohort ----------------------------------------------------------------------


class Play:
    """The two services running on one virtual clock; facts posted day by day."""

    def __init__(self, api, projections, pool: asyncpg.Pool, token, settings: Settings) -> None:  # type: ignore[no-untyped-def]
        self.api, self.projections, self.pool, self.settings = api, projections, pool, settings
        self.admin = bearer(token("admin", sub="ADMIN-1"))
        self.hospital = bearer(token("discharge-system", sub="CHU-1"))
        self.professional = bearer(token("coordinator", sub="COORD-1"))
        self.auditor = bearer(token("auditor", sub="AUDIT-1"))
        self.patients: dict[str, uuid.UUID] = {}
        self.ids: dict[tuple[str, str], uuid.UUID] = {}  # (patient, name) -> fact event id
        self.serial = 0

    async def now(self) -> dt.datetime:
        r = await self.api.get("/v1/admin/clock", headers=self.admin)
        return dt.datetime.fromisoformat(r.json()["now"])

    async def advance_to(self, t: dt.datetime) -> None:
        if t > await self.now():
            moved = await self.api.post(
                "/v1/admin/clock/advance", headers=self.admin, json={"to": iso(t)}
            )
            assert moved.status_code == 200, moved.text

    def identity(self, label: str, base: int) -> dict:
        return {"ins": synthetic_ins(base + ord(label)), "oid": INS_TEST_OID, "commune": "75114"}

    async def report(self, label: str, fact: dict, patient: dict, name: str | None = None) -> dict:
        hospital = fact["type"] in ("DischargeReported", "ReadmissionReported", "DeathReported")
        answer = await self.api.post(
            "/v1/facts",
            headers=self.hospital if hospital else self.professional,
            json={**fact, "patient": patient},
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        self.patients[label] = patient_of_stream(body["stream"])
        if name:
            self.ids[(label, name)] = uuid.UUID(body["event_id"])
        return body

    async def play(
        self,
        days: Days,
        base: int,
        script: Iterable[tuple[int, str, dict | list[dict], str | None]],
        until: int,
    ) -> None:
        """Each day: the clock moves to 20:00 (firing the timers due on the way), then that
        day's facts (reported in the evening, dated earlier that day) are posted in order."""
        by_day: dict[int, list[tuple[str, dict, str | None]]] = {}
        for n, label, facts, name in script:
            for fact in facts if isinstance(facts, list) else [facts]:
                by_day.setdefault(n, []).append((label, fact, name))
        for n in sorted(by_day):
            await self.advance_to(days.at(n, 20))
            for label, fact, name in by_day[n]:
                await self.report(label, fact, self.identity(label, base), name)
        await self.advance_to(days.at(until, 20))
        await self.settle()

    async def settle(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until every view has applied every event committed so far."""
        await views_caught_up(self.pool, timeout)

    async def read(self, path: str, **params: Any) -> Any:
        r = await self.projections.get(path, params=params, headers=self.auditor)
        assert r.status_code == 200, (path, r.text)
        return r.json()

    def alias(self, label: str) -> str:
        return pseudonym(self.settings.auth.pseudonym_secret, "demo", self.patients[label])

    async def indicators(self, protocol: str, period: str, **params: Any) -> dict[str, dict]:
        answer = await self.read("/v1/indicators", protocol=protocol, period=period, **params)
        [p] = answer["protocols"]
        return {i["code"]: i for i in p["indicators"]}

    async def cases(self, code: str, period: str, **params: Any) -> dict[str, dict]:
        """The case list, keyed by the cohort's patient labels (pseudonyms matched by HMAC)."""
        answer = await self.read(f"/v1/indicators/{code}/cases", period=period, **params)
        label_of = {self.alias(label): label for label in self.patients}
        return {label_of[c["case"]]: c for c in answer["cases"]}

    async def check(
        self,
        protocol: str,
        period: str,
        expected: dict[str, tuple],
        cases: dict[str, dict[str, str]],
    ) -> dict[str, dict]:
        """Every indicator: (numerator, denominator, value, excluded, ineligible, open), and
        every case: "status reason"."""
        got = await self.indicators(protocol, period)
        assert {
            c: (
                i["numerator"],
                i["denominator"],
                i["value"],
                i["excluded"],
                i["ineligible"],
                i["open"],
            )
            for c, i in got.items()
        } == expected
        for code, by_label in cases.items():
            listed = await self.cases(code, period)
            assert {k: f"{c['status']} {c['reason']}" for k, c in listed.items()} == by_label, code
        return got


@pytest.fixture
async def play(virtual: Settings, token):  # type: ignore[no-untyped-def]
    pool = await asyncpg.create_pool(virtual.database.url, min_size=1, max_size=3)
    try:
        async with serving(pathways_app(virtual)) as api, serving(projections_app(virtual)) as proj:
            yield Play(api, proj, pool, token, virtual)
    finally:
        await pool.close()


# --- heart failure ---------------------------------------------------------------------------

HF_DAYS = Days(dt.date(2026, 1, 12))  # a Monday; discharges at 16:00 in Paris


def hf_script() -> list[tuple[int, str, dict | list[dict], str | None]]:
    d = HF_DAYS
    out: list[tuple[int, str, dict | list[dict], str | None]] = []
    for label in "ABCDEF":
        out.append((0, label, discharge(d.at(0, 16), "I50.1"), "discharge"))
    # nursing visits: twice a week for 8 weeks; occurrence 2p+1 is D+1+7p..D+3+7p and
    # occurrence 2p+2 is D+4+7p..D+7+7p: a visit on D+2+7p and D+5+7p is in each window
    visits = sorted(n + 7 * p for p in range(8) for n in (2, 5))
    # A, on time: GP D+3, blood panel D+5, cardiology D+40, all 16 nursing visits
    out += [
        (3, "A", consultation(d.at(3), "gp", GP), "gp"),
        (5, "A", hf_panel(d.at(5)), None),
        (40, "A", consultation(d.at(40), "cardiologist", CARDIO), "cardio"),
        *((n, "A", nursing_visit(d.at(n, 9)), None) for n in visits),
    ]
    # B, late: GP D+10 and blood panel D+9 (both after their D+7 window: completed late),
    # cardiology early on D+20 (completes the D+30..D+60 task), the first 8 nursing visits
    out += [
        (9, "B", hf_panel(d.at(9)), None),
        (10, "B", consultation(d.at(10), "gp", GP), None),
        (20, "B", consultation(d.at(20), "cardiologist", CARDIO), None),
        *((n, "B", nursing_visit(d.at(n, 9)), None) for n in visits[:8]),
    ]
    # C, missed: nothing at all (every task goes overdue and stays open)
    # D, died: GP on D+2, death on D+4 (the enrolment closes, its open tasks are cancelled)
    out += [
        (2, "D", consultation(d.at(2), "gp", GP), None),
        (4, "D", death(d.at(4, 8)), "death"),
    ]
    # E, readmitted on D+15: GP D+2, blood panel D+3, nursing visits 1-4; the readmission
    # pauses the pathway and cancels every open task (nursing 5-16, cardiology)
    out += [
        (2, "E", consultation(d.at(2), "gp", GP), None),
        (3, "E", hf_panel(d.at(3, 11)), None),
        *((n, "E", nursing_visit(d.at(n, 9)), None) for n in visits[:4]),
        (15, "E", readmission(d.at(15, 8)), "readmission"),
    ]
    # F, readmitted on D+45, after the cardiology on D+35: GP D+4, no blood panel, no nursing
    # visit (all 16 still open at the readmission: all cancelled, nothing planned is left)
    out += [
        (4, "F", consultation(d.at(4), "gp", GP), None),
        (35, "F", consultation(d.at(35), "cardiologist", CARDIO), None),
        (45, "F", readmission(d.at(45, 8)), None),
    ]
    return out


# Queried on D+65 (every window has closed; the pathway ends on D+90), then on D+95.
# (numerator, denominator, value, excluded, ineligible, open)
HF_EXPECTED = {
    # six enrolments anchored in January: a count, no denominator
    "HF-INCLUDED": (6, 0, 6.0, 0, 0, 0),
    # met: A (D+3), D (D+2: met before dying on D+4, kept), E (D+2), F (D+4);
    # B late (D+10), C not done: 4 / 6
    "HF-GP7": (4, 6, 0.6667, 0, 0, 0),
    # met: A (D+5), E (D+3); B late (D+9), C and F not done; D died on D+4 <= D+7 before
    # any panel: excluded. 2 / 5
    "HF-BIO7": (2, 5, 0.4, 1, 0, 0),
    # met: A (D+40), B (D+20: an early consultation completes the task, within D+60),
    # F (D+35, before its readmission on D+45: kept); C not done; D excluded (death),
    # E excluded (readmission on D+15 <= D+60, nothing done before): 3 / 4
    "HF-CARDIO60": (3, 4, 0.75, 2, 0, 0),
    # same cases, window D+29 < day <= D+60: B's D+20 is early: 2 / 4
    "HF-CARDIO30-60": (2, 4, 0.5, 2, 0, 0),
    # performed / planned occurrences (occurrence 2p+1: D+1+7p..D+3+7p, 2p+2: D+4+7p..D+7+7p;
    # the last window closes on D+56). A 16/16, B 8/16, C 0/16 (never performed: missed).
    # D died on D+4: occurrence 1 (D+1..D+3) had closed, missed; 2-16 still open: out: 0/1.
    # E readmitted on D+15: 1-4 performed; 5 (D+15..D+17) to 16 still open: out: 4/4.
    # F readmitted on D+45, nothing performed: 1-12 (the 12th closes on D+42) missed;
    # 13 (D+43..D+45) to 16 still open: out: 0/12.
    # (16 + 8 + 0 + 0 + 4 + 0) / (16 + 16 + 16 + 1 + 4 + 12) = 28 / 65 = 0.4308
    "HF-NURSE": (28, 65, 0.4308, 0, 0, 0),
    # share >= 80 %: A yes, B (50 %) and C (0 %) no; D, E, F excluded: 1 / 3
    "HF-NURSE80": (1, 3, 0.3333, 3, 0, 0),
    # readmitted in D0 < day <= D+30: E (D+15); F's D+45 is too late; D excluded: 1 / 5
    "HF-READMIT30": (1, 5, 0.2, 1, 0, 0),
}
HF_CASES = {
    "HF-GP7": {
        "A": "met on time",
        "B": "not_met late",
        "C": "not_met not done",
        "D": "met on time",
        "E": "met on time",
        "F": "met on time",
    },
    "HF-BIO7": {
        "A": "met on time",
        "B": "not_met late",
        "C": "not_met not done",
        "D": "excluded DeathReported",
        "E": "met on time",
        "F": "not_met not done",
    },
    "HF-CARDIO60": {
        "A": "met on time",
        "B": "met on time",
        "C": "not_met not done",
        "D": "excluded DeathReported",
        "E": "excluded ReadmissionReported",
        "F": "met on time",
    },
    "HF-CARDIO30-60": {
        "A": "met on time",
        "B": "not_met early",
        "C": "not_met not done",
        "D": "excluded DeathReported",
        "E": "excluded ReadmissionReported",
        "F": "met on time",
    },
    "HF-NURSE": {
        "A": "counted 16/16",
        "B": "counted 8/16",
        "C": "counted 0/16",
        "D": "counted 0/1; 15 out: DeathReported",
        "E": "counted 4/4; 12 out: ReadmissionReported",
        "F": "counted 0/12; 4 out: ReadmissionReported",
    },
    "HF-NURSE80": {
        "A": "met 16/16",
        "B": "not_met 8/16",
        "C": "not_met 0/16",
        "D": "excluded DeathReported",
        "E": "excluded ReadmissionReported",
        "F": "excluded ReadmissionReported",
    },
    "HF-READMIT30": {
        "A": "not_met no ReadmissionReported",
        "B": "not_met no ReadmissionReported",
        "C": "not_met no ReadmissionReported",
        "D": "excluded DeathReported",
        "E": "met ReadmissionReported",
        "F": "not_met no ReadmissionReported",
    },
}


def named(play: Play, key: tuple[str, str]) -> str:
    """How auditors see an event the cohort recorded: its pseudonym, never its raw id."""
    return event_pseudonym(play.settings.auth.pseudonym_secret, "demo", play.ids[key])


async def test_heart_failure_cohort_through_the_api(play: Play) -> None:
    await play.play(HF_DAYS, 1000, hf_script(), until=65)
    await play.check(HF, "2026-Q1", HF_EXPECTED, HF_CASES)

    # drill-down: the events that decided a case are the ones the API recorded
    gp7 = await play.cases("HF-GP7", "2026-Q1")
    assert named(play, ("A", "gp")) in gp7["A"]["decided_by"]
    assert gp7["A"]["reason_day"] == 3 and gp7["A"]["window_end_day"] == 7
    bio7 = await play.cases("HF-BIO7", "2026-Q1")
    assert named(play, ("D", "death")) in bio7["D"]["decided_by"]
    assert bio7["D"]["reason_day"] == 4
    readmit = await play.cases("HF-READMIT30", "2026-Q1")
    assert named(play, ("E", "readmission")) in readmit["E"]["decided_by"]
    detail = await play.read("/v1/indicators/HF-CARDIO60", period="2026-Q1")
    assert {(e["reason"], e["cases"]) for e in detail["exclusions"]} == {
        ("DeathReported", 1),
        ("ReadmissionReported", 1),
    }
    # cases belong to the period of their anchor: nothing in the next quarter
    q2 = await play.indicators(HF, "2026-Q2")
    assert all(i["cases"] == 0 for i in q2.values())

    # as of: C's GP reports, on D+65, a consultation that took place on D+6 (in the window)
    async with play.pool.acquire() as conn:
        before = await conn.fetchval("SELECT now()")
    await play.report("C", consultation(HF_DAYS.at(6), "gp", GP), play.identity("C", 1000), "late")
    await play.settle()
    then = await play.indicators(HF, "2026-Q1", as_of=iso(before))
    now = await play.indicators(HF, "2026-Q1")
    # before the late fact arrived: 4 / 6 as above; after it: C met too, 5 / 6
    assert (then["HF-GP7"]["numerator"], then["HF-GP7"]["denominator"]) == (4, 6)
    assert (now["HF-GP7"]["numerator"], now["HF-GP7"]["denominator"], now["HF-GP7"]["value"]) == (
        5,
        6,
        0.8333,
    )
    # nothing else moved
    assert {c: i for c, i in then.items() if c != "HF-GP7"} == {
        c: i for c, i in now.items() if c != "HF-GP7"
    }
    then_c = (await play.cases("HF-GP7", "2026-Q1", as_of=iso(before)))["C"]
    now_c = (await play.cases("HF-GP7", "2026-Q1"))["C"]
    assert (then_c["status"], then_c["reason"]) == ("not_met", "not done")
    assert (now_c["status"], now_c["reason"], now_c["reason_day"]) == ("met", "on time", 6)
    assert named(play, ("C", "late")) in now_c["decided_by"]

    # D+95: every pathway closed at the end of D+90, cancelling what was still open (B's
    # visits 9-16, C's 16 visits, blood panel and cardiology...). Missed stays missed: the
    # same values as on D+65 with C's late GP consultation (HF-GP7 5 / 6), among them
    # HF-NURSE 28 / 65 and HF-NURSE80 1 / 3 (B 8/16 and C 0/16 stay below 80 %)
    await play.advance_to(HF_DAYS.at(95, 20))
    await play.settle()
    closed = {**HF_EXPECTED, "HF-GP7": (5, 6, 0.8333, 0, 0, 0)}
    cases = {**HF_CASES, "HF-GP7": {**HF_CASES["HF-GP7"], "C": "met on time"}}
    await play.check(HF, "2026-Q1", closed, cases)


# --- COPD ------------------------------------------------------------------------------------

COPD_DAYS = Days(dt.date(2026, 4, 20))  # a Monday; outside the flu season (15 Oct - 31 Jan)


def copd_script() -> list[tuple[int, str, dict | list[dict], str | None]]:
    d = COPD_DAYS

    def dispensing(n: int, atc: str) -> dict:
        return {"type": "DispensingReported", "dispensed_at": iso(d.at(n)), "atc": atc}

    def rehab(n: int) -> dict:
        return {"type": "RehabilitationStarted", "started_at": iso(d.at(n))}

    out: list[tuple[int, str, dict | list[dict], str | None]] = [
        (0, label, discharge(d.at(0, 16), "J44.1"), None) for label in "PQRST"
    ]
    # nurse education weekly for 8 weeks: occurrence k+1 is D+1+7k..D+7+7k
    visits = [3 + 7 * k for k in range(8)]
    # P, on time: GP D+5, bronchodilator D+20, pulmonology D+30, rehabilitation D+40,
    # spirometry (FEV1) D+60, all 8 education visits
    out += [
        (5, "P", consultation(d.at(5), "gp", GP), None),
        (20, "P", dispensing(20, "R03AL03"), None),
        (30, "P", consultation(d.at(30), "pulmonologist", PULMO), None),
        (40, "P", rehab(40), None),
        (60, "P", lab(d.at(60), "20150-9", 1.9, "L"), None),
        *((n, "P", nursing_visit(d.at(n, 9)), None) for n in visits),
    ]
    # Q, late: GP D+10 (window D+7), a short-acting bronchodilator only (R03AC02 does not
    # count), rehabilitation D+85 (in time), pulmonology D+70 (window D+60), 3 visits
    out += [
        (10, "Q", consultation(d.at(10), "gp", GP), None),
        (10, "Q", dispensing(10, "R03AC02"), None),
        (70, "Q", consultation(d.at(70), "pulmonologist", PULMO), None),
        (85, "Q", rehab(85), None),
        *((n, "Q", nursing_visit(d.at(n, 9)), None) for n in visits[:3]),
    ]
    # R, missed: nothing
    # S, died on D+25: GP D+3, bronchodilator D+6
    out += [
        (3, "S", consultation(d.at(3), "gp", GP), None),
        (6, "S", dispensing(6, "R03BB04"), None),
        (25, "S", death(d.at(25, 8)), None),
    ]
    # T, readmitted on D+12: GP D+4, first education visit D+3; the pause cancels the rest
    out += [
        (3, "T", nursing_visit(d.at(3, 9)), None),
        (4, "T", consultation(d.at(4), "gp", GP), None),
        (12, "T", readmission(d.at(12, 8)), None),
    ]
    return out


# Queried on D+95: every window up to D+90 has closed; the flu season (15 Oct 2026 -
# 31 Jan 2027, D+178..D+286) and the spirometry year are still open. T's readmission on
# D+12 and S's death on D+25 take them out of every window still open then.
COPD_EXPECTED = {
    "COPD-INCLUDED": (5, 0, 5.0, 0, 0, 0),
    # met: P (D+5), S (D+3), T (D+4: its readmission on D+12 is after the window); Q late,
    # R not done: 3 / 5
    "COPD-GP7": (3, 5, 0.6, 0, 0, 0),
    # met: P (D+30); Q late (D+70), R not done; S (death D+25) and T (readmission D+12)
    # excluded, nothing done before: 1 / 3
    "COPD-PULMO60": (1, 3, 0.3333, 2, 0, 0),
    # met: P (D+20), S (D+6, before dying: kept); Q (short-acting only), R not done; T
    # readmitted on D+12 <= D+90 with nothing dispensed: excluded. 2 / 4
    "COPD-BD90": (2, 4, 0.5, 1, 0, 0),
    # met: P (D+40), Q (D+85); R not done; S (death) and T (readmission) excluded: 2 / 3
    "COPD-REHAB90": (2, 3, 0.6667, 2, 0, 0),
    # weekly occurrences, k+1 is D+1+7k..D+7+7k (the 8th closes on D+56). P 8/8, Q 3/8
    # (D+3, D+10, D+17), R 0/8. S died on D+25: 1-3 (closed by D+21) missed, 4-8 out: 0/3.
    # T readmitted on D+12: 1 performed (D+3), 2 (D+8..D+14) to 8 out: 1/1.
    # (8 + 3 + 0 + 0 + 1) / (8 + 8 + 8 + 3 + 1) = 12 / 28 = 0.4286
    "COPD-NURSE": (12, 28, 0.4286, 0, 0, 0),
    # nobody vaccinated yet, the season has not begun: P, Q, R 0 / 3, all still open;
    # S (death) and T (readmission) came before the season's end: excluded
    "COPD-FLU": (0, 3, 0.0, 2, 0, 3),
    # met: P (D+60); Q, R not yet, their year still open; S and T excluded: 1 / 3
    "COPD-SPIRO365": (1, 3, 0.3333, 2, 0, 2),
    # readmitted by D+30: T; S excluded (death on D+25): 1 / 4
    "COPD-READMIT30": (1, 4, 0.25, 1, 0, 0),
}
COPD_CASES = {
    "COPD-GP7": {
        "P": "met on time",
        "Q": "not_met late",
        "R": "not_met not done",
        "S": "met on time",
        "T": "met on time",
    },
    "COPD-PULMO60": {
        "P": "met on time",
        "Q": "not_met late",
        "R": "not_met not done",
        "S": "excluded DeathReported",
        "T": "excluded ReadmissionReported",
    },
    "COPD-BD90": {
        "P": "met on time",
        "Q": "not_met not done",
        "R": "not_met not done",
        "S": "met on time",
        "T": "excluded ReadmissionReported",
    },
    "COPD-NURSE": {
        "P": "counted 8/8",
        "Q": "counted 3/8",
        "R": "counted 0/8",
        "S": "counted 0/3; 5 out: DeathReported",
        "T": "counted 1/1; 7 out: ReadmissionReported",
    },
    "COPD-READMIT30": {
        "P": "not_met no ReadmissionReported",
        "Q": "not_met no ReadmissionReported",
        "R": "not_met no ReadmissionReported",
        "S": "excluded DeathReported",
        "T": "met ReadmissionReported",
    },
}


async def test_copd_cohort_through_the_api(play: Play) -> None:
    await play.play(COPD_DAYS, 2000, copd_script(), until=95)
    await play.check(COPD, "2026-Q2", COPD_EXPECTED, COPD_CASES)

    # D+370: the pathways closed at the end of D+365, cancelling Q's visits 4-8, R's 8,
    # the flu and spirometry tasks still open. Missed stays missed: COPD-NURSE 12 / 28 as
    # on D+95. The flu season (to D+286) and the spirometry year have closed: P, Q, R
    # never vaccinated, Q and R never had a spirometry: not met, no longer open.
    await play.advance_to(COPD_DAYS.at(370, 20))
    await play.settle()
    closed = {
        **COPD_EXPECTED,
        "COPD-FLU": (0, 3, 0.0, 2, 0, 0),
        "COPD-SPIRO365": (1, 3, 0.3333, 2, 0, 0),
    }
    await play.check(COPD, "2026-Q2", closed, COPD_CASES)


# --- gestational diabetes --------------------------------------------------------------------

GD_DAYS = Days(dt.date(2027, 5, 3))  # the OGTT (after the COPD year); expected delivery D+84


def gd_script() -> list[tuple[int, str, dict | list[dict], str | None]]:
    d = GD_DAYS

    def ogtt() -> dict:
        return {
            "type": "GlucoseToleranceTestReported",
            "tested_at": iso(d.at(0, 9)),
            "fasting_g_l": 0.95,  # >= 0.92 (and < 1.26: not overt diabetes): enrols
            "one_hour_g_l": 1.70,
            "two_hour_g_l": 1.40,
            "expected_delivery": (d.d0 + dt.timedelta(days=84)).isoformat(),
        }

    def delivery(n: int) -> dict:
        return {"type": "DeliveryReported", "delivered_at": iso(d.at(n, 6)), "finess": FINESS}

    def fasting_glucose(n: int) -> dict:
        return lab(d.at(n), "1558-6", 0.9, "g/L")

    out: list[tuple[int, str, dict | list[dict], str | None]] = [
        (0, label, ogtt(), None) for label in "UVWX"
    ]
    # reviews every 15 days from D+8 until the expected delivery (D+84): occurrence k+1 is
    # D+8+15k..D+22+15k, k = 0..5 (the 6th starts on D+83); a delivery cancels the reviews
    # that had not started yet
    # U, on time: education D+3, reviews D+10, D+25, D+40, delivery D+50 (reviews 4-6
    # cancelled), postpartum fasting glucose D+92 (delivery + 42 days)
    out += [
        (3, "U", consultation(d.at(3), "dietitian", DIETITIAN), None),
        (10, "U", consultation(d.at(10), "gp", GP), None),
        (25, "U", consultation(d.at(25), "midwife", MIDWIFE), None),
        (40, "U", consultation(d.at(40), "gp", GP), None),
        (50, "U", delivery(50), None),
        (92, "U", fasting_glucose(92), None),
    ]
    # V, late: education D+10 (window D+7); one review, on D+30 (it completes the 2nd,
    # whose window holds it; the 1st stays undone); delivery D+60 (reviews 5-6 cancelled,
    # 1-4 planned); a fasting glucose at delivery + 20 days is too early to count, the one
    # at delivery + 88 days (D+148) is late (window delivery + 27 < day <= + 84)
    out += [
        (10, "V", consultation(d.at(10), "dietitian", DIETITIAN), None),
        (30, "V", consultation(d.at(30), "gp", GP), None),
        (60, "V", delivery(60), None),
        (80, "V", fasting_glucose(80), None),
        (148, "V", fasting_glucose(148), None),
    ]
    # W, missed: nothing, no delivery reported
    # X, died on D+20 after her education on D+2
    out += [
        (2, "X", consultation(d.at(2), "dietitian", DIETITIAN), None),
        (20, "X", death(d.at(20, 8)), None),
    ]
    return out


# Queried on D+150, then on D+1255 (the pathway lasts 1250 days).
GD_EXPECTED = {
    "GD-INCLUDED": (4, 0, 4.0, 0, 0, 0),
    # met: U (D+3), X (D+2: her death on D+20 is after the window); V late, W not done: 2 / 4
    "GD-EDU7": (2, 4, 0.5, 0, 0, 0),
    # reviews on time / planned: U 3/3 (4-6 had not started at the delivery: out), V 1/4
    # (1, 3 and 4 missed; 5-6 out), W 0/6 (no delivery: all six missed); X died on D+20
    # while review 1 (D+8..D+22) was open: all six out, excluded. 4 / 13 = 0.3077
    "GD-REVIEWS": (4, 13, 0.3077, 1, 0, 0),
    # relative to the delivery: U met (42 days after), V late (88 days); W and X have no
    # delivery: ineligible. 1 / 2
    "GD-POSTPARTUM": (1, 2, 0.5, 0, 2, 0),
}
GD_CASES = {
    "GD-EDU7": {
        "U": "met on time",
        "V": "not_met late",
        "W": "not_met not done",
        "X": "met on time",
    },
    "GD-REVIEWS": {
        "U": "counted 3/3; 3 out: stopped",
        "V": "counted 1/4; 2 out: stopped",
        "W": "counted 0/6",
        "X": "excluded DeathReported",
    },
    "GD-POSTPARTUM": {
        "U": "met on time",
        "V": "not_met late",
        "W": "ineligible no DeliveryReported",
        "X": "ineligible no DeliveryReported",
    },
}


async def test_gestational_diabetes_cohort_through_the_api(play: Play) -> None:
    await play.play(GD_DAYS, 3000, gd_script(), until=150)
    await play.check(GD, "2027-Q2", GD_EXPECTED, GD_CASES)
    postpartum = await play.cases("GD-POSTPARTUM", "2027-Q2")
    assert (postpartum["U"]["reason_day"], postpartum["U"]["window_end_day"]) == (92, 134)
    assert (postpartum["V"]["reason_day"], postpartum["V"]["window_end_day"]) == (148, 144)

    # D+1255: the pathways closed at the end of D+1250, cancelling V's reviews 1, 3, 4 and
    # W's six, still open: missed stays missed, the same values
    await play.advance_to(GD_DAYS.at(1255, 20))
    await play.settle()
    await play.check(GD, "2027-Q2", GD_EXPECTED, GD_CASES)


# --- timelines across CPTS -------------------------------------------------------------------


async def test_a_patient_of_another_cpts_has_no_timeline(play: Play, token) -> None:
    now = await play.now()
    answer = await play.report(
        "Z", discharge(now - dt.timedelta(hours=2), "I50.1"), play.identity("Z", 4000)
    )
    await play.settle()
    path = f"/v1/patients/{play.patients['Z']}/timeline"
    mine = await play.projections.get(path, headers=bearer(token("coordinator", sub="C-1")))
    assert mine.status_code == 200, mine.text
    assert answer["event_id"] in {e["event_id"] for e in mine.json()["entries"]}
    foreign = await play.projections.get(
        path, headers=bearer(token("coordinator", sub="C-2", cpts="other"))
    )
    assert foreign.status_code == 404, foreign.text
    assert "timeline" not in foreign.json() and "entries" not in foreign.json()
    nobody = await play.projections.get(
        f"/v1/patients/{uuid.uuid4()}/timeline", headers=bearer(token("coordinator", sub="C-1"))
    )
    assert nobody.status_code == 404
