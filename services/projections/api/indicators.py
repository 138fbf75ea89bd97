"""The auditor's API: indicators per protocol and period, with exclusions, trend and cases.

Auditors see pseudonyms (``projections.domain.pseudonyms``) and days from the
anchor with the anchor's month, never patient ids or exact dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from parcours.auth import requires
from parcours.problems import Problem
from projections import queries
from projections.api.common import (
    AUDIT_READERS,
    PeriodQuery,
    as_of_param,
    catalog,
    period_param,
    ratio,
    reference_day,
    resources,
    title,
)
from projections.domain.pseudonyms import event_pseudonym

Lang = Literal["fr", "en"]


class IndicatorValue(msgspec.Struct, frozen=True, kw_only=True):
    """One indicator for a period: ``value`` is the share (or the count), null without cases."""

    code: str
    title: str
    kind: str
    derived: bool
    value: float | None
    numerator: int
    denominator: int
    cases: int
    met: int
    excluded: int
    ineligible: int
    open: int


class ProtocolIndicatorValues(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    version: str
    title: str
    indicators: list[IndicatorValue]


class IndicatorList(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    period: str
    as_of: dt.datetime | None
    protocols: list[ProtocolIndicatorValues]


class Exclusion(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    reason: str | None
    cases: int


class TrendPoint(msgspec.Struct, frozen=True, kw_only=True):
    period: str
    numerator: int
    denominator: int
    cases: int
    value: float | None


class IndicatorDetail(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    code: str
    title: str
    kind: str
    derived: bool
    description: str | None
    protocol: str
    period: str
    as_of: dt.datetime | None
    value: float | None
    numerator: int
    denominator: int
    cases: int
    met: int
    open: int
    exclusions: list[Exclusion]
    trend: list[TrendPoint]


class IndicatorCase(msgspec.Struct, frozen=True, kw_only=True):
    """A pseudonymised case: days count from its anchor; ``decided_by`` lists event ids."""

    case: str
    anchor_month: str
    status: str
    reason: str | None
    reason_day: int | None
    numerator: int
    denominator: int
    window_end_day: int | None
    decided_by: list[str]


class IndicatorCases(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    code: str
    period: str
    as_of: dt.datetime | None
    cases: list[IndicatorCase]


async def indicator_list(
    state: State,
    cpts: str,
    protocol: str | None,
    period_text: str | None,
    as_of_text: str | None,
    lang: str,
) -> IndicatorList:
    period, as_of = period_param(period_text), as_of_param(as_of_text)
    cat = catalog(state)
    protocols = [p for p in cat.newest.values() if protocol in (None, p.id)]
    from projections.api.access_indicators import ACCESS_GROUP, access_group

    if protocol and not protocols and protocol != ACCESS_GROUP:
        raise Problem(
            404,
            "Unknown protocol",
            f"no protocol {protocol!r}; known: {', '.join(sorted(cat.newest))}",
            field="protocol",
        )
    codes = [d.code for p in protocols for d in p.indicators]
    today = await reference_day(state, as_of)
    sums = await queries.summaries(resources(state).pool, cpts, codes, period, as_of, today)
    out = []
    for p in protocols:
        items = []
        for d in p.indicators:
            s = sums[d.code]
            items.append(
                IndicatorValue(
                    code=d.code,
                    title=title(d, lang),
                    kind=type(d).__struct_config__.tag,
                    derived=d.derived,
                    value=ratio(s.numerator, s.denominator, type(d).__struct_config__.tag),
                    numerator=s.numerator,
                    denominator=s.denominator,
                    cases=s.cases,
                    met=s.met,
                    excluded=s.excluded,
                    ineligible=s.ineligible,
                    open=s.open,
                )
            )
        out.append(
            ProtocolIndicatorValues(
                id=p.id, version=p.version, title=title(p, lang), indicators=items
            )
        )
    if protocol in (None, ACCESS_GROUP):  # ACI mission 1, derived (projections.api.access)
        out.append(await access_group(state, cpts, period_text))
    return IndicatorList(cpts=cpts, period=period.label, as_of=as_of, protocols=out)


@get(
    "/v1/indicators",
    guards=[requires(*AUDIT_READERS)],
    tags=["indicators"],
    summary="Every indicator of a protocol (or all) for a period",
)
async def list_indicators(
    request: Request[Any, Any, Any],
    state: State,
    period: PeriodQuery = None,
    protocol: str | None = None,
    as_of: str | None = None,
    lang: Lang = "fr",
) -> IndicatorList:
    return await indicator_list(state, request.user.cpts, protocol, period, as_of, lang)


def _definition(state: State, code: str):  # type: ignore[no-untyped-def]
    found = catalog(state).find(code)
    if found is None:
        raise Problem(404, "Unknown indicator", f"no indicator {code!r} in the protocol files")
    return found


async def indicator_detail(
    state: State,
    cpts: str,
    code: str,
    period_text: str | None,
    as_of_text: str | None,
    lang: str,
    trend_periods: int = 6,
) -> IndicatorDetail:
    from projections.api.access_indicators import access_detail, is_access_code

    if is_access_code(code):  # ACI mission 1, derived (projections.api.access)
        return await access_detail(state, cpts, code, period_text, trend_periods)
    protocol, d = _definition(state, code)
    period, as_of = period_param(period_text), as_of_param(as_of_text)
    kind = type(d).__struct_config__.tag
    pool = resources(state).pool
    today = await reference_day(state, as_of)
    s = (await queries.summaries(pool, cpts, [code], period, as_of, today))[code]
    trend = await queries.trend(
        pool, cpts, code, period.previous(max(1, min(trend_periods, 36))), as_of
    )
    exclusions = await queries.exclusions(pool, cpts, code, period, as_of)
    return IndicatorDetail(
        cpts=cpts,
        code=code,
        title=title(d, lang),
        kind=kind,
        derived=d.derived,
        description=d.description,
        protocol=protocol.id,
        period=period.label,
        as_of=as_of,
        value=ratio(s.numerator, s.denominator, kind),
        numerator=s.numerator,
        denominator=s.denominator,
        cases=s.cases,
        met=s.met,
        open=s.open,
        exclusions=[Exclusion(**e) for e in exclusions],
        trend=[TrendPoint(**t, value=ratio(t["numerator"], t["denominator"], kind)) for t in trend],
    )


@get(
    "/v1/indicators/{code:str}",
    guards=[requires(*AUDIT_READERS)],
    tags=["indicators"],
    summary="One indicator: value, numerator, denominator, exclusions, trend",
)
async def get_indicator(
    request: Request[Any, Any, Any],
    state: State,
    code: str,
    period: PeriodQuery = None,
    as_of: str | None = None,
    lang: Lang = "fr",
    trend: int = 6,
) -> IndicatorDetail:
    return await indicator_detail(state, request.user.cpts, code, period, as_of, lang, trend)


def case_view(r: Any, secret: str, cpts: str) -> IndicatorCase:
    return IndicatorCase(
        case=r["pseudonym"],
        anchor_month=r["anchor_day"].strftime("%Y-%m"),
        status=r["status"],
        reason=r["reason"],
        reason_day=r["reason_day"],
        numerator=r["num"],
        denominator=r["den"],
        window_end_day=r["window_end"],
        decided_by=[event_pseudonym(secret, cpts, e) for e in r["evidence"]],
    )


async def case_list(
    state: State,
    cpts: str,
    code: str,
    period_text: str | None,
    as_of_text: str | None,
    status: str | None = None,
) -> IndicatorCases:
    from projections.api.access_indicators import access_case_list, is_access_code

    if is_access_code(code):  # ACI mission 1, derived (projections.api.access)
        return await access_case_list(state, cpts, code, period_text, status)
    _definition(state, code)
    period, as_of = period_param(period_text), as_of_param(as_of_text)
    rows = await queries.cases(resources(state).pool, cpts, code, period, as_of, status)
    secret = resources(state).settings.auth.pseudonym_secret
    return IndicatorCases(
        cpts=cpts,
        code=code,
        period=period.label,
        as_of=as_of,
        cases=[case_view(r, secret, cpts) for r in rows],
    )


@get(
    "/v1/indicators/{code:str}/cases",
    guards=[requires(*AUDIT_READERS)],
    tags=["indicators"],
    summary="Every case behind an indicator, with its status and the events that decided it",
)
async def get_indicator_cases(
    request: Request[Any, Any, Any],
    state: State,
    code: str,
    period: PeriodQuery = None,
    as_of: str | None = None,
    status: str | None = None,
) -> IndicatorCases:
    return await case_list(state, request.user.cpts, code, period, as_of, status)
