"""Which open task a fact completes.

A fact completes at most one task per activity of each active enrolment:
first an occurrence whose window holds the fact (earliest <= t <= due), else
the oldest overdue one (completed late: ``on_time=False``; the indicators judge
timing, the record stays true), else, when the activity allows early completion,
the next one. A fact counts from the task's earliest instant, or from the
enrolment's anchor when an anchor-relative activity ``early_completes`` (so a cardiology consultation at
D+20 completes the D+30..D+60 task, on time). A lab panel completes when every
``all_of`` code (and one ``any_of`` code, if listed) has a result since then;
its completion time is the moment the last missing code arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from contracts import pathway as ev
from contracts.facts import LabResultReported
from pathways.domain.decision import Decision
from pathways.domain.matching import matches
from pathways.domain.protocol import Activity, LabPanel
from pathways.domain.state import EnrolmentState, RecordedFact, TaskState


def accepts_from(task: TaskState, activity: Activity, enrolment: EnrolmentState) -> datetime:
    """From when a fact counts for ``task``: its earliest instant, or the anchor for an
    anchor-relative activity that ``early_completes`` (a season may start before it)."""
    if activity.early_completes and activity.window.relative_to == "anchor":
        return min(task.earliest, enrolment.anchor_at)
    return task.earliest


def _panel_completed_at(
    spec: LabPanel, labs: Iterable[RecordedFact], since: datetime
) -> RecordedFact | None:
    """The result that completed the panel (the last missing code), or None."""
    first: dict[str, RecordedFact] = {}
    for f in sorted(labs, key=lambda f: f.at):
        code = f.fact.loinc  # type: ignore[attr-defined]
        if f.at >= since and code not in first:
            first[code] = f
    if any(c not in first for c in spec.all_of):
        return None
    needed = [first[c] for c in spec.all_of]
    if spec.any_of:
        found = sorted((first[c] for c in spec.any_of if c in first), key=lambda f: f.at)
        if not found:
            return None
        needed.append(found[0])
    return max(needed, key=lambda f: f.at)


def _pick(candidates: list[TaskState], at: datetime, early: bool) -> TaskState | None:
    in_window = [t for t in candidates if t.earliest <= at <= t.due]
    late = [t for t in candidates if t.due < at]
    ahead = [t for t in candidates if at < t.earliest] if early else []
    for group in (in_window, late, ahead):
        if group:
            return min(group, key=lambda t: (t.earliest, t.occurrence))
    return None


def complete_by_fact(d: Decision, rec: RecordedFact, only: set[UUID] | None = None) -> None:
    for enrolment in d.state.enrolments_in("active"):
        protocol = d.protocol_of(enrolment)
        for activity in protocol.activities:
            spec = next((c for c in activity.completed_by if matches(c, rec.fact)), None)
            if spec is None:
                continue
            done_by = rec
            candidates = [
                t
                for t in d.state.open_tasks(enrolment.enrolment_id)
                if t.activity == activity.id
                and (only is None or t.task_id in only)
                and rec.at >= accepts_from(t, activity, enrolment)
            ]
            if isinstance(spec, LabPanel):
                labs = d.state.facts_of(LabResultReported.__struct_config__.tag)
                candidates = [
                    t
                    for t in candidates
                    if _panel_completed_at(spec, labs, accepts_from(t, activity, enrolment))
                ]
                if candidates:
                    since = accepts_from(candidates[0], activity, enrolment)
                    done_by = _panel_completed_at(spec, labs, since) or rec
            task = _pick(candidates, done_by.at, activity.early_completes)
            if task is None:
                continue
            d.emit(
                ev.TaskCompleted(
                    task_id=task.task_id,
                    completed_at=done_by.at,
                    on_time=done_by.at <= task.due,
                    by=getattr(done_by.fact, "rpps", None) or getattr(done_by.fact, "lab", None),
                    by_fact=done_by.event_id,
                    fact_type=done_by.fact.__struct_config__.tag,
                )
            )


def complete_from_history(d: Decision, task_ids: list[UUID], since: datetime | None = None) -> None:
    """Let facts already recorded (other than the one being recorded) complete new tasks."""
    if not task_ids:
        return
    only = set(task_ids)
    for rec in sorted(d.state.facts, key=lambda f: f.at):
        if rec.event_id is not None and rec.event_id == d.current_fact:
            continue
        if since is not None and rec.at < since:
            continue
        if any(d.state.tasks[t].is_open for t in only):
            complete_by_fact(d, rec, only)
