"""Timers as data: which timers an event creates, and which it makes moot.

The timer adapter (PostgreSQL, ``FOR UPDATE SKIP LOCKED``) stores what
``timers_for`` returns after the events commit, deletes the timers of a task
named by ``timers_cancelled_by``, and fires each due timer through ``decide``
as ``FireTimer(timer)``. Firing is idempotent: a timer of a task that is no
longer open, or of an enrolment already closed, decides nothing.

- ``TaskScheduled`` → a ``reminder`` at 08:00 Europe/Paris on the due day (when
  that falls after the earliest instant and before the due instant) and an
  ``overdue`` check at the due instant.
- ``GPAccessRequested`` → ``gp-contact`` (the coordinator contacts the patient) and
  ``gp-target`` (the policy's target delay); ``GPAccessTaken`` → ``gp-declaration-check``;
  ``UnscheduledCareRequested`` → ``snp-escalation`` (before its deadline).
- ``PatientEnrolled`` / ``EnrolmentResumed`` with ``ends_at`` → an
  ``enrolment-end`` timer (a resumed enrolment's end moves: the older timer
  then fires for nothing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Literal
from uuid import UUID

import msgspec

from contracts import access as ac
from contracts import pathway as ev
from contracts.base import EventPayload
from pathways.domain.planning import LOCAL_TZ, local_date

TimerKind = Literal[
    "reminder",
    "overdue",
    "enrolment-end",
    "gp-contact",
    "gp-target",
    "gp-declaration-check",
    "snp-escalation",
]
REMINDER_TIME = time(8, 0)


class Timer(msgspec.Struct, frozen=True, kw_only=True):
    fire_at: datetime
    kind: TimerKind
    enrolment_id: UUID | None = None
    task_id: UUID | None = None
    request_id: UUID | None = None  # a GP-access or unscheduled-care request

    @property
    def key(self) -> str:
        """A natural key for the timer table (one timer of a kind per task, enrolment or
        request)."""
        owner = self.task_id or self.enrolment_id or self.request_id
        return f"{self.kind}:{_id_text(owner)}:{_instant_text(self.fire_at)}"


# A task's two timers name it twice, and instants repeat across patients (08:00 reminders,
# due instants of discharges in the same minute): their texts are cached (the timer index
# builds ~40 keys per discharge; str(UUID) and isoformat() were half of its CPU).
_id_text = lru_cache(maxsize=1024)(str)
_instant_text = lru_cache(maxsize=8192)(datetime.isoformat)


@lru_cache(maxsize=4096)
def _reminder_on(day: date) -> datetime:
    return datetime.combine(day, REMINDER_TIME, LOCAL_TZ).astimezone(UTC)


def reminder_at(earliest: datetime, due: datetime) -> datetime | None:
    at = _reminder_on(local_date(due))
    return at if earliest <= at < due else None


def timers_for(event: EventPayload) -> list[Timer]:
    match event:
        case ac.GPAccessRequested():
            return [
                Timer(fire_at=event.contact_due, kind="gp-contact", request_id=event.request_id),
                Timer(fire_at=event.target_at, kind="gp-target", request_id=event.request_id),
            ]
        case ac.GPAccessTaken():
            return [
                Timer(
                    fire_at=event.check_at,
                    kind="gp-declaration-check",
                    request_id=event.request_id,
                )
            ]
        case ac.UnscheduledCareRequested():
            return [
                Timer(fire_at=event.escalate_at, kind="snp-escalation", request_id=event.request_id)
            ]
        case ev.TaskScheduled():
            timers = []
            remind = reminder_at(event.earliest, event.due)
            if remind is not None:
                timers.append(
                    Timer(
                        fire_at=remind,
                        kind="reminder",
                        task_id=event.task_id,
                        enrolment_id=event.enrolment_id,
                    )
                )
            timers.append(
                Timer(
                    fire_at=event.due,
                    kind="overdue",
                    task_id=event.task_id,
                    enrolment_id=event.enrolment_id,
                )
            )
            return timers
        case ev.PatientEnrolled() | ev.EnrolmentResumed() if event.ends_at is not None:
            return [
                Timer(fire_at=event.ends_at, kind="enrolment-end", enrolment_id=event.enrolment_id)
            ]
    return []


def timers_cancelled_by(event: EventPayload) -> UUID | None:
    """The task whose timers become moot (it reached a final status), if any."""
    match event:
        case ev.TaskCompleted() | ev.TaskCancelled() | ev.TaskRejected() | ev.TaskFailed():
            return event.task_id
    return None
