"""Unscheduled care (soins non programmés, ACI mission 1-B).

A pharmacist, a nurse, the SAS (the 15's regulation, a ``service`` actor) or a
coordinator asks for a consultation within 24 h or 48 h; the request is offered to
the professionals of the zone who declared SNP slots that day (the edge reads them and
names them in the command: the decision records them). The first to accept takes it
(a second acceptance is refused: the HTTP layer answers 409); one not accepted by the
policy's ``escalate_before_hours`` before its deadline goes to the coordinator; the
outcome is a fact (seen, redirected, no-show, or withdrawn).
"""

from __future__ import annotations

from datetime import timedelta

from contracts import access as ac
from contracts.access import UNSCHEDULED_OUTCOMES
from contracts.roles import Role
from pathways.domain.access_commands import (
    AcceptUnscheduledCare,
    CloseUnscheduledCare,
    RequestUnscheduledCare,
)
from pathways.domain.access_state import SNPRequestState
from pathways.domain.decision import Decision
from pathways.domain.errors import NotAllowedError, RequestStateError, UnknownRequestError
from pathways.domain.gp_access import _policy
from pathways.domain.timers import Timer

REQUESTERS = frozenset({Role.PHARMACIST, Role.NURSE, Role.SERVICE, Role.COORDINATOR, Role.ADMIN})
COORDINATION = frozenset({Role.COORDINATOR, Role.ADMIN})


def request_unscheduled_care(cmd: RequestUnscheduledCare, d: Decision) -> None:
    if cmd.actor_role not in REQUESTERS:
        raise NotAllowedError("a pharmacist, a nurse, the SAS or a coordinator asks for SNP")
    window = _policy(d).window(cmd.within_hours)
    if window is None:
        raise NotAllowedError("unscheduled care is asked within 24 or 48 hours")
    if cmd.request_id in d.state.access.snp_requests:
        raise RequestStateError(cmd.request_id, "filed", "this request is already filed")
    now = d.ctx.now
    deadline = now + timedelta(hours=window.within_hours)
    d.emit(
        ac.UnscheduledCareRequested(
            request_id=cmd.request_id,
            requested_at=now,
            within_hours=window.within_hours,
            deadline=deadline,
            escalate_at=deadline - timedelta(hours=window.escalate_before_hours),
            requested_by_role=cmd.actor_role,
            offered_to=sorted(set(cmd.offered_to)),
            zone=cmd.zone,
            reason=cmd.reason,
        )
    )


def _snp(d: Decision, request_id) -> SNPRequestState:  # noqa: ANN001 - a UUID
    r = d.state.access.snp_requests.get(request_id)
    if r is None:
        raise UnknownRequestError(request_id)
    return r


def accept_unscheduled_care(cmd: AcceptUnscheduledCare, d: Decision) -> None:
    r = _snp(d, cmd.request_id)
    if cmd.actor_id not in r.offered_to and cmd.actor_role not in COORDINATION:
        raise NotAllowedError("the request was not offered to you")
    if r.status != "offered":
        who = "another professional accepted it first" if r.status == "accepted" else r.status
        raise RequestStateError(r.request_id, r.status, f"cannot accept it: {who}")
    d.emit(
        ac.UnscheduledCareAccepted(
            request_id=r.request_id, by=cmd.actor_id, at=d.ctx.now, role=cmd.actor_role
        )
    )


def close_unscheduled_care(cmd: CloseUnscheduledCare, d: Decision) -> None:
    if cmd.outcome not in UNSCHEDULED_OUTCOMES:
        raise NotAllowedError(f"an outcome is one of {', '.join(UNSCHEDULED_OUTCOMES)}")
    r = _snp(d, cmd.request_id)
    if r.status == "closed":
        raise RequestStateError(r.request_id, r.status, "the request is already closed")
    if r.accepted_by != cmd.actor_id and cmd.actor_role not in COORDINATION:
        raise NotAllowedError("the professional who accepted it (or the coordinator) says")
    d.emit(
        ac.UnscheduledCareClosed(
            request_id=r.request_id, outcome=cmd.outcome, at=d.ctx.now, by=cmd.actor_id
        )
    )


def fire_snp_timer(timer: Timer, d: Decision) -> None:
    r = d.state.access.snp_requests.get(timer.request_id) if timer.request_id else None
    if r is not None and r.status == "offered" and not r.escalated:
        d.emit(ac.UnscheduledCareEscalated(request_id=r.request_id, at=d.ctx.now))
