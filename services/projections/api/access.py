"""Access to care (ACI mission 1) on the read side.

- ``GET /v1/gp-access/waiting-list``: the anonymised list for the GPs of the CPTS,
  ordered by priority (the decider's score) then waiting time: priority, age band,
  zone, criteria, days waiting, never an identity nor a pseudonym.
- ``GET /v1/gp-access/capacity``: per GP, new patients offered over the period and
  taken (capacity goes down as she takes patients).
- ``GET /v1/gp-access/escalations``: the coordinator's open requests that escalated.
The derived indicators are in ``projections.api.access_indicators``.
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
from projections.domain.periods import days_between

LIST_READERS = (Role.GP, Role.COORDINATOR, Role.ADMIN)


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


async def rows_of(state: State, cpts: str) -> tuple[list, list, list]:
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
    gp, _snp, cap = await rows_of(state, request.user.cpts)
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
