"""Heart-failure cohort with known outcomes: every indicator equals the value computed by
hand; the case list names the events that decided each case; as-of answers before and
after a late fact; worklists and the access log."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from contracts import facts as f
from projections.domain.pseudonyms import event_pseudonym
from tests.integration.test_projections_helpers import UTC, Patient, day, flush, running

ANCHOR = dt.datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
HF = "heart-failure-discharge"


def hf_patient(label: str, patient_id=None, cpts="demo") -> Patient:  # type: ignore[no-untyped-def]
    p = Patient(cpts, patient_id=patient_id)
    p.label = label
    p.discharge(ANCHOR, ["I50.1"])
    p.enrol(HF, "1", ANCHOR)
    p.schedule("blood-panel", 1, "nurse", day(ANCHOR, 1, 0), day(ANCHOR, 7, 22))
    p.schedule(
        "gp-consultation", 1, "gp", day(ANCHOR, 1, 0), day(ANCHOR, 7, 22), assignee="10000000009"
    )
    p.schedule(
        "cardiology-consultation", 1, "cardiologist", day(ANCHOR, 30, 0), day(ANCHOR, 60, 22)
    )
    for n in range(1, 17):
        p.schedule(
            "nursing-visit",
            n,
            "nurse",
            day(ANCHOR, 1 + (n - 1) * 3.5, 0),
            day(ANCHOR, 3 + (n - 1) * 3.5, 22),
        )
    return p


def consult(p: Patient, role: str, at: dt.datetime):  # noqa: ANN201
    return p.fact(f.ConsultationReported(consulted_at=at, role=role, rpps="10000000009"))


def nursing(p: Patient, done: int, *, cancel_rest_at: dt.datetime | None = None) -> None:
    for n in range(1, done + 1):
        at = day(ANCHOR, 2 + (n - 1) * 3.5)
        fact = p.fact(f.NursingVisitReported(visited_at=at, rpps="10000000001"))
        p.complete("nursing-visit", n, at, True, fact)
    if cancel_rest_at:
        for n in range(done + 1, 17):
            p.cancel("nursing-visit", n, cancel_rest_at, "paused")


def cohort(ids=None, cpts="demo") -> dict[str, Patient]:  # type: ignore[no-untyped-def]
    ids = ids or [None] * 5
    a, b, c, d, e = (hf_patient(x, i, cpts) for x, i in zip("ABCDE", ids, strict=True))
    # A: everything on time, 14 of 16 nursing visits
    a.complete("gp-consultation", 1, day(ANCHOR, 3), True, consult(a, "gp", day(ANCHOR, 3)))
    a.complete("blood-panel", 1, day(ANCHOR, 5), True)
    a.complete(
        "cardiology-consultation",
        1,
        day(ANCHOR, 40),
        True,
        consult(a, "cardiologist", day(ANCHOR, 40)),
    )
    nursing(a, 14)
    # B: GP late (D+10), blood panel missed (overdue), cardiology early (D+20), 8 visits
    b.overdue("blood-panel", 1, day(ANCHOR, 7, 22))
    b.overdue("gp-consultation", 1, day(ANCHOR, 7, 22))
    b.complete("gp-consultation", 1, day(ANCHOR, 10), False, consult(b, "gp", day(ANCHOR, 10)))
    b.complete(
        "cardiology-consultation",
        1,
        day(ANCHOR, 20),
        True,
        consult(b, "cardiologist", day(ANCHOR, 20)),
    )
    nursing(b, 8)
    # C: nothing done
    c.overdue("gp-consultation", 1, day(ANCHOR, 7, 22))
    # D: died on D+4
    d.death = d.fact(f.DeathReported(died_at=day(ANCHOR, 4)))
    d.close(day(ANCHOR, 4), "death")
    # E: GP D+2 and blood D+3 on time, readmitted D+15 (pathway paused), 4 visits done
    e.complete("gp-consultation", 1, day(ANCHOR, 2), True, consult(e, "gp", day(ANCHOR, 2)))
    e.complete("blood-panel", 1, day(ANCHOR, 3), True)
    nursing(e, 4, cancel_rest_at=day(ANCHOR, 15))
    e.readmission = e.fact(f.ReadmissionReported(admitted_at=day(ANCHOR, 15), finess="750712184"))
    e.pause(day(ANCHOR, 15))
    return {p.label: p for p in (a, b, c, d, e)}


EXPECTED = {  # code: (numerator, denominator, value)
    "HF-INCLUDED": (5, 0, 5.0),
    "HF-GP7": (2, 4, 0.5),
    "HF-BIO7": (2, 4, 0.5),
    "HF-CARDIO60": (2, 3, 0.6667),
    "HF-CARDIO30-60": (1, 3, 0.3333),
    "HF-NURSE": (26, 52, 0.5),
    "HF-NURSE80": (1, 3, 0.3333),
    "HF-READMIT30": (1, 4, 0.25),
}


@pytest.fixture(scope="module")
def auditor(token) -> str:
    return token("auditor", sub="AUDIT-1")


async def test_heart_failure_indicators_equal_the_hand_computed_values(settings, auditor, token):
    people = cohort()
    async with running(settings) as h:
        await flush(h.pool, *people.values())
        await h.settle()
        answer = await h.get("/v1/indicators", auditor, protocol=HF, period="2026-Q1")
        got = {
            i["code"]: (i["numerator"], i["denominator"], i["value"])
            for i in answer["protocols"][0]["indicators"]
        }
        assert got == EXPECTED

        # the month and the year hold the same cases; the next quarter none
        month = await h.get("/v1/indicators/HF-GP7", auditor, period="2026-01")
        assert (month["numerator"], month["denominator"]) == (2, 4)
        assert month["exclusions"] == [
            {"status": "excluded", "reason": "DeathReported", "cases": 1}
        ]
        assert [t["period"] for t in month["trend"]][-2:] == ["2025-12", "2026-01"]
        assert month["trend"][-1]["value"] == 0.5
        q2 = await h.get("/v1/indicators/HF-GP7", auditor, period="2026-Q2")
        assert q2["denominator"] == 0 and q2["value"] is None

        cases = await h.get("/v1/indicators/HF-CARDIO60/cases", auditor, period="2026")
        by_status = sorted((c["status"], c["reason"]) for c in cases["cases"])
        assert by_status == [
            ("excluded", "DeathReported"),
            ("excluded", "ReadmissionReported"),
            ("met", "on time"),
            ("met", "on time"),
            ("not_met", "not done"),
        ]
        e_case = next(c for c in cases["cases"] if c["reason"] == "ReadmissionReported")
        readmission = event_pseudonym(settings.pseudonym_secret, "demo", people["E"].readmission)
        assert readmission in e_case["decided_by"]
        assert e_case["reason_day"] == 15 and e_case["anchor_month"] == "2026-01"


async def test_an_as_of_query_answers_from_the_events_recorded_by_then(settings, auditor):
    late = hf_patient("late")
    late.anchor = ANCHOR
    async with running(settings) as h:
        await flush(h.pool, late)
        await h.settle()
        before = await h.get("/v1/indicators/HF-GP7", auditor, period="2026-Q1")
        between = await h.pool.fetchval("SELECT clock_timestamp()")
        await asyncio.sleep(0.02)
        # the GP's consultation of D+5 is reported late: after the first answer was given
        late.complete(
            "gp-consultation", 1, day(ANCHOR, 5), True, consult(late, "gp", day(ANCHOR, 5))
        )
        await flush(h.pool, late)
        await h.settle()
        now = await h.get("/v1/indicators/HF-GP7", auditor, period="2026-Q1")
        then = await h.get(
            "/v1/indicators/HF-GP7", auditor, period="2026-Q1", as_of=between.isoformat()
        )
        assert now["numerator"] == before["numerator"] + 1
        assert (then["numerator"], then["denominator"]) == (
            before["numerator"],
            before["denominator"],
        )
        cases_then = await h.get(
            "/v1/indicators/HF-GP7/cases", auditor, period="2026-Q1", as_of=between.isoformat()
        )
        cases_now = await h.get("/v1/indicators/HF-GP7/cases", auditor, period="2026-Q1")
        assert len(cases_then["cases"]) == len(cases_now["cases"])
        assert (
            sum(c["status"] == "met" for c in cases_now["cases"])
            == sum(c["status"] == "met" for c in cases_then["cases"]) + 1
        )
