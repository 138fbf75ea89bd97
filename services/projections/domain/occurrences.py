"""Occurrence indicator kinds: ``occurrence_share`` and ``patients_with_share``.

Missed stays missed (PROTOCOLS.md § 0): every occurrence planned counts, performed or
not, whether the pathway is open or closed since. An occurrence leaves the count only
when a migration re-planned it away or the fact ending its recurrence came before it
(``_OUT_OF_PLAN``), or, not performed, when a death or readmission (``exclude_on``) came
on or before the day its window closed; the case's reason says how many left and why.
For ``patients_with_share`` the patient is the unit and the window is the whole plan.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import msgspec

from contracts import pathway as ev
from contracts.indicators import OccurrenceShare, PatientsWithShare
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

# Cancellations that take an occurrence out of the plan (PROTOCOLS.md § 0): the
# migration's re-planning, and the fact that ends a recurrence (a delivery ends the
# reviews planned "until delivery": those after it were never due). Any other
# cancellation (end of the pathway, pause, death, a person's request) leaves the
# occurrence planned: missed unless done, or out when an ``exclude_on`` fact (death,
# readmission) came before its window closed.
_OUT_OF_PLAN = frozenset({ev.CANCELLED_BY_MIGRATION, ev.CANCELLED_BY_STOP})


class _Occurrence(msgspec.Struct, frozen=True):
    due: dt.datetime | None
    done: Task | None  # the task that performed it
    out: str | None  # why it left the plan (a cancellation cause)


def _series(activity: str, on_time_only: bool, tasks: list[Task]) -> list[_Occurrence]:
    """One entry per planned occurrence of ``activity``: the tasks of one occurrence of one
    plan (a re-issue or a resumption replaces a task; a migration starts a new plan)."""
    groups: dict[tuple[str | None, int], list[Task]] = {}
    for t in tasks:
        if t.activity == activity:
            groups.setdefault((t.plan, t.occurrence), []).append(t)
    out: list[_Occurrence] = []
    for group in groups.values():
        last = group[-1]
        done = next(
            (
                t
                for t in group
                if t.status == "completed" and t.completed_at and (t.on_time or not on_time_only)
            ),
            None,
        )
        left = last.cause if last.status == "cancelled" and last.cause in _OUT_OF_PLAN else None
        out.append(_Occurrence(last.due, done, None if done else left))
    return out


def occurrences(
    d: OccurrenceShare | PatientsWithShare, enr: Enr, tasks: list[Task], facts: list[Fact]
) -> Outcome:
    d0 = local_day(enr.anchor_at)
    every = _series(d.activity, d.on_time_only, tasks)
    series = [o for o in every if o.out is None]
    done = [o.done for o in series if o.done is not None]
    left = Counter(o.out for o in every if o.out)
    if isinstance(d, PatientsWithShare):
        return _patients_with_share(d, enr, series, done, facts, d0)
    counted = 0
    excluding: list[Fact] = []
    for o in series:
        if o.done is not None:
            counted += 1
            continue
        until = days_from(d0, o.due) if o.due is not None else None
        f = exclusion(d, enr, facts, until, d0)
        if f is None:
            counted += 1
        else:
            excluding.append(f)
            left[f.type] += 1
    evidence = evidence_ids(
        [enr.event_id], (t.last_event for t in done), (f.event_id for f in excluding)
    )
    if counted == 0:
        if excluding:
            return excluded(d, enr, excluding[0], d0, None)
        return Outcome("ineligible", 0, 0, evidence, reason="nothing planned")
    reason = "; ".join([f"{len(done)}/{counted}", *(f"{n} out: {why}" for why, n in left.items())])
    return Outcome("counted", len(done), counted, evidence, reason=reason)


def _patients_with_share(
    d: PatientsWithShare,
    enr: Enr,
    series: list[_Occurrence],
    done: list[Task],
    facts: list[Fact],
    d0: dt.date,
) -> Outcome:
    """The patient is the unit: met when done/planned >= min_share over the whole plan; a
    death or readmission before the plan's last window closes excludes, unless the share
    was already met then."""
    planned = len(series)
    if planned == 0:
        return Outcome("ineligible", 0, 0, (enr.event_id,), reason="nothing planned")
    dues = [o.due for o in series if o.due is not None]
    until = days_from(d0, max(dues)) if dues else None
    excluding = exclusion(d, enr, facts, until, d0)
    if excluding is not None:
        before = [t for t in done if t.completed_at and t.completed_at <= excluding.at]
        if not (d.exclude_keeps_met and len(before) / planned >= d.min_share):
            return excluded(d, enr, excluding, d0, None)
    met = len(done) / planned >= d.min_share
    evidence = evidence_ids([enr.event_id], (t.last_event for t in done))
    return Outcome(
        "met" if met else "not_met", int(met), 1, evidence, reason=f"{len(done)}/{planned}"
    )
