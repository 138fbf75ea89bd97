"""Rows of the access view (ACI mission 1), evolved from the events (pure).

``evolve_gp(row, envelope)`` and ``evolve_snp(row, envelope)`` copy what the pathways
decider decided (priority, criteria, who took a request, the outcome); nothing is
recomputed here. A row keeps the ids of the events that made it (``evidence``).
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from msgspec.structs import replace

from contracts import access as ac
from contracts.events import Envelope


class GPRequestRow(msgspec.Struct, frozen=True, kw_only=True):
    request_id: uuid.UUID
    cpts: str
    patient_id: uuid.UUID
    pseudonym: str
    status: str
    priority: str
    score: int
    criteria: list[str]
    target_days: int
    age_band: str
    zone: str | None
    source: str
    requested_at: dt.datetime
    taken_by: str | None = None
    taken_at: dt.datetime | None = None
    declared_gp: str | None = None
    declared_at: dt.datetime | None = None
    outcome: str | None = None
    closed_at: dt.datetime | None = None
    declined: int = 0
    escalations: list[str] = []
    evidence: list[uuid.UUID] = []


class SNPRow(msgspec.Struct, frozen=True, kw_only=True):
    request_id: uuid.UUID
    cpts: str
    patient_id: uuid.UUID
    pseudonym: str
    within_hours: int
    requested_at: dt.datetime
    deadline: dt.datetime
    requested_by_role: str
    zone: str | None
    offered: int
    accepted_by: str | None = None
    accepted_at: dt.datetime | None = None
    escalated: bool = False
    outcome: str | None = None
    closed_at: dt.datetime | None = None
    evidence: list[uuid.UUID] = []


GP_TYPES = frozenset(
    {
        "GPAccessRequested",
        "GPAccessTaken",
        "GPAccessDeclined",
        "GPAccessEscalated",
        "GPAccessClosed",
    }
)
SNP_TYPES = frozenset(
    {
        "UnscheduledCareRequested",
        "UnscheduledCareAccepted",
        "UnscheduledCareEscalated",
        "UnscheduledCareClosed",
    }
)


def request_key(env: Envelope) -> uuid.UUID | None:
    if env.type in GP_TYPES or env.type in SNP_TYPES:
        return env.data.request_id  # type: ignore[attr-defined]
    return None


def evolve_gp(
    row: GPRequestRow | None, env: Envelope, patient_id: uuid.UUID, alias: str
) -> GPRequestRow | None:
    e = env.data
    if isinstance(e, ac.GPAccessRequested):
        if row is not None:
            return row
        return GPRequestRow(
            request_id=e.request_id,
            cpts=env.cpts,
            patient_id=patient_id,
            pseudonym=alias,
            status="waiting",
            priority=e.priority,
            score=e.score,
            criteria=list(e.criteria),
            target_days=e.target_days,
            age_band=e.age_band,
            zone=e.zone,
            source=e.source,
            requested_at=e.requested_at,
            evidence=[env.event_id],
        )
    if row is None:
        return None
    if env.event_id in row.evidence:
        return row  # applied already
    row = replace(row, evidence=[*row.evidence, env.event_id])
    match e:
        case ac.GPAccessTaken():
            return replace(row, status="taken", taken_by=e.gp, taken_at=e.at)
        case ac.GPAccessDeclined():
            return replace(
                row, status="waiting", taken_by=None, taken_at=None, declined=row.declined + 1
            )
        case ac.GPAccessEscalated():
            return replace(row, escalations=[*row.escalations, e.reason])
        case ac.GPAccessClosed():
            return replace(
                row,
                status="closed",
                outcome=e.outcome,
                closed_at=e.at,
                declared_gp=e.gp,
                declared_at=e.declared_at,
            )
    return row


def evolve_snp(
    row: SNPRow | None, env: Envelope, patient_id: uuid.UUID, alias: str
) -> SNPRow | None:
    e = env.data
    if isinstance(e, ac.UnscheduledCareRequested):
        if row is not None:
            return row
        return SNPRow(
            request_id=e.request_id,
            cpts=env.cpts,
            patient_id=patient_id,
            pseudonym=alias,
            within_hours=e.within_hours,
            requested_at=e.requested_at,
            deadline=e.deadline,
            requested_by_role=e.requested_by_role,
            zone=e.zone,
            offered=len(e.offered_to),
            evidence=[env.event_id],
        )
    if row is None:
        return None
    if env.event_id in row.evidence:
        return row
    row = replace(row, evidence=[*row.evidence, env.event_id])
    match e:
        case ac.UnscheduledCareAccepted():
            return replace(row, accepted_by=e.by, accepted_at=e.at)
        case ac.UnscheduledCareEscalated():
            return replace(row, escalated=True)
        case ac.UnscheduledCareClosed():
            return replace(row, outcome=e.outcome, closed_at=e.at)
    return row
