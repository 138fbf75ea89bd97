"""Single-window indicator kinds: ``activity_within``, ``activity_done``, ``fact_within``.

A death or readmission (an ``exclude_on`` fact) after the anchor and on or before the day
the window closes takes the case out, unless it was already met then and
``exclude_keeps_met`` (PROTOCOLS.md § 0).
"""

from __future__ import annotations

from contracts.indicators import ActivityDone, ActivityWithin, FactWithin
from projections.domain.evidence import (
    Enr,
    Fact,
    Outcome,
    Task,
    days_from,
    evidence_ids,
    excluded,
    exclusion,
)
from projections.domain.periods import local_day


def activity_within(d: ActivityWithin, enr: Enr, tasks: list[Task], facts: list[Fact]) -> Outcome:
    d0 = local_day(enr.anchor_at)
    ref_at, ref_event = enr.anchor_at, None
    if d.relative_to != "anchor":
        ref = next((f for f in facts if f.type == d.relative_to and f.at >= enr.anchor_at), None)
        if ref is None:
            return Outcome("ineligible", 0, 0, (enr.event_id,), reason=f"no {d.relative_to}")
        ref_at, ref_event = ref.at, ref.event_id
    r0 = days_from(d0, ref_at)
    lo, hi = r0 + d.from_days, r0 + d.to_days
    firsts = [t for t in tasks if t.activity == d.activity and t.occurrence == 1]
    done = sorted(
        (t for t in firsts if t.status == "completed" and t.completed_at),
        key=lambda t: t.completed_at,
    )
    completion = done[0] if done else None
    met = completion is not None and lo < days_from(d0, completion.completed_at) <= hi
    excluding = exclusion(d, enr, facts, hi, d0)
    if excluding is not None and not (
        met and d.exclude_keeps_met and completion.completed_at <= excluding.at
    ):
        return excluded(d, enr, excluding, d0, hi)
    if met:
        ev_ids = evidence_ids([enr.event_id, ref_event, completion.last_event, completion.by_fact])
        return Outcome(
            "met",
            1,
            1,
            ev_ids,
            reason="on time",
            reason_day=days_from(d0, completion.completed_at),
            window_end=hi,
        )
    if completion is not None:
        day = days_from(d0, completion.completed_at)
        ev_ids = evidence_ids([enr.event_id, ref_event, completion.last_event, completion.by_fact])
        return Outcome(
            "not_met",
            0,
            1,
            ev_ids,
            reason="early" if day <= lo else "late",
            reason_day=day,
            window_end=hi,
        )
    ev_ids = evidence_ids(
        [enr.event_id, ref_event], (t.last_event or t.scheduled_event for t in firsts)
    )
    return Outcome("not_met", 0, 1, ev_ids, reason="not done", window_end=hi)


def activity_done(d: ActivityDone, enr: Enr, tasks: list[Task], facts: list[Fact]) -> Outcome:
    """Met when the first occurrence is completed (on time by its own window if asked)."""
    d0 = local_day(enr.anchor_at)
    firsts = [t for t in tasks if t.activity == d.activity and t.occurrence == 1]
    if not firsts:
        return Outcome("ineligible", 0, 0, (enr.event_id,), reason="not planned")
    dues = [t.due for t in firsts if t.due is not None]
    hi = days_from(d0, max(dues)) if dues else None
    done = sorted(
        (t for t in firsts if t.status == "completed" and t.completed_at),
        key=lambda t: t.completed_at,
    )
    completion = done[0] if done else None
    met = completion is not None and (bool(completion.on_time) or not d.on_time_only)
    excluding = exclusion(d, enr, facts, hi, d0)
    if excluding is not None and not (
        met and d.exclude_keeps_met and completion.completed_at <= excluding.at
    ):
        return excluded(d, enr, excluding, d0, hi)
    if completion is not None:
        ev_ids = evidence_ids([enr.event_id, completion.last_event, completion.by_fact])
        day = days_from(d0, completion.completed_at)
        return Outcome(
            "met" if met else "not_met",
            int(met),
            1,
            ev_ids,
            reason="on time" if met else "late",
            reason_day=day,
            window_end=hi,
        )
    ev_ids = evidence_ids([enr.event_id], (t.last_event or t.scheduled_event for t in firsts))
    return Outcome("not_met", 0, 1, ev_ids, reason="not done", window_end=hi)


def fact_within(d: FactWithin, enr: Enr, facts: list[Fact]) -> Outcome:
    d0 = local_day(enr.anchor_at)
    lo, hi = d.from_days, d.to_days
    hit = next(
        (
            f
            for f in facts
            if f.type == d.fact and f.at > enr.anchor_at and lo < days_from(d0, f.at) <= hi
        ),
        None,
    )
    excluding = exclusion(d, enr, facts, hi, d0, skip=d.fact)
    if excluding is not None and not (hit and d.exclude_keeps_met and hit.at <= excluding.at):
        return excluded(d, enr, excluding, d0, hi)
    if hit is not None:
        return Outcome(
            "met",
            1,
            1,
            (enr.event_id, hit.event_id),
            reason=d.fact,
            reason_day=days_from(d0, hit.at),
            window_end=hi,
        )
    return Outcome("not_met", 0, 1, (enr.event_id,), reason=f"no {d.fact}", window_end=hi)
