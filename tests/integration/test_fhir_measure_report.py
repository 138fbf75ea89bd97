"""FHIR MeasureReport populations follow the quality-reporting convention (the FHIR
specification's CMS146 example): the denominator population is counted before exclusions,
so a consumer that recomputes numerator / (denominator - denominator-exclusion) finds the
reported measureScore. Every report is validated by fhir.resources (R4B models)."""

from __future__ import annotations

from fhir.resources.R4B.measurereport import MeasureReport

from tests.integration.test_projections_helpers import flush, running
from tests.integration.test_projections_hf import cohort

# Read on D+65 from the five-patient cohort of test_projections_hf (A, B, C, D died on D+4,
# E readmitted on D+15): (initial population, denominator before exclusions, exclusions,
# numerator, score)
EXPECTED = {
    # D out (death before D+7); met: A, E. 2 / (5 - 1)
    "HF-GP7": (5, 5, 1, 2, 0.5),
    # D (death) and E (readmission before D+60) out; met: A, B. 2 / (5 - 2)
    "HF-CARDIO60": (5, 5, 2, 2, 0.6667),
    # D out; E readmitted on D+15. 1 / (5 - 1)
    "HF-READMIT30": (5, 5, 1, 1, 0.25),
    # occurrences, not cases: A 14/16, B 8/16, C 0/16, D 0/1, E 4/4; no case is out as a
    # whole (D and E keep the occurrences they had): 26 / (53 - 0)
    "HF-NURSE": (5, 53, 0, 26, 0.4906),
    # >= 80 % of the visits: A only; D and E out before the plan's end. 1 / (5 - 2)
    "HF-NURSE80": (5, 5, 2, 1, 0.3333),
}


def populations(report: dict) -> dict[str, int]:
    group = report["group"][0]
    return {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}


def consumer_score(pops: dict[str, int]) -> float:
    """What a FHIR consumer computes from the populations of a proportion measure."""
    return pops["numerator"] / (pops["denominator"] - pops["denominator-exclusion"])


async def test_a_consumer_recomputes_the_measure_score_from_the_populations(settings, token):
    auditor = token("auditor", sub="AUDIT-FHIR", cpts="measures")
    reports = {}
    async with running(settings) as h:
        await flush(h.pool, *cohort(cpts="measures").values())
        await h.settle()
        for code in EXPECTED:
            path = f"/v1/indicators/{code}/measure-report"
            reports[code] = [
                await h.get(path, auditor, period="2026-Q1"),
                await h.get(path, auditor, period="2026-Q1", type="subject-list"),
            ]
    for code, (summary, listed) in reports.items():
        check(code, summary, listed)


def check(code: str, summary: dict, listed: dict) -> None:
    for report in (summary, listed):
        MeasureReport.model_validate(report)
        pops = populations(report)
        initial, denominator, excluded, numerator, score = EXPECTED[code]
        assert pops == {
            "initial-population": initial,
            "denominator": denominator,
            "denominator-exclusion": excluded,
            "numerator": numerator,
        }
        assert report["group"][0]["measureScore"]["value"] == score
        assert round(consumer_score(pops), 4) == score

    # the subject lists agree with the counts (a measure of cases; HF-NURSE counts
    # occurrences, its lists name the cases that hold them): exclusions and numerator
    # inside the denominator
    lists = {
        c["id"]: [e["item"]["identifier"]["value"] for e in c["entry"]] for c in listed["contained"]
    }
    pops = populations(listed)
    if code != "HF-NURSE":
        assert {name: len(members) for name, members in lists.items()} == pops
    else:  # A, B, E hold visits done; every case holds planned visits
        assert (len(lists["numerator"]), len(lists["denominator"])) == (3, 5)
    assert set(lists["denominator-exclusion"]) <= set(lists["denominator"])
    assert set(lists["numerator"]) <= set(lists["denominator"]) - set(
        lists["denominator-exclusion"]
    )
