"""FHIR R4 ``MeasureReport`` for an indicator and a period (summary or subject-list).

Subjects are pseudonyms (identifier system ``urn:parcours:<cpts>:case``), never
patient ids. Populations use the HL7 measure-population codes: initial-population
(every case of the period), denominator, denominator-exclusion, numerator.

The FHIR quality-reporting convention (the specification's CMS146 example): the
denominator population is counted BEFORE exclusions and denominator-exclusion is
subtracted from it, so a consumer recomputes
``measureScore = numerator / (denominator - denominator-exclusion)``. The indicator's own
denominator (after exclusions) is therefore reported as ``denominator + excluded``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
MEASURE_BASE = "https://parcours.example/fhir/Measure/"


def _population(code: str, count: int, list_id: str | None) -> dict[str, Any]:
    pop: dict[str, Any] = {
        "code": {"coding": [{"system": POPULATION, "code": code}]},
        "count": count,
    }
    if list_id:
        pop["subjectResults"] = {"reference": f"#{list_id}"}
    return pop


def _list(list_id: str, title: str, system: str, cases: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "List",
        "id": list_id,
        "status": "current",
        "mode": "snapshot",
        "title": title,
        "entry": [{"item": {"identifier": {"system": system, "value": c}}} for c in cases],
    }


def measure_report(
    *,
    cpts: str,
    code: str,
    title: str,
    period_start: dt.date,
    period_end: dt.date,
    generated: dt.datetime,
    kind: str,
    numerator: int,
    denominator: int,
    cases: list[dict[str, Any]],
    report_type: Literal["summary", "subject-list"],
) -> dict[str, Any]:
    """``cases``: dicts with ``case`` (pseudonym) and ``status``."""
    system = f"urn:parcours:{cpts}:case"
    groups = {
        "initial-population": [c["case"] for c in cases],
        "denominator": [
            c["case"] for c in cases if c["denominator"] > 0 or c["status"] == "excluded"
        ],
        "denominator-exclusion": [c["case"] for c in cases if c["status"] == "excluded"],
        "numerator": [
            c["case"]
            for c in cases
            if c["status"] in ("met",) or (c["status"] == "counted" and c["numerator"] > 0)
        ],
    }
    excluded = len(groups["denominator-exclusion"])
    counts = {
        "initial-population": len(cases),
        "denominator": denominator + excluded if kind != "count_enrolled" else len(cases),
        "denominator-exclusion": excluded,
        "numerator": numerator,
    }
    subject_list = report_type == "subject-list"
    contained = (
        [_list(f"{name}", f"{code} {name}", system, members) for name, members in groups.items()]
        if subject_list
        else []
    )
    score: dict[str, Any] | None = None
    if kind == "count_enrolled":
        score = {"value": numerator}
    elif denominator:
        score = {"value": round(numerator / denominator, 4)}
    group: dict[str, Any] = {
        "code": {"text": title},
        "population": [
            _population(name, counts[name], name if subject_list else None) for name in groups
        ],
    }
    if score is not None:
        group["measureScore"] = score
    report: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": f"{cpts}-{code}-{period_start:%Y%m%d}-{report_type}",
        "status": "complete",
        "type": report_type,
        "measure": f"{MEASURE_BASE}{code}",
        "date": generated.isoformat(),
        "reporter": {"display": f"CPTS {cpts}"},
        "period": {
            "start": period_start.isoformat(),
            "end": (period_end - dt.timedelta(days=1)).isoformat(),
        },
        "improvementNotation": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/measure-improvement-notation",
                    "code": "increase",
                }
            ]
        },
        "group": [group],
    }
    if contained:
        report["contained"] = contained
    return report
