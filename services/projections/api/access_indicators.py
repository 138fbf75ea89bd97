"""The derived indicators of ACI mission 1 at the auditor's API
(``projections.domain.access_indicators`` computes them from the access view's rows).

- listed in ``GET /v1/indicators`` as the group ``access-to-care`` (``access_group``),
  with their detail and trend (``access_detail``) and their pseudonymised cases
  (``access_case_list``), called by ``projections.api.indicators`` for these codes;
- ``GET /v1/gp-access/indicators``: the same with breakdowns by priority and zone.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from parcours.auth import requires
from projections.api.access import rows_of
from projections.api.common import AUDIT_READERS, PeriodQuery, period_param, resources
from projections.api.indicators import (
    Exclusion,
    IndicatorCase,
    IndicatorCases,
    IndicatorDetail,
    IndicatorValue,
    ProtocolIndicatorValues,
    TrendPoint,
)
from projections.domain.access_indicators import (
    CODES,
    TITLES,
    AccessIndicator,
    access_cases,
    indicators,
)
from projections.domain.pseudonyms import event_pseudonym

ACCESS_GROUP = "access-to-care"


async def access_indicator_list(state: State, cpts: str, period_text: str | None) -> list:
    p = period_param(period_text)
    gp, snp, cap = await rows_of(state, cpts)
    now = await resources(state).clock.now()
    return indicators(gp, snp, cap, p.start, p.end, now)


def is_access_code(code: str) -> bool:
    return code in CODES


def indicator_values(found: list[AccessIndicator]) -> list[IndicatorValue]:
    return [
        IndicatorValue(
            code=i.code,
            title=i.title,
            kind=i.kind,
            derived=True,
            value=i.value,
            numerator=i.numerator,
            denominator=i.denominator,
            cases=i.cases,
            met=i.met,
            excluded=i.excluded,
            ineligible=0,
            open=i.open,
        )
        for i in found
    ]


async def access_group(state: State, cpts: str, period_text: str | None) -> ProtocolIndicatorValues:
    """The mission's derived indicators as one group of ``GET /v1/indicators``."""
    found = await access_indicator_list(state, cpts, period_text)
    return ProtocolIndicatorValues(
        id=ACCESS_GROUP,
        version="1",
        title="Accès aux soins : médecin traitant et soins non programmés (dérivés)",
        indicators=indicator_values(found),
    )


async def access_case_list(
    state: State, cpts: str, code: str, period_text: str | None, status: str | None
) -> IndicatorCases:
    """The pseudonymised cases behind a derived indicator of the mission."""
    p = period_param(period_text)
    gp, snp, _cap = await rows_of(state, cpts)
    now = await resources(state).clock.now()
    secret = resources(state).settings.auth.pseudonym_secret
    in_den = ("met", "missed", "waiting")
    cases = [
        IndicatorCase(
            case=c.case,
            anchor_month=c.requested_at.strftime("%Y-%m") if c.requested_at else "",
            status=c.status,
            reason=c.reason,
            reason_day=c.days,
            # a counted case (ACCESS-REQUESTS: a count) is one in both, as its totals say
            numerator=int(c.status in ("met", "counted")),
            denominator=int(c.status in (*in_den, "counted")),
            window_end_day=c.window_days,
            decided_by=[event_pseudonym(secret, cpts, e) for e in c.evidence],
        )
        for c in access_cases(code, gp, snp, p.start, p.end, now)
        if status in (None, c.status)
    ]
    return IndicatorCases(cpts=cpts, code=code, period=p.label, as_of=None, cases=cases)


async def access_detail(
    state: State, cpts: str, code: str, period_text: str | None, trend_periods: int
) -> IndicatorDetail:
    """One derived indicator of the mission with its exclusions and trend."""
    p = period_param(period_text)
    gp, snp, cap = await rows_of(state, cpts)
    now = await resources(state).clock.now()
    one = next(i for i in indicators(gp, snp, cap, p.start, p.end, now) if i.code == code)
    excluded: dict[str | None, int] = {}
    for c in access_cases(code, gp, snp, p.start, p.end, now):
        if c.status == "excluded":
            excluded[c.reason] = excluded.get(c.reason, 0) + 1
    trend = []
    for q in p.previous(max(1, min(trend_periods, 36))):
        t = next(i for i in indicators(gp, snp, cap, q.start, q.end, now) if i.code == code)
        trend.append(
            TrendPoint(
                period=q.label,
                numerator=t.numerator,
                denominator=t.denominator,
                cases=t.cases,
                value=t.value,
            )
        )
    return IndicatorDetail(
        cpts=cpts,
        code=code,
        title=TITLES[code],
        kind=one.kind,
        derived=True,
        description="Derived from the CPTS's records (PROTOCOLS.md § 6), not an official definition.",
        protocol=ACCESS_GROUP,
        period=p.label,
        as_of=None,
        value=one.value,
        numerator=one.numerator,
        denominator=one.denominator,
        cases=one.cases,
        met=one.met,
        open=one.open,
        exclusions=[
            Exclusion(status="excluded", reason=r, cases=n) for r, n in sorted(excluded.items())
        ],
        trend=trend,
    )


class AccessIndicators(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    period: str
    derived: bool
    indicators: list[AccessIndicator]  # with breakdowns by priority group and zone


@get(
    "/v1/gp-access/indicators",
    guards=[requires(*AUDIT_READERS)],
    tags=["gp-access"],
    summary="ACI mission 1 derived indicators, by priority group and zone",
)
async def access_indicators(
    request: Request[Any, Any, Any], state: State, period: PeriodQuery = None
) -> AccessIndicators:
    found = await access_indicator_list(state, request.user.cpts, period)
    return AccessIndicators(
        cpts=request.user.cpts,
        period=period_param(period).label,
        derived=True,
        indicators=found,
    )
