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
An enrolment closed as ``cancelled`` (its discharge was cancelled, HL7 A13) is
excluded from every indicator, reason ``DischargeCancelled``; one closed as
``merged`` (HL7 A40: it goes on in the surviving record, which counts it), reason
``PatientMerged``.
"""

from __future__ import annotations

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
from projections.domain.evidence import Enr, Fact, Outcome, Task, evidence_ids
from projections.domain.occurrences import occurrences
from projections.domain.windows import activity_done, activity_within, fact_within

__all__ = ["Catalog", "Enr", "Fact", "Outcome", "PatientCases", "Task", "evolve", "outcomes"]


class PatientCases(msgspec.Struct, frozen=True, kw_only=True, gc=False):
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
        "EnrolmentClosed",
        "TaskScheduled",
        "TaskCompleted",
        "TaskCancelled",
        "TaskFailed",
        "TaskOverdue",
    }
)


def relevant(envelope: Envelope) -> bool:
    return envelope.type in RELEVANT or category_of(envelope.type) == "fact"


def cancel_cause(e: ev.TaskCancelled) -> str:
    """Why a task was cancelled: the engine's ``cause``, or for events stored before the
    engine said so, what their ``reason`` (written by the engine) and ``by`` show."""
    if e.cause:
        return e.cause
    if e.by is not None:
        return ev.CANCELLED_ON_REQUEST
    for prefix, cause in _REASON_PREFIXES:
        if e.reason.startswith(prefix):
            return cause
    return ev.CANCELLED_ON_REQUEST


_REASON_PREFIXES = (
    ("paused", ev.CANCELLED_BY_PAUSE),
    ("stopped:", ev.CANCELLED_BY_STOP),
    ("protocol migrated", ev.CANCELLED_BY_MIGRATION),
    ("enrolment closed", ev.CANCELLED_BY_CLOSURE),
)


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
    if isinstance(e, ev.EnrolmentClosed) and e.reason in TAKEN_OUT:
        out = TAKEN_OUT[e.reason]
        enrolments = tuple(
            replace(x, cancelled_by=eid, cancelled_as=out)
            if x.enrolment_id == e.enrolment_id
            else x
            for x in state.enrolments
        )
        return replace(state, enrolments=enrolments)
    if isinstance(e, ev.TaskScheduled):
        plan = next((x.version for x in state.enrolments if x.enrolment_id == e.enrolment_id), None)
        task = Task(
            e.task_id,
            e.enrolment_id,
            e.activity,
            e.occurrence,
            e.due,
            scheduled_event=eid,
            plan=plan,
        )
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
        return _task_update(
            state, e.task_id, status="cancelled", last_event=eid, cause=cancel_cause(e)
        )
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


# closing reasons that take an enrolment out of every indicator, and the case list's reason
TAKEN_OUT = {"cancelled": "DischargeCancelled", "merged": "PatientMerged"}


def judge(d: IndicatorDef, enr: Enr, tasks: list[Task], facts: list[Fact]) -> Outcome:
    if enr.cancelled_by is not None:  # no case (its discharge was cancelled) or counted elsewhere
        reason = enr.cancelled_as or TAKEN_OUT["cancelled"]
        return Outcome("excluded", 0, 0, (enr.event_id, enr.cancelled_by), reason=reason)
    if isinstance(d, ActivityWithin):
        return activity_within(d, enr, tasks, facts)
    if isinstance(d, ActivityDone):
        return activity_done(d, enr, tasks, facts)
    if isinstance(d, FactWithin):
        return fact_within(d, enr, facts)
    if isinstance(d, OccurrenceShare | PatientsWithShare):
        return occurrences(d, enr, tasks, facts)
    assert isinstance(d, CountEnrolled)
    return Outcome("counted", 1, 0, evidence_ids([enr.event_id, enr.anchor_event_id]))


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
