"""Exports for auditors: indicators and cases as CSV or JSON, FHIR R4 MeasureReport,
and the CPTS mission report (JSON or CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State

from parcours.auth import requires
from projections import fhir
from projections.api.common import (
    AUDIT_READERS,
    PeriodQuery,
    as_of_param,
    period_param,
    resources,
    title,
)
from projections.api.indicators import (
    IndicatorCases,
    IndicatorList,
    IndicatorValue,
    _definition,
    case_list,
    indicator_list,
)
from projections.mission import MissionRow
from projections.mission import mission_report as build_mission

Format = Literal["json", "csv"]
asdict = msgspec.structs.asdict


class MissionReport(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    period: str
    as_of: dt.datetime | None
    generated: dt.datetime
    pathways: list[MissionRow]
    # ACI mission 1 (access to care): derived indicators (projections.api.access)
    access_to_care: list[IndicatorValue] = []


def csv_response(rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


INDICATOR_COLUMNS = [
    "period",
    "protocol",
    "code",
    "title",
    "kind",
    "value",
    "numerator",
    "denominator",
    "cases",
    "met",
    "excluded",
    "ineligible",
    "open",
]
CASE_COLUMNS = [
    "code",
    "period",
    "case",
    "anchor_month",
    "status",
    "reason",
    "reason_day",
    "numerator",
    "denominator",
    "window_end_day",
    "decided_by",
]


@get(
    "/v1/exports/indicators",
    guards=[requires(*AUDIT_READERS)],
    tags=["exports"],
    summary="Indicators of a period as JSON or CSV",
)
async def export_indicators(
    request: Request[Any, Any, Any],
    state: State,
    period: PeriodQuery = None,
    protocol: str | None = None,
    as_of: str | None = None,
    format: Format = "json",
    lang: Literal["fr", "en"] = "fr",
) -> IndicatorList:  # or text/csv (format=csv): a Response
    answer = await indicator_list(state, request.user.cpts, protocol, period, as_of, lang)
    if format == "json":
        return answer
    rows = [
        {"period": answer.period, "protocol": p.id, **asdict(i)}
        for p in answer.protocols
        for i in p.indicators
    ]
    return csv_response(rows, INDICATOR_COLUMNS, f"indicators-{answer.period}.csv")


@get(
    "/v1/exports/indicators/{code:str}/cases",
    guards=[requires(*AUDIT_READERS)],
    tags=["exports"],
    summary="The cases of an indicator as JSON or CSV",
)
async def export_cases(
    request: Request[Any, Any, Any],
    state: State,
    code: str,
    period: PeriodQuery = None,
    as_of: str | None = None,
    format: Format = "json",
) -> IndicatorCases:  # or text/csv (format=csv): a Response
    answer = await case_list(state, request.user.cpts, code, period, as_of)
    if format == "json":
        return answer
    rows = [
        {"code": code, "period": answer.period, **asdict(c), "decided_by": " ".join(c.decided_by)}
        for c in answer.cases
    ]
    return csv_response(rows, CASE_COLUMNS, f"cases-{code}-{answer.period}.csv")


@get(
    "/v1/indicators/{code:str}/measure-report",
    guards=[requires(*AUDIT_READERS)],
    tags=["exports"],
    summary="FHIR R4 MeasureReport (summary or subject-list)",
)
async def measure_report(
    request: Request[Any, Any, Any],
    state: State,
    code: str,
    period: PeriodQuery = None,
    as_of: str | None = None,
    type: Literal["summary", "subject-list"] = "summary",
) -> Response[Any]:
    from projections.api.access_indicators import is_access_code
    from projections.domain.access_indicators import KINDS, TITLES

    p, at = period_param(period), as_of_param(as_of)
    if is_access_code(code):  # ACI mission 1, derived (projections.api.access)
        name = TITLES[code]  # a count reports its cases, as an enrolment count does
        kind = "count_enrolled" if KINDS.get(code) == "count" else KINDS.get(code, "share")
    else:
        _, d = _definition(state, code)
        name, kind = title(d, "en"), type_tag(d)
    answer = await case_list(state, request.user.cpts, code, period, as_of)
    cases = [asdict(c) for c in answer.cases]
    numerator = sum(c["numerator"] for c in cases)
    denominator = sum(c["denominator"] for c in cases)
    report = fhir.measure_report(
        cpts=request.user.cpts,
        code=code,
        title=name,
        period_start=p.start,
        period_end=p.end,
        generated=at or await resources(state).clock.now(),
        kind=kind,
        numerator=numerator,
        denominator=denominator,
        cases=cases,
        report_type=type,
    )
    return Response(report, media_type="application/fhir+json")


def type_tag(d: Any) -> str:
    return d.__struct_config__.tag


MISSION_COLUMNS = [
    "period",
    "protocol",
    "patients",
    "enrolments",
    "tasks_due",
    "tasks_done",
    "tasks_on_time",
    "tasks_cancelled",
    "tasks_overdue",
    "on_time_share",
    "escalations",
    "code",
    "derived",
    "value",
    "numerator",
    "denominator",
]


@get(
    "/v1/reports/mission",
    guards=[requires(*AUDIT_READERS)],
    tags=["exports"],
    summary="CPTS mission report: inclusions per pathway, tasks on time, escalations",
)
async def mission_report(
    request: Request[Any, Any, Any],
    state: State,
    period: PeriodQuery = None,
    as_of: str | None = None,
    format: Format = "json",
) -> MissionReport:  # or text/csv (format=csv): a Response
    p, at = period_param(period), as_of_param(as_of)
    from projections.api.access_indicators import ACCESS_GROUP, access_group

    rows = await build_mission(resources(state).pool, request.user.cpts, p, at)
    access = (await access_group(state, request.user.cpts, period)).indicators
    if format == "csv":
        extra = [{"period": p.label, "protocol": ACCESS_GROUP, **asdict(i)} for i in access]
        return csv_response(
            [asdict(r) for r in rows] + extra, MISSION_COLUMNS, f"mission-{p.label}.csv"
        )
    generated: dt.datetime = at or await resources(state).clock.now()
    return MissionReport(
        cpts=request.user.cpts,
        period=p.label,
        as_of=at,
        generated=generated,
        pathways=rows,
        access_to_care=access,
    )
