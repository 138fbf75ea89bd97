"""Gestational-diabetes and COPD cohorts with known outcomes (on time, late, missed, died,
readmitted, no delivery yet), played through the pathways decider on a virtual clock
(``tests.engine_story``) and appended to the event store as the engine wrote them; the
relay and the projections service then read them: every indicator equals the value
computed by hand, read after the windows (and the COPD pathway) have closed.

Days are Paris calendar days from D0; windows ``D0+from < day <= D0+to``."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from contracts import facts as f
from contracts.events import patient_stream
from parcours.eventstore import ANY, EventStore
from tests.engine_story import Played
from tests.integration.test_projections_helpers import FINESS, running

PARIS = ZoneInfo("Europe/Paris")
GD, COPD = "gestational-diabetes", "copd-exacerbation"
GD_D0 = dt.date(2026, 2, 10)
COPD_D0 = dt.date(2026, 4, 7)
GP, PULMO, DIETITIAN, NURSE = "10000000002", "10000000005", "10000000007", "10000000003"


def on(d0: dt.date, n: int, hour: int = 10) -> dt.datetime:
    local = dt.datetime.combine(d0 + dt.timedelta(days=n), dt.time(hour), PARIS)
    return local.astimezone(dt.UTC)


def consultation(at: dt.datetime, role: str, rpps: str = GP) -> f.ConsultationReported:
    return f.ConsultationReported(consulted_at=at, role=role, rpps=rpps)


async def appended(pool, patients: list[Played], until: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    store = EventStore(pool)
    for p in patients:
        p.advance(until)
        await store.append(patient_stream(p.patient), ANY, p.take())


# --- gestational diabetes ---------------------------------------------------------------------


def gd_cohort(cpts: str) -> list[Played]:
    d = GD_D0

    def diagnosed() -> Played:
        p = Played(on(d, 0), cpts)
        # expected delivery D+100: reviews every 15 days from D+8 while they start before
        # it, occurrence k+1 is D+8+15k..D+22+15k, k = 0..6 (the 7th starts on D+98)
        p.record(
            f.DiagnosisReported(
                diagnosed_at=on(d, 0), code="O24.4", expected_delivery=d + dt.timedelta(100)
            )
        )
        return p

    def deliver(p: Played, n: int) -> None:
        p.record(f.DeliveryReported(delivered_at=on(d, n, 6), finess=FINESS))

    p1, p2, p3, p4, p5 = (diagnosed() for _ in range(5))
    # P1 on time: education D+3, reviews 1-6, delivery D+95 (review 7, from D+98, had not
    # started: out), postpartum fasting glucose at delivery + 40 days (window +27..+84)
    p1.record(consultation(on(d, 3), "dietitian", DIETITIAN))
    for n in (10, 25, 40, 55, 70, 85):
        p1.record(consultation(on(d, n), "gp"))
    deliver(p1, 95)
    p1.record(f.LabResultReported(collected_at=on(d, 135), loinc="1558-6", value=0.9, unit="g/L"))
    # P2 late: education D+9, reviews 1 (D+10) and 2 (D+30), delivery D+90 (review 7 out),
    # postpartum test at delivery + 100 days: late
    p2.record(consultation(on(d, 9), "dietitian", DIETITIAN))
    p2.record(consultation(on(d, 10), "gp"))
    p2.record(consultation(on(d, 30), "midwife", "10000000006"))
    deliver(p2, 90)
    p2.record(f.LabResultReported(collected_at=on(d, 190), loinc="1558-6", value=0.9, unit="g/L"))
    # P3 missed everything; delivered on D+95, no postpartum test
    deliver(p3, 95)
    # P4 no delivery yet: education D+2, reviews 1-2
    p4.record(consultation(on(d, 2), "dietitian", DIETITIAN))
    p4.record(consultation(on(d, 10), "gp"))
    p4.record(consultation(on(d, 25), "gp"))
    # P5 died on D+20 after her education on D+4 and review 1 on D+10
    p5.record(consultation(on(d, 4), "dietitian", DIETITIAN))
    p5.record(consultation(on(d, 10), "gp"))
    p5.record(f.DeathReported(died_at=on(d, 20, 8)))
    return [p1, p2, p3, p4, p5]


# Read on D+200: every window has closed (P1's postpartum window on D+179).
GD_EXPECTED = {
    "GD-INCLUDED": (5, 0, 5.0),
    # met: P1 (D+3), P4 (D+2), P5 (D+4: her death on D+20 is after the window); P2 late,
    # P3 not done: 3 / 5
    "GD-EDU7": (3, 5, 0.6),
    # on time / planned: P1 6/6 (7 out: stopped by the delivery), P2 2/6 (3-6 missed, 7
    # out), P3 0/6 (7 out), P4 2/7 (no delivery: 3-7 missed), P5 1/1 (died on D+20 while
    # review 2, D+23..D+37, was open: 2-7 out). (6 + 2 + 0 + 2 + 1) / (6 + 6 + 6 + 7 + 1)
    "GD-REVIEWS": (11, 26, 0.4231),
    # relative to the delivery: P1 met (40 days after), P2 late (100), P3 not done; P4 and
    # P5 have no delivery: ineligible. 1 / 3
    "GD-POSTPARTUM": (1, 3, 0.3333),
}


# --- COPD -------------------------------------------------------------------------------------


def copd_cohort(cpts: str) -> list[Played]:
    d = COPD_D0

    def discharged() -> Played:
        p = Played(on(d, 0, 17), cpts)
        p.record(
            f.DischargeReported(
                admitted_at=on(d, -6, 17),
                discharged_at=on(d, 0, 17),
                diagnoses=["J44.1"],
                finess=FINESS,
            )
        )
        return p

    def visits(p: Played, count: int) -> None:
        # weekly, occurrence n is D+1+7(n-1)..D+7n: a visit on D+7n-3 is in each window
        for n in range(1, count + 1):
            p.record(f.NursingVisitReported(visited_at=on(d, 7 * n - 3, 9), rpps=NURSE))

    q1, q2, q3, q4, q5 = (discharged() for _ in range(5))
    # Q1 on time (the flu season is 15 Oct 2026 - 31 Jan 2027: D+191..D+299)
    visits(q1, 8)
    q1.record(consultation(on(d, 5), "gp"))
    q1.record(f.DispensingReported(dispensed_at=on(d, 20), atc="R03AL03"))
    q1.record(consultation(on(d, 45), "pulmonologist", PULMO))
    q1.record(f.RehabilitationStarted(started_at=on(d, 60)))
    q1.record(f.VaccinationReported(vaccinated_at=on(d, 200), vaccine="influenza"))
    q1.record(f.LabResultReported(collected_at=on(d, 200), loinc="20150-9", value=2.1, unit="L"))
    # Q2 late: visits 1-4, GP D+9, pulmonology D+70, bronchodilator D+100, flu vaccine on
    # D+300 (1 February 2027, after the season)
    visits(q2, 4)
    q2.record(consultation(on(d, 9), "gp"))
    q2.record(consultation(on(d, 70), "pulmonologist", PULMO))
    q2.record(f.DispensingReported(dispensed_at=on(d, 100), atc="R03AL03"))
    q2.record(f.VaccinationReported(vaccinated_at=on(d, 300), vaccine="influenza"))
    # Q3 missed everything
    # Q4 GP on D+3, died on D+10
    q4.record(consultation(on(d, 3), "gp"))
    q4.record(f.DeathReported(died_at=on(d, 10)))
    # Q5 visits 1-2 (D+4, D+11), GP D+4, readmitted on D+12 (never back home)
    visits(q5, 1)
    q5.record(consultation(on(d, 4, 11), "gp"))
    q5.record(f.NursingVisitReported(visited_at=on(d, 11, 9), rpps=NURSE))
    q5.record(f.ReadmissionReported(admitted_at=on(d, 12, 8), finess=FINESS))
    return [q1, q2, q3, q4, q5]


# Read on D+400: the pathways closed at the end of D+365, cancelling what was still open
# (missed stays missed); the flu season and the spirometry year have closed.
COPD_EXPECTED = {
    "COPD-INCLUDED": (5, 0, 5.0),
    # met: Q1 (D+5), Q4 (D+3), Q5 (D+4: the readmission on D+12 is after the window);
    # Q2 late, Q3 not done: 3 / 5
    "COPD-GP7": (3, 5, 0.6),
    # met: Q1 (D+45); Q2 late (D+70), Q3 not done; Q4 (death) and Q5 (readmission) before
    # D+60 with nothing done: excluded. 1 / 3
    "COPD-PULMO60": (1, 3, 0.3333),
    # met: Q1 (D+20); Q2 late (D+100), Q3 not done; Q4, Q5 excluded: 1 / 3
    "COPD-BD90": (1, 3, 0.3333),
    # met: Q1 (D+60); Q2, Q3 not done; Q4, Q5 excluded: 1 / 3
    "COPD-REHAB90": (1, 3, 0.3333),
    # Q1 8/8, Q2 4/8, Q3 0/8; Q4 died on D+10: visit 1 (D+1..D+7) missed, 2-8 out: 0/1;
    # Q5 readmitted on D+12: 1-2 performed, 3-8 out: 2/2. 14 / 27
    "COPD-NURSE": (14, 27, 0.5185),
    # in season: Q1 (D+200); Q2 after the season (not on time), Q3 never; Q4, Q5 excluded
    "COPD-FLU": (1, 3, 0.3333),
    # met: Q1 (D+200); Q2, Q3 never; Q4, Q5 excluded: 1 / 3
    "COPD-SPIRO365": (1, 3, 0.3333),
    # readmitted by D+30: Q5; Q4 died on D+10 (excluded): 1 / 4
    "COPD-READMIT30": (1, 4, 0.25),
}


async def indicators(h, token: str, protocol: str, period: str) -> dict:  # type: ignore[no-untyped-def]
    answer = await h.get("/v1/indicators", token, protocol=protocol, period=period)
    return {
        i["code"]: (i["numerator"], i["denominator"], i["value"])
        for i in answer["protocols"][0]["indicators"]
    }


async def test_gestational_diabetes_indicators_equal_the_hand_computed_values(settings, token):
    async with running(settings) as h:
        await appended(h.pool, gd_cohort("gd"), on(GD_D0, 200))
        await h.settle()
        auditor = token("auditor", sub="AUDIT-GD", cpts="gd")
        assert await indicators(h, auditor, GD, "2026-Q1") == GD_EXPECTED
        detail = await h.get("/v1/indicators/GD-POSTPARTUM", auditor, period="2026-02")
        assert detail["exclusions"] == [
            {"status": "ineligible", "reason": "no DeliveryReported", "cases": 2}
        ]


async def test_copd_indicators_equal_the_hand_computed_values(settings, token):
    async with running(settings) as h:
        await appended(h.pool, copd_cohort("copd"), on(COPD_D0, 400))
        await h.settle()
        auditor = token("auditor", sub="AUDIT-COPD", cpts="copd")
        assert await indicators(h, auditor, COPD, "2026-Q2") == COPD_EXPECTED
        assert (await indicators(h, auditor, COPD, "2026-Q1"))["COPD-INCLUDED"] == (0, 0, 0.0)
