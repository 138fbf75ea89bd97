"""Commands of access to care (ACI mission 1), decided on the patient's stream.

GP access: ``RequestGPAccess`` (a professional or a coordinator refers the patient),
``RecordPatientContact`` (the coordinator reached the patient), ``TakeGPRequest`` (a GP
takes it from the waiting list: first claim wins), ``DeclineGPRequest`` (the GP who took
it gives it back, with a reason), ``CloseGPRequest`` (unreachable, moved away,
withdrawn; a declared GP closes it through the ``GPDeclared`` fact).
Unscheduled care: ``RequestUnscheduledCare``, ``AcceptUnscheduledCare`` (first to
accept takes it), ``CloseUnscheduledCare`` (seen, redirected, no-show, withdrawn).
"""

from __future__ import annotations

from uuid import UUID

from contracts.base import Command


class _ByActor(Command, frozen=True):
    actor_id: str
    actor_role: str


class RequestGPAccess(_ByActor, frozen=True, tag="RequestGPAccess"):
    request_id: UUID
    criteria: list[str] = []  # what the referrer names: ald, c2s, ame, pregnancy, ...
    age: int | None = None  # whole years on the request day (from the identity's birth date)
    zone: str | None = None


class RecordPatientContact(_ByActor, frozen=True, tag="RecordPatientContact"):
    request_id: UUID


class TakeGPRequest(_ByActor, frozen=True, tag="TakeGPRequest"):
    request_id: UUID


class DeclineGPRequest(_ByActor, frozen=True, tag="DeclineGPRequest"):
    request_id: UUID
    reason: str


class CloseGPRequest(_ByActor, frozen=True, tag="CloseGPRequest"):
    request_id: UUID
    outcome: str  # unreachable, moved-away, withdrawn
    reason: str | None = None


class RequestUnscheduledCare(_ByActor, frozen=True, tag="RequestUnscheduledCare"):
    request_id: UUID
    within_hours: int
    offered_to: list[str]  # the professionals of the zone with SNP slots that day
    zone: str | None = None
    reason: str | None = None


class AcceptUnscheduledCare(_ByActor, frozen=True, tag="AcceptUnscheduledCare"):
    request_id: UUID


class CloseUnscheduledCare(_ByActor, frozen=True, tag="CloseUnscheduledCare"):
    request_id: UUID
    outcome: str  # seen, redirected, no-show, withdrawn
