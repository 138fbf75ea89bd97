"""The access-to-care part of a patient's state: GP-access and unscheduled-care requests.

``evolve_access(state, event)`` applies the events of ``contracts.access`` (facts only,
no validation), called by ``state.evolve``; a ``GPDeclared`` fact sets ``declared_gp``
there.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

import msgspec
from msgspec.structs import replace

from contracts import access as ac

GPRequestStatus = Literal["waiting", "taken", "closed"]
SNPStatus = Literal["offered", "accepted", "closed"]


class GPRequestState(msgspec.Struct, frozen=True, kw_only=True):
    request_id: UUID
    requested_at: dt.datetime
    priority: str
    score: int
    target_at: dt.datetime
    contact_due: dt.datetime
    status: GPRequestStatus = "waiting"
    contacted: bool = False
    taken_by: str | None = None
    check_at: dt.datetime | None = None
    outcome: str | None = None
    escalations: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status != "closed"


class SNPRequestState(msgspec.Struct, frozen=True, kw_only=True):
    request_id: UUID
    requested_at: dt.datetime
    within_hours: int
    deadline: dt.datetime
    escalate_at: dt.datetime
    offered_to: tuple[str, ...]
    status: SNPStatus = "offered"
    accepted_by: str | None = None
    escalated: bool = False
    outcome: str | None = None


class AccessState(msgspec.Struct, frozen=True, kw_only=True):
    gp_requests: dict[UUID, GPRequestState] = {}
    snp_requests: dict[UUID, SNPRequestState] = {}
    declared_gp: str | None = None
    declared_at: dt.datetime | None = None

    def open_gp_request(self) -> GPRequestState | None:
        return next((r for r in self.gp_requests.values() if r.is_open), None)


def _gp(access: AccessState, request_id: UUID, **changes: object) -> AccessState:
    r = access.gp_requests.get(request_id)
    if r is None:
        return access
    return replace(access, gp_requests={**access.gp_requests, request_id: replace(r, **changes)})


def _snp(access: AccessState, request_id: UUID, **changes: object) -> AccessState:
    r = access.snp_requests.get(request_id)
    if r is None:
        return access
    requests = {**access.snp_requests, request_id: replace(r, **changes)}
    return replace(access, snp_requests=requests)


def evolve_access(access: AccessState, event: object) -> AccessState:
    match event:
        case ac.GPAccessRequested():
            r = GPRequestState(
                request_id=event.request_id,
                requested_at=event.requested_at,
                priority=event.priority,
                score=event.score,
                target_at=event.target_at,
                contact_due=event.contact_due,
            )
            return replace(access, gp_requests={**access.gp_requests, r.request_id: r})
        case ac.GPAccessPatientContacted():
            return _gp(access, event.request_id, contacted=True)
        case ac.GPAccessTaken():
            return _gp(
                access, event.request_id, status="taken", taken_by=event.gp, check_at=event.check_at
            )
        case ac.GPAccessDeclined():
            return _gp(access, event.request_id, status="waiting", taken_by=None, check_at=None)
        case ac.GPAccessEscalated():
            r = access.gp_requests.get(event.request_id)
            seen = r.escalations if r else ()
            return _gp(access, event.request_id, escalations=(*seen, event.reason))
        case ac.GPAccessClosed():
            return _gp(access, event.request_id, status="closed", outcome=event.outcome)
        case ac.UnscheduledCareRequested():
            s = SNPRequestState(
                request_id=event.request_id,
                requested_at=event.requested_at,
                within_hours=event.within_hours,
                deadline=event.deadline,
                escalate_at=event.escalate_at,
                offered_to=tuple(event.offered_to),
            )
            return replace(access, snp_requests={**access.snp_requests, s.request_id: s})
        case ac.UnscheduledCareAccepted():
            return _snp(access, event.request_id, status="accepted", accepted_by=event.by)
        case ac.UnscheduledCareEscalated():
            return _snp(access, event.request_id, escalated=True)
        case ac.UnscheduledCareClosed():
            return _snp(access, event.request_id, status="closed", outcome=event.outcome)
    return access
