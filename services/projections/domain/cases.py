"""Indicator cases: per patient the evidence, and per enrolment and indicator the outcome.

``evolve(state, envelope)`` folds one event into a patient's evidence (their
enrolments, the tasks of those enrolments, their facts, each with the id of the
event that brought it). ``outcomes(state, catalog)`` judges every enrolment
against every indicator its protocol version declares. Both are pure; the
computation is generic over the indicator kinds of ``contracts.indicators``:
nothing here knows a protocol.

An outcome says how a case counts: ``num``/``den`` are its contributions to the
numerator and denominator (1/1 met, 0/1 not met, 0/0 excluded or ineligible,
completed/planned occurrences for an occurrence share, 1/0 for a count), its
``status`` and ``reason`` say why, and ``evidence`` lists the ids of the events
that decided it (the enrolment first). Days are calendar days in Europe/Paris.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

import msgspec
from msgspec.structs import replace

from contracts import pathway as ev
from contracts.events import Envelope, category_of
from contracts.indicators import (
    ActivityDone,
    ActivityWithin,
    CountEnrolled,
    FactWithin,
    IndicatorDef,
    OccurrenceShare,
    PatientsWithShare,
    ProtocolIndicators,
)
from projections.domain.periods import local_day

MAX_EVIDENCE = 24


class Enr(msgspec.Struct, frozen=True, array_like=True):
    """An enrolment of the patient, as the indicators need it.

    Append fields only (with a default): stored rows decode by position (``array_like``,
    ``proj_case_state``); never insert, remove, reorder or retype a field. Golden bytes:
    ``tests/unit/test_stored_case_state.py``.
    """

    enrolment_id: uuid.UUID
    protocol: str
    version: str
    anchor_at: dt.datetime
    event_id: uuid.UUID  # the PatientEnrolled event
    anchor_event_id: uuid.UUID | None = None


class Task(msgspec.Struct, frozen=True, array_like=True):
    """One planned occurrence of an activity and what became of it.

    Append fields only (with a default): stored rows decode by position (``array_like``,
    ``proj_case_state``); never insert, remove, reorder or retype a field. Golden bytes:
    ``tests/unit/test_stored_case_state.py``.
    """

    task_id: uuid.UUID
    enrolment_id: uuid.UUID
    activity: str
    occurrence: int
    due: dt.datetime | None = None
    status: str = "requested"
    completed_at: dt.datetime | None = None
    on_time: bool | None = None
    scheduled_event: uuid.UUID | None = None
    last_event: uuid.UUID | None = None  # completion, cancellation or overdue
    by_fact: uuid.UUID | None = None


class Fact(msgspec.Struct, frozen=True, array_like=True):
    """A fact reported for the patient (its type, when, by which event).

    Append fields only (with a default): stored rows decode by position (``array_like``,
    ``proj_case_state``); never insert, remove, reorder or retype a field. Golden bytes:
    ``tests/unit/test_stored_case_state.py``.
    """

    type: str
    at: dt.datetime
    event_id: uuid.UUID


class Outcome(msgspec.Struct, frozen=True, array_like=True):
    """How one enrolment counts in one indicator (see the module docstring).

    Append fields only (with a default): stored rows decode by position (``array_like``,
    ``proj_case_state``); never insert, remove, reorder or retype a field. Golden bytes:
    ``tests/unit/test_stored_case_state.py``.
    """

    status: str  # met, not_met, excluded, ineligible, counted
    num: int
    den: int
    evidence: tuple[uuid.UUID, ...]
    reason: str | None = None
    reason_day: int | None = None  # days from the anchor of the deciding fact
    window_end: int | None = None  # days from the anchor when the window closes


class PatientCases(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    patient_id: uuid.UUID
    enrolments: tuple[Enr, ...] = ()
    tasks: tuple[Task, ...] = ()
    facts: tuple[Fact, ...] = ()
    # the last outcomes written, "<enrolment_id>/<code>" -> outcome
    outcomes: dict[str, Outcome] = {}


RELEVANT = frozenset(
    {
        "PatientEnrolled",
        "ProtocolVersionChanged",
        "TaskScheduled",
        "TaskCompleted",
        "TaskCancelled",
        "TaskFailed",
        "TaskOverdue",
    }
)


def relevant(envelope: Envelope) -> bool:
    return envelope.type in RELEVANT or category_of(envelope.type) == "fact"


def _task_update(state: PatientCases, task_id: uuid.UUID, **changes: object) -> PatientCases:
    tasks = tuple(replace(t, **changes) if t.task_id == task_id else t for t in state.tasks)
    return replace(state, tasks=tasks)


def evolve(state: PatientCases, envelope: Envelope) -> PatientCases:
    e, eid = envelope.data, envelope.event_id
    if isinstance(e, ev.PatientEnrolled):
        enr = Enr(
            e.enrolment_id, e.protocol, str(e.protocol_version), e.anchor_at, eid, e.anchor_event_id
        )
        return replace(state, enrolments=(*state.enrolments, enr))
    if isinstance(e, ev.ProtocolVersionChanged):
        enrolments = tuple(
            replace(x, version=str(e.to_version)) if x.enrolment_id == e.enrolment_id else x
            for x in state.enrolments
        )
        return replace(state, enrolments=enrolments)
    if isinstance(e, ev.TaskScheduled):
        task = Task(e.task_id, e.enrolment_id, e.activity, e.occurrence, e.due, scheduled_event=eid)
        return replace(state, tasks=(*state.tasks, task))
    if isinstance(e, ev.TaskCompleted):
        return _task_update(
            state,
            e.task_id,
            status="completed",
            completed_at=e.completed_at,
            on_time=e.on_time,
            last_event=eid,
            by_fact=e.by_fact,
        )
    if isinstance(e, ev.TaskCancelled):
        return _task_update(state, e.task_id, status="cancelled", last_event=eid)
    if isinstance(e, ev.TaskFailed):
        return _task_update(state, e.task_id, status="failed", last_event=eid)
    if isinstance(e, ev.TaskOverdue):
        return _task_update(state, e.task_id, last_event=eid)
    if category_of(envelope.type) == "fact":
        return replace(state, facts=(*state.facts, Fact(envelope.type, envelope.occurred_at, eid)))
    return state


# --- judging ---------------------------------------------------------------------------------


class Catalog:
    """Indicator definitions by protocol version, falling back to the newest version."""

    def __init__(self, protocols: Iterable[ProtocolIndicators]) -> None:
        self.by_key: dict[tuple[str, str], ProtocolIndicators] = {}
        self.newest: dict[str, ProtocolIndicators] = {}
        for p in protocols:
            self.by_key[(p.id, p.version)] = p
            current = self.newest.get(p.id)
            if current is None or _rank(p) > _rank(current):
                self.newest[p.id] = p

    def definitions(self, protocol: str, version: str) -> list[IndicatorDef]:
        p = self.by_key.get((protocol, version)) or self.newest.get(protocol)
        return list(p.indicators) if p else []

    def find(self, code: str) -> tuple[ProtocolIndicators, IndicatorDef] | None:
        """The definition of ``code`` in the newest version (active first) that has it."""
        for p in sorted(self.by_key.values(), key=_rank, reverse=True):
            for d in p.indicators:
                if d.code == code:
                    return p, d
        return None


def _rank(p: ProtocolIndicators) -> tuple:
    return (p.status != "draft", _version_key(p.version))


def _version_key(v: str) -> tuple[int, ...] | tuple[str]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (v,)


def _days(anchor: dt.date, at: dt.datetime) -> int:
    return (local_day(at) - anchor).days


def _exclusion(
    d: IndicatorDef,
    enr: Enr,
    facts: Iterable[Fact],
    until: int | None,
    d0: dt.date,
    skip: str | None = None,
) -> Fact | None:
    """The first exclude_on fact after the anchor and on or before day ``until`` (None: any)."""
    for f in facts:
        if f.type in d.exclude_on and f.type != skip and f.at > enr.anchor_at:
            if until is None or _days(d0, f.at) <= until:
                return f
    return None


def _excluded(d: IndicatorDef, enr: Enr, f: Fact, d0: dt.date, window_end: int | None) -> Outcome:
    return Outcome(
        "excluded",
        0,
        0,
        (enr.event_id, f.event_id),
        reason=f.type,
        reason_day=_days(d0, f.at),
        window_end=window_end,
    )


def _ids(*groups: Iterable[uuid.UUID | None]) -> tuple[uuid.UUID, ...]:
    out: list[uuid.UUID] = []
    for group in groups:
        for i in group:
            if i is not None and i not in out:
                out.append(i)
    return tuple(out[:MAX_EVIDENCE])


def _activity_within(d: ActivityWithin, enr: Enr, tasks: list[Task], facts: list[Fact]) -> Outcome:
    d0 = local_day(enr.anchor_at)
    ref_at, ref_event = enr.anchor_at, None
    if d.relative_to != "anchor":
        ref = next((f for f in facts if f.type == d.relative_to and f.at >= enr.anchor_at), None)
        if ref is None:
            return Outcome("ineligible", 0, 0, (enr.event_id,), reason=f"no {d.relative_to}")
        ref_at, ref_event = ref.at, ref.event_id
    r0 = _days(d0, ref_at)
    lo, hi = r0 + d.from_days, r0 + d.to_days
    firsts = [t for t in tasks if t.activity == d.activity and t.occurrence == 1]
    done = sorted(
        (t for t in firsts if t.status == "completed" and t.completed_at),
        key=lambda t: t.completed_at,
    )
    completion = done[0] if done else None
    met = completion is not None and lo < _days(d0, completion.completed_at) <= hi
    excluding = _exclusion(d, enr, facts, hi, d0)
    if excluding is not None and not (
        met and d.exclude_keeps_met and completion.completed_at <= excluding.at
    ):
        return _excluded(d, enr, excluding, d0, hi)
    if met:
        ev_ids = _ids([enr.event_id, ref_event, completion.last_event, completion.by_fact])
        return Outcome(
            "met",
            1,
            1,
            ev_ids,
            reason="on time",
            reason_day=_days(d0, completion.completed_at),
            window_end=hi,
        )
    if completion is not None:
        day = _days(d0, completion.completed_at)
        ev_ids = _ids([enr.event_id, ref_event, completion.last_event, completion.by_fact])
        return Outcome(
            "not_met",
            0,
            1,
            ev_ids,
            reason="early" if day <= lo else "late",
            reason_day=day,
            window_end=hi,
        )
    ev_ids = _ids([enr.event_id, ref_event], (t.last_event or t.scheduled_event for t in firsts))
    return Outcome("not_met", 0, 1, ev_ids, reason="not done", window_end=hi)


def _activity_done(d: ActivityDone, enr: Enr, tasks: list[Task], facts: list[Fact]) -> Outcome:
    """Met when the first occurrence is completed (on time by its own window if asked)."""
    d0 = local_day(enr.anchor_at)
    firsts = [t for t in tasks if t.activity == d.activity and t.occurrence == 1]
    if not firsts:
        return Outcome("ineligible", 0, 0, (enr.event_id,), reason="not planned")
    dues = [t.due for t in firsts if t.due is not None]
    hi = _days(d0, max(dues)) if dues else None
    done = sorted(
        (t for t in firsts if t.status == "completed" and t.completed_at),
        key=lambda t: t.completed_at,
    )
    completion = done[0] if done else None
    met = completion is not None and (bool(completion.on_time) or not d.on_time_only)
    excluding = _exclusion(d, enr, facts, hi, d0)
    if excluding is not None and not (
        met and d.exclude_keeps_met and completion.completed_at <= excluding.at
    ):
        return _excluded(d, enr, excluding, d0, hi)
    if completion is not None:
        ev_ids = _ids([enr.event_id, completion.last_event, completion.by_fact])
        day = _days(d0, completion.completed_at)
        return Outcome(
            "met" if met else "not_met",
            int(met),
            1,
            ev_ids,
            reason="on time" if met else "late",
            reason_day=day,
            window_end=hi,
        )
    ev_ids = _ids([enr.event_id], (t.last_event or t.scheduled_event for t in firsts))
    return Outcome("not_met", 0, 1, ev_ids, reason="not done", window_end=hi)


def _fact_within(d: FactWithin, enr: Enr, facts: list[Fact]) -> Outcome:
    d0 = local_day(enr.anchor_at)
    lo, hi = d.from_days, d.to_days
    hit = next(
        (
            f
            for f in facts
            if f.type == d.fact and f.at > enr.anchor_at and lo < _days(d0, f.at) <= hi
        ),
        None,
    )
    excluding = _exclusion(d, enr, facts, hi, d0, skip=d.fact)
    if excluding is not None and not (hit and d.exclude_keeps_met and hit.at <= excluding.at):
        return _excluded(d, enr, excluding, d0, hi)
    if hit is not None:
        return Outcome(
            "met",
            1,
            1,
            (enr.event_id, hit.event_id),
            reason=d.fact,
            reason_day=_days(d0, hit.at),
            window_end=hi,
        )
    return Outcome("not_met", 0, 1, (enr.event_id,), reason=f"no {d.fact}", window_end=hi)


def _shares(activity: str, on_time_only: bool, tasks: list[Task]) -> tuple[int, int, list[Task]]:
    planned: set[int] = set()
    completed: dict[int, Task] = {}
    for t in tasks:
        if t.activity != activity:
            continue
        if t.status != "cancelled":
            planned.add(t.occurrence)
        if t.status == "completed" and (t.on_time or not on_time_only):
            completed.setdefault(t.occurrence, t)
    done = [completed[o] for o in sorted(completed) if o in planned]
    return len(done), len(planned), done


def _occurrences(
    d: OccurrenceShare | PatientsWithShare, enr: Enr, tasks: list[Task], facts: list[Fact]
) -> Outcome:
    d0 = local_day(enr.anchor_at)
    done, planned, done_tasks = _shares(d.activity, d.on_time_only, tasks)
    excluding = _exclusion(d, enr, facts, None, d0)
    if excluding is not None:
        return _excluded(d, enr, excluding, d0, None)
    if planned == 0:
        return Outcome("ineligible", 0, 0, (enr.event_id,), reason="nothing planned")
    evidence = _ids([enr.event_id], (t.last_event for t in done_tasks))
    if isinstance(d, PatientsWithShare):
        met = done / planned >= d.min_share
        return Outcome(
            "met" if met else "not_met", int(met), 1, evidence, reason=f"{done}/{planned}"
        )
    return Outcome("counted", done, planned, evidence, reason=f"{done}/{planned}")


def judge(d: IndicatorDef, enr: Enr, tasks: list[Task], facts: list[Fact]) -> Outcome:
    if isinstance(d, ActivityWithin):
        return _activity_within(d, enr, tasks, facts)
    if isinstance(d, ActivityDone):
        return _activity_done(d, enr, tasks, facts)
    if isinstance(d, FactWithin):
        return _fact_within(d, enr, facts)
    if isinstance(d, OccurrenceShare | PatientsWithShare):
        return _occurrences(d, enr, tasks, facts)
    assert isinstance(d, CountEnrolled)
    return Outcome("counted", 1, 0, _ids([enr.event_id, enr.anchor_event_id]))


def outcomes(state: PatientCases, catalog: Catalog) -> dict[str, tuple[Enr, str, Outcome]]:
    """Every (enrolment, indicator) outcome of the patient, keyed ``<enrolment_id>/<code>``."""
    facts = sorted(state.facts, key=lambda f: f.at)
    out: dict[str, tuple[Enr, str, Outcome]] = {}
    for enr in state.enrolments:
        defs = catalog.definitions(enr.protocol, enr.version)
        if not defs:
            continue
        tasks = [t for t in state.tasks if t.enrolment_id == enr.enrolment_id]
        for d in defs:
            out[f"{enr.enrolment_id}/{d.code}"] = (enr, d.code, judge(d, enr, tasks, facts))
    return out


def changed(
    previous: Mapping[str, Outcome], current: Mapping[str, tuple[Enr, str, Outcome]]
) -> list[str]:
    return [k for k, (_, _, o) in current.items() if previous.get(k) != o]
