"""Access to care (ACI mission 1) on the read side.

- ``GET /v1/gp-access/waiting-list``: the anonymised list for the GPs of the CPTS,
  ordered by priority (the decider's score) then waiting time: priority, age band,
  zone, criteria, days waiting, never an identity nor a pseudonym.
- ``GET /v1/gp-access/capacity``: per GP, new patients offered over the period and
  taken (capacity goes down as she takes patients).
- The derived indicators (``projections.domain.access_indicators``), listed in
  ``GET /v1/indicators`` under ``access-to-care`` and drilled down to pseudonymised
  cases through ``/v1/indicators/{code}/cases`` (``access_indicator_list``,
  ``access_case_list``, called by ``projections.api.indicators``).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from contracts import shapes
from contracts.roles import Role
from parcours.auth import requires
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
from projections.domain.periods import days_between
from projections.domain.pseudonyms import event_pseudonym

LIST_READERS = (Role.GP, Role.COORDINATOR, Role.ADMIN)
ACCESS_GROUP = "access-to-care"


class WaitingRequest(msgspec.Struct, frozen=True, kw_only=True):
    request_id: uuid.UUID
    priority: str
    criteria: list[str]
    age_band: str
    zone: str | None
    days_waiting: int
    declined: int  # how many GPs gave it back


class WaitingList(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    requests: list[WaitingRequest]


@get(
    "/v1/gp-access/waiting-list",
    guards=[requires(*LIST_READERS)],
    tags=["gp-access"],
    summary="The anonymised list of patients waiting for a GP, most urgent first",
)
async def waiting_list(
    request: Request[Any, Any, Any],
    state: State,
    zone: shapes.ZoneCode | None = None,  # type: ignore[valid-type]
    limit: int = 200,
) -> WaitingList:
    cpts = request.user.cpts
    rows = await resources(state).pool.fetch(
        "SELECT request_id, priority, criteria, age_band, zone, requested_at, declined "
        "FROM proj_gp_requests WHERE cpts = $1 AND status = 'waiting' "
        "AND ($2::text IS NULL OR zone = $2) ORDER BY score DESC, requested_at, request_id "
        "LIMIT $3",
        cpts,
        zone,
        max(1, min(limit, 1000)),
    )
    now = await resources(state).clock.now()
    return WaitingList(
        cpts=cpts,
        requests=[
            WaitingRequest(
                request_id=r["request_id"],
                priority=r["priority"],
                criteria=list(r["criteria"]),
                age_band=r["age_band"],
                zone=r["zone"],
                days_waiting=max(0, days_between(r["requested_at"], now)),
                declined=r["declined"],
            )
            for r in rows
        ],
    )


class GPCapacity(msgspec.Struct, frozen=True, kw_only=True):
    gp: str
    offered: int
    used: int
    remaining: int
    profiles: list[str]


class CapacityReport(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    period: str
    derived: bool
    offered: int
    used: int
    gps: list[GPCapacity]


async def _rows(state: State, cpts: str) -> tuple[list, list, list]:
    pool = resources(state).pool
    gp = await pool.fetch("SELECT * FROM proj_gp_requests WHERE cpts = $1", cpts)
    snp = await pool.fetch("SELECT * FROM proj_snp_requests WHERE cpts = $1", cpts)
    cap = await pool.fetch("SELECT * FROM proj_gp_capacity WHERE cpts = $1", cpts)
    return gp, snp, cap


@get(
    "/v1/gp-access/capacity",
    guards=[requires(Role.GP, *AUDIT_READERS)],
    tags=["gp-access"],
    summary="GP capacity for new patients: offered and used over a period",
)
async def capacity_report(
    request: Request[Any, Any, Any], state: State, period: PeriodQuery = None
) -> CapacityReport:
    from projections.domain.access_indicators import capacity_used

    p = period_param(period)
    gp, _snp, cap = await _rows(state, request.user.cpts)
    per_gp = capacity_used(cap, gp, p.start, p.end)
    profiles: dict[str, set[str]] = {}
    for c in cap:
        if c["gp"] in per_gp:
            profiles.setdefault(c["gp"], set()).update(c["profiles"])
    gps = [
        GPCapacity(
            gp=g,
            offered=o,
            used=u,
            remaining=max(0, o - u),
            profiles=sorted(profiles.get(g, ())),
        )
        for g, (o, u) in sorted(per_gp.items())
    ]
    return CapacityReport(
        cpts=request.user.cpts,
        period=p.label,
        derived=True,
        offered=sum(g.offered for g in gps),
        used=sum(g.used for g in gps),
        gps=gps,
    )


async def access_indicator_list(state: State, cpts: str, period_text: str | None) -> list:
    p = period_param(period_text)
    gp, snp, cap = await _rows(state, cpts)
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
    gp, snp, _cap = await _rows(state, cpts)
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
            numerator=int(c.status == "met"),
            denominator=int(c.status in in_den),
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
    gp, snp, cap = await _rows(state, cpts)
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


class AccessEscalation(msgspec.Struct, frozen=True, kw_only=True):
    request_id: uuid.UUID
    kind: str  # gp-access or unscheduled
    reasons: list[str]  # contact-overdue, target-passed, declaration-missing; SNP: deadline
    priority: str | None
    zone: str | None
    requested_at: str
    status: str


class AccessEscalations(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    escalations: list[AccessEscalation]


@get(
    "/v1/gp-access/escalations",
    guards=[requires(Role.COORDINATOR, Role.ADMIN)],
    tags=["gp-access"],
    summary="The coordinator's list: open access requests that escalated",
)
async def access_escalations(request: Request[Any, Any, Any], state: State) -> AccessEscalations:
    cpts, pool = request.user.cpts, resources(state).pool
    gp = await pool.fetch(
        "SELECT request_id, escalations, priority, zone, requested_at, status "
        "FROM proj_gp_requests WHERE cpts = $1 AND status <> 'closed' "
        "AND cardinality(escalations) > 0 ORDER BY score DESC, requested_at",
        cpts,
    )
    snp = await pool.fetch(
        "SELECT request_id, zone, requested_at FROM proj_snp_requests "
        "WHERE cpts = $1 AND escalated AND accepted_at IS NULL AND outcome IS NULL "
        "ORDER BY deadline",
        cpts,
    )
    return AccessEscalations(
        cpts=cpts,
        escalations=[
            *(
                AccessEscalation(
                    request_id=r["request_id"],
                    kind="unscheduled",
                    reasons=["not accepted before the deadline"],
                    priority=None,
                    zone=r["zone"],
                    requested_at=r["requested_at"].isoformat(),
                    status="offered",
                )
                for r in snp
            ),
            *(
                AccessEscalation(
                    request_id=r["request_id"],
                    kind="gp-access",
                    reasons=sorted(set(r["escalations"])),
                    priority=r["priority"],
                    zone=r["zone"],
                    requested_at=r["requested_at"].isoformat(),
                    status=r["status"],
                )
                for r in gp
            ),
        ],
    )
