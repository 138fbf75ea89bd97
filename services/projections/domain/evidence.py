"""What a case is judged from, and what it comes to: a patient's enrolments, tasks and
facts (each with the id of the event that brought it), the outcome of one enrolment for one
indicator, and the helpers every indicator kind shares (days from the anchor in
Europe/Paris, the § 0 exclusions, the evidence list)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import msgspec

from contracts.indicators import IndicatorDef
from projections.domain.periods import local_day

MAX_EVIDENCE = 24


class Enr(msgspec.Struct, frozen=True, array_like=True, gc=False):
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
    # the EnrolmentClosed that takes it out of every indicator (reason ``cancelled``: its
    # discharge was cancelled; ``merged``: it goes on in the surviving patient record)
    cancelled_by: uuid.UUID | None = None
    cancelled_as: str | None = None  # the exclusion reason: DischargeCancelled, PatientMerged


class Task(msgspec.Struct, frozen=True, array_like=True, gc=False):
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
    # stored in proj_case_state as an array: append new fields only, with defaults
    cause: str | None = None  # why it was cancelled (``cancel_cause``)
    plan: str | None = None  # the enrolment's protocol version when it was scheduled


class Fact(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A fact reported for the patient (its type, when, by which event).

    Append fields only (with a default): stored rows decode by position (``array_like``,
    ``proj_case_state``); never insert, remove, reorder or retype a field. Golden bytes:
    ``tests/unit/test_stored_case_state.py``.
    """

    type: str
    at: dt.datetime
    event_id: uuid.UUID


class Outcome(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """How one enrolment counts in one indicator (see the cases module docstring).

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


def days_from(anchor: dt.date, at: dt.datetime) -> int:
    return (local_day(at) - anchor).days


def exclusion(
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
            if until is None or days_from(d0, f.at) <= until:
                return f
    return None


def excluded(d: IndicatorDef, enr: Enr, f: Fact, d0: dt.date, window_end: int | None) -> Outcome:
    return Outcome(
        "excluded",
        0,
        0,
        (enr.event_id, f.event_id),
        reason=f.type,
        reason_day=days_from(d0, f.at),
        window_end=window_end,
    )


def evidence_ids(*groups: Iterable[uuid.UUID | None]) -> tuple[uuid.UUID, ...]:
    out: list[uuid.UUID] = []
    for group in groups:
        for i in group:
            if i is not None and i not in out:
                out.append(i)
    return tuple(out[:MAX_EVIDENCE])
