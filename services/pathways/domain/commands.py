"""Commands of the pathway decider and the context every decision receives.

Actors are identified by ``actor_id`` (an RPPS for professionals, a system or
coordinator id otherwise) and ``actor_role`` (a ``contracts.roles.Role`` value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Union
from uuid import UUID

from contracts.base import Command
from contracts.facts import FACT_PAYLOADS
from contracts.identity import CareTeamMember
from pathways.domain.access_policy import AccessPolicy
from pathways.domain.catalog import ProtocolCatalog
from pathways.domain.timers import Timer

FactPayload = Union[FACT_PAYLOADS]  # type: ignore[valid-type]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class DecideContext:
    """What a decision may know besides the state: the time, fresh ids, the protocols,
    the GP-access priority policy (None: access requests are refused)."""

    now: datetime
    new_id: Callable[[], UUID]
    catalog: ProtocolCatalog
    access_policy: AccessPolicy | None = None


class _ByActor(Command, frozen=True):
    actor_id: str
    actor_role: str


class RecordFact(_ByActor, frozen=True, tag="RecordFact"):
    """A fact was reported. ``decide`` returns the fact (stored as ``event_id``) followed
    by its consequences."""

    event_id: UUID
    fact: FactPayload  # type: ignore[valid-type]
    zone: str | None = None  # the patient's commune (routes pool tasks)


class EnrolPatient(_ByActor, frozen=True, tag="EnrolPatient"):
    """Explicit enrolment by a coordinator, from an anchor date."""

    protocol: str
    anchor_at: datetime
    version: int | None = None  # default: the latest
    zone: str | None = None
    care_team: list[CareTeamMember] = []
    expected_delivery: date | None = None


class AcceptTask(_ByActor, frozen=True, tag="AcceptTask"):
    task_id: UUID


class StartTask(_ByActor, frozen=True, tag="StartTask"):
    task_id: UUID


class CompleteTask(_ByActor, frozen=True, tag="CompleteTask"):
    task_id: UUID
    findings: str | None = None


class RejectTask(_ByActor, frozen=True, tag="RejectTask"):
    task_id: UUID
    reason: str | None = None


class FailTask(_ByActor, frozen=True, tag="FailTask"):
    task_id: UUID
    reason: str


class ReassignTask(_ByActor, frozen=True, tag="ReassignTask"):
    task_id: UUID
    assignee: str | None  # None puts the task back in its pool


class CancelTask(_ByActor, frozen=True, tag="CancelTask"):
    task_id: UUID
    reason: str


class FireTimer(Command, frozen=True, tag="FireTimer"):
    timer: Timer


class MigrateProtocol(_ByActor, frozen=True, tag="MigrateProtocol"):
    enrolment_id: UUID
    to_version: int


class MovedTask(Command, frozen=True, tag="MovedTask"):
    """An open task of a merged patient record, as the surviving record takes it over:
    into ``into_enrolment`` (the survivor's enrolment of the same protocol, or a new one
    made with the merged enrolment's protocol, anchor and end)."""

    task_id: UUID
    into_enrolment: UUID
    protocol: str
    version: int
    anchor_type: str
    anchor_at: datetime
    anchor_event_id: UUID | None
    ends_at: datetime | None
    activity: str
    occurrence: int
    role: str
    earliest: datetime
    due: datetime
    assignee: str | None = None
    zone: str | None = None
    urgent: bool = False


class TakeOverTasks(_ByActor, frozen=True, tag="TakeOverTasks"):
    """On the surviving record of an identity merge: schedule the merged record's open
    tasks (``pathways.domain.merging``)."""

    merged_stream: str
    tasks: list[MovedTask]


class HandOverTasks(_ByActor, frozen=True, tag="HandOverTasks"):
    """On the merged record: cancel the tasks taken over (``moved``) or already open on
    the surviving record (``duplicates``), and close the enrolments that go on there
    (enrolment id -> the survivor's)."""

    surviving_stream: str
    moved: list[UUID]
    duplicates: list[UUID]
    superseded: dict[UUID, UUID]


TASK_COMMANDS = (
    AcceptTask,
    StartTask,
    CompleteTask,
    RejectTask,
    FailTask,
    ReassignTask,
    CancelTask,
)


class ChangeCareCircle(_ByActor, frozen=True, tag="ChangeCareCircle"):
    """A coordinator adds a professional to the patient's care circle, or removes one,
    and says why."""

    rpps: str
    role: str
    change: str  # "added" or "removed"
    reason: str


class BreakTheGlass(_ByActor, frozen=True, tag="BreakTheGlass"):
    """A professional outside the care circle asks for access, with a reason; it is granted
    for ``hours`` (the setting) from the decision's instant."""

    reason: str
    hours: float


class SyncCareCircle(_ByActor, frozen=True, tag="SyncCareCircle"):
    """Bring a stream recorded before care circles existed up to date: the professionals
    its state names (task assignees, the discharge care team, declared GPs) join."""
