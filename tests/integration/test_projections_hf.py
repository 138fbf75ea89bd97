"""Heart-failure cohort with known outcomes: every indicator equals the value computed by
hand; the case list names the events that decided each case; as-of answers before and
after a late fact; worklists and the access log."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from contracts import facts as f
from contracts.identity import CareTeamMember
from projections.domain.pseudonyms import event_pseudonym
from tests.engine_story import Played
from tests.integration.test_projections_helpers import FINESS, flush, running

ANCHOR = dt.datetime(2026, 1, 12, 10, 0, tzinfo=dt.UTC)  # 11:00 in Paris, D0 = 12 January
HF = "heart-failure-discharge"
GP, NURSE = (
    "10000000009",
    "10000000001",
)  # the discharge names the GP: the GP's tasks are theirs, not a pool's
PARIS = ZoneInfo("Europe/Paris")


def on(n: float, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock in Paris on D0+n."""
    local = dt.datetime.combine(ANCHOR.date() + dt.timedelta(days=n), dt.time(hour), PARIS)
    return local.astimezone(dt.UTC)


def hf_patient(label: str, patient_id=None, cpts="demo") -> Played:  # type: ignore[no-untyped-def]
    """Discharged home at ANCHOR after heart failure, zone z1, played through the engine:
    blood panel and GP by D+7, cardiology D+30..D+60, 16 nursing visits (occurrence 2p+1
    is D+1+7p..D+3+7p, 2p+2 is D+4+7p..D+7+7p)."""
    p = Played(ANCHOR, cpts, patient_id, zone="z1")
    p.label = label  # type: ignore[attr-defined]
    p.record(
        f.DischargeReported(
            admitted_at=ANCHOR - dt.timedelta(days=6),
            discharged_at=ANCHOR,
            diagnoses=["I50.1"],
            finess=FINESS,
            care_team=[CareTeamMember(role="gp", rpps=GP)],
        )
    )
    return p


def consultation(role: str, at: dt.datetime) -> f.ConsultationReported:
    return f.ConsultationReported(consulted_at=at, role=role, rpps=GP)


def panel(at: dt.datetime) -> list[f.LabResultReported]:
    """Creatinine, potassium and sodium: what completes the blood panel."""
    return [
        f.LabResultReported(collected_at=at, loinc=loinc, value=1.0, unit="mmol/L")
        for loinc in ("2160-0", "2823-3", "2951-2")
    ]


def visits(count: int) -> list[f.NursingVisitReported]:
    """Visits 1..count on D+2, D+5, D+9, D+12, ...: one in each occurrence's window."""
    return [
        f.NursingVisitReported(visited_at=on(7 * (n // 2) + (2, 5)[n % 2], 9), rpps=NURSE)
        for n in range(count)
    ]


def cohort(ids=None, cpts="demo", until: int = 65) -> dict[str, Played]:  # type: ignore[no-untyped-def]
    """Five patients whose facts up to D+``until`` are played, in time order, and the clock
    run to D+``until`` 20:00 (by default D+65: every window closed, the pathways open)."""

    def play(p: Played, facts: list) -> None:  # type: ignore[type-arg]
        for fact in sorted(facts, key=f.occurred_at):
            if f.occurred_at(fact) <= on(until, 20):
                p.record(fact)
        p.advance(on(until, 20))

    ids = ids or [None] * 5
    a, b, c, d, e = (hf_patient(x, i, cpts) for x, i in zip("ABCDE", ids, strict=True))
    # A: everything on time, 14 of 16 nursing visits
    play(
        a,
        [
            consultation("gp", on(3)),
            *panel(on(5)),
            consultation("cardiologist", on(40)),
            *visits(14),
        ],
    )
    # B: blood panel never, GP late (D+10), cardiology early (D+20), 8 visits
    play(b, [consultation("gp", on(10)), consultation("cardiologist", on(20)), *visits(8)])
    # C: nothing done
    play(c, [])
    # D: died on D+4 at noon (the enrolment closes, its open tasks are cancelled)
    play(d, [f.DeathReported(died_at=on(4, 12))])
    # E: GP D+2 and blood panel D+3 on time, 4 visits, readmitted D+15 (pathway paused)
    readmission = f.ReadmissionReported(admitted_at=on(15, 8), finess=FINESS)
    play(e, [consultation("gp", on(2)), *panel(on(3, 11)), *visits(4), readmission])
    e.readmission = next(  # type: ignore[attr-defined]
        (x.event_id for x in e.envelopes if x.data == readmission), None
    )
    return {p.label: p for p in (a, b, c, d, e)}  # type: ignore[attr-defined]


EXPECTED = {  # code: (numerator, denominator, value), read on D+65
    "HF-INCLUDED": (5, 0, 5.0),
    # met: A (D+3), E (D+2); B late (D+10), C not done; D died on D+4 <= D+7: out. 2 / 4
    "HF-GP7": (2, 4, 0.5),
    # met: A (D+5), E (D+3); B, C not done; D out: 2 / 4
    "HF-BIO7": (2, 4, 0.5),
    # met: A (D+40), B (D+20: an early consultation completes the task); C not done; D
    # (death) and E (readmission on D+15 <= D+60, nothing done) out: 2 / 3
    "HF-CARDIO60": (2, 3, 0.6667),
    # window D+29 < day <= D+60: B's D+20 is early: 1 / 3
    "HF-CARDIO30-60": (1, 3, 0.3333),
    # A 14/16, B 8/16, C 0/16 (missed stays missed); D died on D+4: visit 1 (window closed
    # on D+3) missed, 2-16 out: 0/1; E readmitted on D+15: 4 done, 5-16 (still open) out:
    # 4/4. (14 + 8 + 0 + 0 + 4) / (16 + 16 + 16 + 1 + 4) = 26 / 53
    "HF-NURSE": (26, 53, 0.4906),
    # >= 80 %: A (14/16 = 87.5 %); B (50 %), C (0 %) not; D, E out before the plan's end
    "HF-NURSE80": (1, 3, 0.3333),
    # E readmitted on D+15; A, B, C not; D died on D+4 <= D+30: out. 1 / 4
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
        readmission = event_pseudonym(
            settings.auth.pseudonym_secret, "demo", people["E"].readmission
        )
        assert readmission in e_case["decided_by"]
        assert e_case["reason_day"] == 15 and e_case["anchor_month"] == "2026-01"


async def test_an_as_of_query_answers_from_the_events_recorded_by_then(settings, auditor):
    late = hf_patient("late")
    async with running(settings) as h:
        await flush(h.pool, late)
        await h.settle()
        before = await h.get("/v1/indicators/HF-GP7", auditor, period="2026-Q1")
        between = await h.pool.fetchval("SELECT clock_timestamp()")
        await asyncio.sleep(0.02)
        # the GP's consultation of D+5 is reported late: after the first answer was given
        late.record(consultation("gp", on(5)))
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
