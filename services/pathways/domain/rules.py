"""Observation rules: facts whose values raise a task.

- ``weight_gain`` (heart failure): a nursing visit whose weight exceeds the lowest
  weight recorded in the previous ``within_days`` by more than ``gain_kg_above``
  raises an urgent task (the GP, within 24 h), unless one is already open.
- ``self_monitoring_above_target`` (gestational diabetes): once the self-monitoring
  reports after the education cover ``min_days_after`` days with a share of readings
  above target of at least ``above_share_at_least``, raise the insulin decision
  (once per enrolment).
"""

from __future__ import annotations

from datetime import timedelta

from contracts.facts import NursingVisitReported, SelfMonitoringReported
from pathways.domain.decision import Decision
from pathways.domain.planning import local_date
from pathways.domain.protocol import AboveTargetRule, WeightGainRule
from pathways.domain.scheduling import schedule_activity
from pathways.domain.state import EnrolmentState, RecordedFact

_VISIT = NursingVisitReported.__struct_config__.tag
_SELF_MONITORING = SelfMonitoringReported.__struct_config__.tag


def apply_rules(d: Decision, rec: RecordedFact) -> None:
    for enrolment in d.state.enrolments_in("active"):
        if rec.at < enrolment.anchor_at:
            continue
        protocol = d.protocol_of(enrolment)
        for rule in protocol.rules:
            reason = None
            if isinstance(rule, WeightGainRule):
                reason = _weight_gain(d, rule, rec)
            elif isinstance(rule, AboveTargetRule):
                reason = _above_target(d, rule, rec, enrolment)
            if reason is None:
                continue
            tasks = d.state.tasks_of(enrolment.enrolment_id)
            if any(t.activity == rule.activity and t.is_open for t in tasks):
                continue
            activity = protocol.activity(rule.activity)
            schedule_activity(d, enrolment, activity, rec.at, reason=f"{rule.id}: {reason}")


def _weight_gain(d: Decision, rule: WeightGainRule, rec: RecordedFact) -> str | None:
    visit = rec.fact
    if not isinstance(visit, NursingVisitReported) or visit.weight_kg is None:
        return None
    since = rec.at - timedelta(days=rule.within_days)
    before = [
        f.fact.weight_kg
        for f in d.state.facts_of(_VISIT)
        if since <= f.at < rec.at and f.fact.weight_kg is not None  # type: ignore[attr-defined]
    ]
    if not before:
        return None
    gain = visit.weight_kg - min(before)
    if gain <= rule.gain_kg_above:
        return None
    return f"weight gain of {gain:.1f} kg within {rule.within_days:g} days"


def _above_target(
    d: Decision, rule: AboveTargetRule, rec: RecordedFact, enrolment: EnrolmentState
) -> str | None:
    if not isinstance(rec.fact, SelfMonitoringReported):
        return None
    tasks = d.state.tasks_of(enrolment.enrolment_id)
    if any(t.activity == rule.activity and t.status != "cancelled" for t in tasks):
        return None  # decided once per enrolment
    educated = [
        t.completed_at
        for t in tasks
        if t.activity == rule.after_activity and t.completed_at is not None
    ]
    if not educated:
        return None
    start = local_date(min(educated))
    reports = [
        f.fact
        for f in d.state.facts_of(_SELF_MONITORING)
        if f.fact.period_end > start  # type: ignore[attr-defined]
    ]
    if not reports:
        return None
    covered = max(r.period_end for r in reports) - start  # type: ignore[attr-defined]
    readings = sum(r.readings for r in reports)  # type: ignore[attr-defined]
    above = sum(r.above_target for r in reports)  # type: ignore[attr-defined]
    if covered.days < rule.min_days_after or readings == 0:
        return None
    share = above / readings
    if share < rule.above_share_at_least:
        return None
    return (
        f"{share:.0%} of {readings} readings above target over {covered.days} days after education"
    )
