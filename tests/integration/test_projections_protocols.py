"""Gestational-diabetes and COPD cohorts with known outcomes (on time, late, missed, died,
readmitted, no delivery yet): every indicator equals the value computed by hand."""

from __future__ import annotations

import datetime as dt

from contracts import facts as f
from tests.integration.test_projections_helpers import UTC, Patient, day, flush, running

GD, COPD = "gestational-diabetes", "copd-exacerbation"
GD_ANCHOR = dt.datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
COPD_ANCHOR = dt.datetime(2026, 4, 7, 15, 0, tzinfo=UTC)


def enrolled(
    protocol: str, anchor: dt.datetime, plan: dict[str, tuple[str, int, int]], cpts: str
) -> Patient:
    """A patient enrolled at ``anchor`` with occurrences 1..n of each planned activity."""
    p = Patient(cpts)
    if protocol == GD:
        p.fact(f.DiagnosisReported(diagnosed_at=anchor, code="O24.4"))
        p.enrol(protocol, "1", anchor, anchor_type="DiagnosisReported")
    else:
        p.discharge(anchor, ["J44.1"])
        p.enrol(protocol, "1", anchor)
    for activity, (role, due_days, count) in plan.items():
        for n in range(1, count + 1):
            p.schedule(
                activity,
                n,
                role,
                day(anchor, 1 + (n - 1) * 7, 0),
                day(anchor, due_days + (n - 1) * 7, 22),
            )
    return p


def done(
    p: Patient,
    activity: str,
    d: float,
    on_time: bool = True,
    n: int = 1,
    anchor: dt.datetime | None = None,
) -> None:
    p.complete(activity, n, day(anchor or p.anchor, d), on_time)


GD_PLAN = {"education": ("dietitian", 7, 1)}


def gd_cohort(cpts: str) -> list[Patient]:
    def patient(reviews: int) -> Patient:
        return enrolled(GD, GD_ANCHOR, {**GD_PLAN, "glucose-review": ("gp", 15, reviews)}, cpts)

    def deliver(p: Patient, d: int) -> dt.datetime:
        at = day(GD_ANCHOR, d)
        p.fact(f.DeliveryReported(delivered_at=at))
        p.schedule("postpartum-glucose-test", 1, "gp", day(at, 28, 0), day(at, 84, 22))
        return at

    p1, p2, p3, p4, p5 = patient(4), patient(4), patient(4), patient(2), patient(2)
    # P1 on time everywhere; postpartum test 40 days after delivery
    done(p1, "education", 3)
    for n in range(1, 5):
        done(p1, "glucose-review", 5 + 7 * (n - 1), True, n)
    delivered = deliver(p1, 100)
    done(p1, "postpartum-glucose-test", 40, anchor=delivered)
    # P2 late: education D+9, reviews 2 on time 1 late 1 missed, postpartum test too late
    done(p2, "education", 9, False)
    done(p2, "glucose-review", 5, True, 1)
    done(p2, "glucose-review", 12, True, 2)
    done(p2, "glucose-review", 30, False, 3)
    delivered = deliver(p2, 90)
    done(p2, "postpartum-glucose-test", 100, False, anchor=delivered)
    # P3 missed everything; delivered, no postpartum test
    deliver(p3, 95)
    # P4 no delivery yet
    done(p4, "education", 2)
    done(p4, "glucose-review", 5, True, 1)
    done(p4, "glucose-review", 12, True, 2)
    # P5 died on D+20 after education on D+4 and one review
    done(p5, "education", 4)
    done(p5, "glucose-review", 5, True, 1)
    p5.fact(f.DeathReported(died_at=day(GD_ANCHOR, 20)))
    p5.cancel("glucose-review", 2, day(GD_ANCHOR, 20), "death")
    return [p1, p2, p3, p4, p5]


GD_EXPECTED = {
    "GD-INCLUDED": (5, 0, 5.0),
    "GD-EDU7": (3, 5, 0.6),
    # on time / planned: P1 4/4, P2 2/4, P3 0/4, P4 2/2; P5 died on D+20 while review 2
    # (due D+22) was open: out, review 1 done: 1/1. 9 / 15
    "GD-REVIEWS": (9, 15, 0.6),
    "GD-POSTPARTUM": (1, 3, 0.3333),
}

COPD_PLAN = {
    "gp-followup": ("gp", 7, 1),
    "pulmonology-consultation": ("pulmonologist", 60, 1),
    "long-acting-bronchodilator": ("pharmacist", 90, 1),
    "rehabilitation": ("physiotherapist", 90, 1),
    "nurse-education": ("nurse", 7, 8),
    "flu-vaccination": ("nurse", 200, 1),
    "spirometry": ("pulmonologist", 365, 1),
}


def copd_cohort(cpts: str) -> list[Patient]:
    q1, q2, q3, q4, q5 = (enrolled(COPD, COPD_ANCHOR, COPD_PLAN, cpts) for _ in range(5))
    for activity, d in [
        ("gp-followup", 5),
        ("pulmonology-consultation", 45),
        ("long-acting-bronchodilator", 20),
        ("rehabilitation", 60),
        ("flu-vaccination", 180),
        ("spirometry", 200),
    ]:
        done(q1, activity, d)
    for n in range(1, 9):
        done(q1, "nurse-education", 7 * n - 3, True, n)
    # Q2 late
    done(q2, "gp-followup", 9, False)
    done(q2, "pulmonology-consultation", 70, False)
    done(q2, "long-acting-bronchodilator", 100, False)
    done(q2, "flu-vaccination", 210, False)
    for n in range(1, 5):
        done(q2, "nurse-education", 7 * n - 3, True, n)
    # Q3 missed everything
    # Q4 GP on D+3, died on D+10
    done(q4, "gp-followup", 3)
    q4.fact(f.DeathReported(died_at=day(COPD_ANCHOR, 10)))
    # Q5 GP D+4, bronchodilator D+30, 2 nurse visits, readmitted D+12 (the rest cancelled)
    done(q5, "gp-followup", 4)
    done(q5, "long-acting-bronchodilator", 30)
    done(q5, "nurse-education", 4, True, 1)
    done(q5, "nurse-education", 11, True, 2)
    q5.fact(f.ReadmissionReported(admitted_at=day(COPD_ANCHOR, 12), finess="750712184"))
    for n in range(3, 9):
        q5.cancel("nurse-education", n, day(COPD_ANCHOR, 12), "paused")
    return [q1, q2, q3, q4, q5]


COPD_EXPECTED = {
    "COPD-INCLUDED": (5, 0, 5.0),
    "COPD-GP7": (3, 5, 0.6),
    "COPD-PULMO60": (1, 3, 0.3333),
    # Q5's readmission on D+12 takes it out of every window still open then (PROTOCOLS.md
    # § 0), its bronchodilator on D+30 included: Q1 met, Q2 and Q3 not: 1 / 3
    "COPD-BD90": (1, 3, 0.3333),
    "COPD-REHAB90": (1, 3, 0.3333),
    # Q1 8/8, Q2 4/8, Q3 0/8; Q4 died on D+10: visit 1 (due D+8 in Paris) missed, 2-8 out:
    # 0/1; Q5 readmitted on D+12: 1-2 done, 3-8 out: 2/2. 14 / 27
    "COPD-NURSE": (14, 27, 0.5185),
    "COPD-FLU": (1, 3, 0.3333),
    "COPD-SPIRO365": (1, 3, 0.3333),
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
        await flush(h.pool, *gd_cohort("gd"))
        await h.settle()
        auditor = token("auditor", sub="AUDIT-GD", cpts="gd")
        assert await indicators(h, auditor, GD, "2026-Q1") == GD_EXPECTED
        detail = await h.get("/v1/indicators/GD-POSTPARTUM", auditor, period="2026-02")
        assert detail["exclusions"] == [
            {"status": "ineligible", "reason": "no DeliveryReported", "cases": 2}
        ]


async def test_copd_indicators_equal_the_hand_computed_values(settings, token):
    async with running(settings) as h:
        await flush(h.pool, *copd_cohort("copd"))
        await h.settle()
        auditor = token("auditor", sub="AUDIT-COPD", cpts="copd")
        assert await indicators(h, auditor, COPD, "2026-Q2") == COPD_EXPECTED
        assert (await indicators(h, auditor, COPD, "2026-Q1"))["COPD-INCLUDED"] == (0, 0, 0.0)
