"""Events of access to care (ACI mission 1): GP-access requests and unscheduled care.

GP access (1-A), on the patient's stream: a request is filed (``GPAccessRequested``,
with the priority the pathways decider gave it from the priority policy), the
coordinator contacts the patient, a GP of the CPTS takes it from the anonymised
waiting list (``GPAccessTaken``: first claim wins; the care circle adds ``gp`` as the
patient's GP from this event), and it ends with an outcome (``GPAccessClosed``:
gp-declared, unreachable, moved-away, withdrawn). A GP who took it may decline it
(``GPAccessDeclined``): it goes back on the list with its priority.

Unscheduled care (1-B), on the patient's stream: ``UnscheduledCareRequested`` names
the professionals it is offered to (those of the zone with SNP slots that day), the
first to accept takes it, and it ends with an outcome (seen, redirected, no-show).

Declarations of professionals, on their own stream (``professional-<rpps>``):
``GPCapacityDeclared`` (new patients accepted per period, for which profiles) and
``SNPSlotsDeclared`` (unscheduled-care slots of a day in a zone).

No event names the patient: the stream is the patient. ``age_band`` is a band
(``70-79``), never a birth date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from contracts.base import EventPayload

GPAccessOutcome = Literal["gp-declared", "unreachable", "moved-away", "withdrawn", "died"]
UnscheduledOutcome = Literal["seen", "redirected", "no-show", "withdrawn"]
# "died": a DeathReported fact closes the open request (PROTOCOLS.md § 0: it then leaves
# the indicators' denominators unless it had met them)
GP_ACCESS_OUTCOMES: tuple[str, ...] = (
    "gp-declared",
    "unreachable",
    "moved-away",
    "withdrawn",
    "died",
)
UNSCHEDULED_OUTCOMES: tuple[str, ...] = ("seen", "redirected", "no-show", "withdrawn")


class GPAccessRequested(EventPayload, frozen=True, tag="GPAccessRequested"):
    request_id: uuid.UUID
    requested_at: dt.datetime
    source: str  # "referral" (a professional or coordinator) or "discharge" (automatic)
    requested_by_role: str
    criteria: list[str]  # the policy's criteria the request meets
    score: int
    priority: str  # the policy band's group (P1, P2, P3)
    target_days: int
    target_at: dt.datetime  # requested_at + target_days: past it, the wait escalates
    contact_due: dt.datetime  # the coordinator contacts the patient by then
    policy: str
    policy_version: int
    age_band: str = "unknown"
    zone: str | None = None  # INSEE code of the patient's commune
    by_fact: uuid.UUID | None = None  # the discharge that filed it automatically


class GPAccessPatientContacted(EventPayload, frozen=True, tag="GPAccessPatientContacted"):
    request_id: uuid.UUID
    by: str
    at: dt.datetime


class GPAccessTaken(EventPayload, frozen=True, tag="GPAccessTaken"):
    """A GP took the request: she becomes the patient's GP in the care circle."""

    request_id: uuid.UUID
    gp: str  # RPPS
    at: dt.datetime
    check_at: dt.datetime  # the declaration is checked then


class GPAccessDeclined(EventPayload, frozen=True, tag="GPAccessDeclined"):
    """The GP who took it gives it back: the request is on the list again."""

    request_id: uuid.UUID
    gp: str
    reason: str
    at: dt.datetime


class GPAccessEscalated(EventPayload, frozen=True, tag="GPAccessEscalated"):
    request_id: uuid.UUID
    reason: str  # "contact-overdue", "target-passed", "declaration-missing"
    at: dt.datetime
    priority: str | None = None


class GPAccessClosed(EventPayload, frozen=True, tag="GPAccessClosed"):
    request_id: uuid.UUID
    outcome: str  # GP_ACCESS_OUTCOMES; a plain string so that a later outcome decodes
    at: dt.datetime
    by: str | None = None
    gp: str | None = None  # with gp-declared: the declared GP
    declared_at: dt.datetime | None = None
    by_fact: uuid.UUID | None = None  # the GPDeclared fact
    reason: str | None = None


class UnscheduledCareRequested(EventPayload, frozen=True, tag="UnscheduledCareRequested"):
    request_id: uuid.UUID
    requested_at: dt.datetime
    within_hours: int  # 24 or 48
    deadline: dt.datetime
    escalate_at: dt.datetime
    requested_by_role: str  # pharmacist, nurse, SAS (service), coordinator
    offered_to: list[str]  # RPPS of the professionals with SNP slots that day in the zone
    zone: str | None = None
    reason: str | None = None


class UnscheduledCareAccepted(EventPayload, frozen=True, tag="UnscheduledCareAccepted"):
    """A professional accepted the request: she joins the patient's care circle."""

    request_id: uuid.UUID
    by: str
    at: dt.datetime
    role: str | None = None  # the role she accepted in (the care circle's role)


class UnscheduledCareEscalated(EventPayload, frozen=True, tag="UnscheduledCareEscalated"):
    request_id: uuid.UUID
    at: dt.datetime
    reason: str = "not accepted before the deadline"


class UnscheduledCareClosed(EventPayload, frozen=True, tag="UnscheduledCareClosed"):
    request_id: uuid.UUID
    outcome: str  # UNSCHEDULED_OUTCOMES
    at: dt.datetime
    by: str | None = None


class GPCapacityDeclared(EventPayload, frozen=True, tag="GPCapacityDeclared"):
    gp: str
    period_start: dt.date
    period_end: dt.date
    new_patients: int
    profiles: list[str] = []  # criteria ids the GP takes first; empty: any
    declared_by: str | None = None


class SNPSlotsDeclared(EventPayload, frozen=True, tag="SNPSlotsDeclared"):
    professional: str
    role: str
    day: dt.date
    zone: str
    slots: int


ACCESS_PAYLOADS: tuple[type[EventPayload], ...] = (
    GPAccessRequested,
    GPAccessPatientContacted,
    GPAccessTaken,
    GPAccessDeclined,
    GPAccessEscalated,
    GPAccessClosed,
    UnscheduledCareRequested,
    UnscheduledCareAccepted,
    UnscheduledCareEscalated,
    UnscheduledCareClosed,
    GPCapacityDeclared,
    SNPSlotsDeclared,
)
ACCESS_TYPES = frozenset(p.__struct_config__.tag for p in ACCESS_PAYLOADS)
