"""GP access (ACI mission 1-A): the lifecycle of a request for a médecin traitant.

waiting ──TakeGPRequest (a GP; first claim wins)──▶ taken ──GPDeclared fact──▶ closed
   ▲                                                  │        (gp-declared)
   └────────DeclineGPRequest (the GP who took it)─────┘
any open status ──CloseGPRequest──▶ closed (unreachable, moved-away, withdrawn)
any open status ──DeathReported fact──▶ closed (died)

The priority is decided once, when the request is filed, from the priority policy
(``access_policy``), and kept when a GP declines. A followed discharge that names no GP
in its care team, when no GP is declared and no request is open, files one itself.
Timers (``timers.timers_for``): contact within N working days, the target delay, and
the declaration check after a GP took it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from contracts import access as ac
from contracts.facts import DeathReported, DischargeReported, GPDeclared
from contracts.roles import PROFESSIONAL_ROLES, Role
from pathways.domain.access_commands import (
    CloseGPRequest,
    DeclineGPRequest,
    RecordPatientContact,
    RequestGPAccess,
    TakeGPRequest,
)
from pathways.domain.access_policy import AccessPolicy
from pathways.domain.access_state import GPRequestState
from pathways.domain.decision import Decision
from pathways.domain.errors import (
    NotAllowedError,
    RequestStateError,
    UnknownRequestError,
)
from pathways.domain.planning import LOCAL_TZ
from pathways.domain.state import RecordedFact
from pathways.domain.timers import Timer

REFERRERS = frozenset({Role.COORDINATOR, Role.ADMIN, *PROFESSIONAL_ROLES})
CLOSERS = frozenset({Role.COORDINATOR, Role.ADMIN})
AGE_BANDS = ((16, "0-15"), (40, "16-39"), (60, "40-59"), (70, "60-69"), (80, "70-79"))


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return next((band for below, band in AGE_BANDS if age < below), "80+")


def add_working_days(at: datetime, days: int) -> datetime:
    """``at`` plus ``days`` working days (Monday to Friday, Europe/Paris), same local time."""
    local = at.astimezone(LOCAL_TZ)
    day, left = local.date(), days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), LOCAL_TZ).astimezone(
        at.tzinfo
    )


def _policy(d: Decision) -> AccessPolicy:
    if d.ctx.access_policy is None:
        raise NotAllowedError("no GP-access priority policy is loaded in this service")
    return d.ctx.access_policy


def _followed_recent_discharge(d: Decision, policy: AccessPolicy, now: datetime) -> bool:
    """A discharge within the policy's span that anchored a pathway of the CPTS."""
    since = now - timedelta(days=policy.recent_discharge_days)
    anchored = {e.anchor_event_id for e in d.state.enrolments.values()}
    return any(
        since <= f.at <= now and f.event_id in anchored
        for f in d.state.facts_of("DischargeReported")
    )


def _file(
    d: Decision,
    *,
    request_id,  # noqa: ANN001 - a UUID
    named: list[str],
    age: int | None,
    zone: str | None,
    source: str,
    role: str,
    by_fact=None,  # noqa: ANN001 - a UUID
) -> None:
    policy = _policy(d)
    now = d.ctx.now
    a = policy.assess(named, age, _followed_recent_discharge(d, policy, now))
    d.emit(
        ac.GPAccessRequested(
            request_id=request_id,
            requested_at=now,
            source=source,
            requested_by_role=role,
            criteria=a.criteria,
            score=a.score,
            priority=a.group,
            target_days=a.target_days,
            target_at=now + timedelta(days=a.target_days),
            contact_due=add_working_days(now, policy.timers.contact_working_days),
            policy=policy.id,
            policy_version=policy.version,
            age_band=age_band(age),
            zone=zone,
            by_fact=by_fact,
        )
    )


def request_gp_access(cmd: RequestGPAccess, d: Decision) -> None:
    if cmd.actor_role not in REFERRERS:
        raise NotAllowedError("a professional or a coordinator refers a patient to the CPTS")
    if cmd.request_id in d.state.access.gp_requests:
        raise RequestStateError(cmd.request_id, "filed", "this request is already filed")
    if (open_one := d.state.access.open_gp_request()) is not None:
        raise RequestStateError(
            open_one.request_id,
            open_one.status,
            f"the patient already has an open GP-access request ({open_one.request_id})",
        )
    if d.state.access.declared_gp is not None and "gp-left" not in cmd.criteria:
        raise RequestStateError(
            cmd.request_id,
            "declared",
            "the patient has a declared GP; name gp-left if she retired or left",
        )
    policy = _policy(d)
    unknown = [c for c in cmd.criteria if not policy.canonical([c])]
    if unknown:
        raise NotAllowedError(f"criterion {unknown[0]!r} is not in the priority policy")
    _file(
        d,
        request_id=cmd.request_id,
        named=list(cmd.criteria),
        age=cmd.age,
        zone=cmd.zone,
        source="referral",
        role=cmd.actor_role,
    )


def _request(d: Decision, request_id) -> GPRequestState:  # noqa: ANN001
    r = d.state.access.gp_requests.get(request_id)
    if r is None:
        raise UnknownRequestError(request_id)
    return r


def _refuse(r: GPRequestState, wanted: str) -> RequestStateError:
    if r.status == "taken":
        return RequestStateError(r.request_id, r.status, f"{wanted}: another GP took it first")
    return RequestStateError(r.request_id, r.status, f"{wanted}: the request is {r.status}")


def record_patient_contact(cmd: RecordPatientContact, d: Decision) -> None:
    if cmd.actor_role not in CLOSERS:
        raise NotAllowedError("the coordinator records the contact with the patient")
    r = _request(d, cmd.request_id)
    if not r.is_open or r.contacted:
        return  # idempotent
    d.emit(ac.GPAccessPatientContacted(request_id=r.request_id, by=cmd.actor_id, at=d.ctx.now))


def take_gp_request(cmd: TakeGPRequest, d: Decision) -> None:
    if cmd.actor_role != Role.GP:
        raise NotAllowedError("only a GP takes a GP-access request")
    r = _request(d, cmd.request_id)
    if r.status != "waiting":
        raise _refuse(r, "cannot take it")
    days = _policy(d).timers.declaration_check_days
    d.emit(
        ac.GPAccessTaken(
            request_id=r.request_id,
            gp=cmd.actor_id,
            at=d.ctx.now,
            check_at=d.ctx.now + timedelta(days=days),
        )
    )


def decline_gp_request(cmd: DeclineGPRequest, d: Decision) -> None:
    r = _request(d, cmd.request_id)
    if r.status != "taken":
        raise _refuse(r, "cannot decline it")
    if r.taken_by != cmd.actor_id and cmd.actor_role not in CLOSERS:
        raise NotAllowedError("only the GP who took the request (or the coordinator) declines it")
    d.emit(
        ac.GPAccessDeclined(
            request_id=r.request_id, gp=r.taken_by or "", reason=cmd.reason, at=d.ctx.now
        )
    )
    if d.ctx.now >= r.target_at:  # back on the list past its target: the timer fired before
        d.emit(
            ac.GPAccessEscalated(
                request_id=r.request_id, reason="target-passed", at=d.ctx.now, priority=r.priority
            )
        )


def close_gp_request(cmd: CloseGPRequest, d: Decision) -> None:
    if cmd.outcome not in ("unreachable", "moved-away", "withdrawn"):
        raise NotAllowedError("a request closes as unreachable, moved-away or withdrawn here")
    r = _request(d, cmd.request_id)
    if cmd.actor_role not in CLOSERS and not (
        cmd.outcome == "withdrawn" and cmd.actor_role in REFERRERS
    ):
        raise NotAllowedError("the coordinator records this outcome")
    if not r.is_open:
        raise _refuse(r, "cannot close it")
    d.emit(
        ac.GPAccessClosed(
            request_id=r.request_id,
            outcome=cmd.outcome,
            at=d.ctx.now,
            by=cmd.actor_id,
            reason=cmd.reason,
        )
    )


def follow_access(d: Decision, rec: RecordedFact) -> None:
    """What a recorded fact changes for GP access (called by ``recording.record_fact``)."""
    fact, access = rec.fact, d.state.access
    if isinstance(fact, GPDeclared):
        for r in access.gp_requests.values():
            if r.is_open:
                d.emit(
                    ac.GPAccessClosed(
                        request_id=r.request_id,
                        outcome="gp-declared",
                        at=d.ctx.now,
                        gp=fact.rpps,
                        declared_at=fact.declared_at,
                        by_fact=rec.event_id,
                    )
                )
        return
    if isinstance(fact, DeathReported):
        _close_on_death(d, rec)
        return
    if not isinstance(fact, DischargeReported) or d.ctx.access_policy is None:
        return
    followed = any(e.anchor_event_id == rec.event_id for e in d.state.enrolments.values())
    names_gp = any(m.role == Role.GP for m in fact.care_team)
    if not followed or names_gp or access.declared_gp is not None:
        return
    if access.open_gp_request() is not None:
        return
    zone = next(
        (e.zone for e in d.state.enrolments.values() if e.anchor_event_id == rec.event_id), None
    )
    _file(
        d,
        request_id=d.new_id(),
        named=[],
        age=None,
        zone=zone,
        source="discharge",
        role="service",
        by_fact=rec.event_id,
    )


def _close_on_death(d: Decision, rec: RecordedFact) -> None:
    """A death closes the open requests: nothing more is asked of a GP or the coordinator."""
    access = d.state.access
    for r in access.gp_requests.values():
        if r.is_open:
            d.emit(
                ac.GPAccessClosed(
                    request_id=r.request_id, outcome="died", at=d.ctx.now, by_fact=rec.event_id
                )
            )
    for s in access.snp_requests.values():
        if s.status != "closed":
            d.emit(
                ac.UnscheduledCareClosed(request_id=s.request_id, outcome="withdrawn", at=d.ctx.now)
            )


def fire_access_timer(timer: Timer, d: Decision) -> None:
    r = d.state.access.gp_requests.get(timer.request_id) if timer.request_id else None
    if r is None or not r.is_open:
        return
    reason = None
    if timer.kind == "gp-contact" and not r.contacted:
        reason = "contact-overdue"
    elif timer.kind == "gp-target" and r.status == "waiting":
        reason = "target-passed"
    elif timer.kind == "gp-declaration-check" and r.status == "taken":
        if r.check_at == timer.fire_at:  # not the timer of an earlier take, since declined
            reason = "declaration-missing"
    if reason is not None:
        d.emit(
            ac.GPAccessEscalated(
                request_id=r.request_id, reason=reason, at=d.ctx.now, priority=r.priority
            )
        )
