"""The event envelope and the tagged union of every stored event.

The envelope is what PostgreSQL stores (one column per field) and what the
relay publishes on NATS (one JSON document). ``data`` is the tagged payload;
``type`` repeats its tag so that readers can filter without decoding it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Union

import msgspec

from contracts.access import ACCESS_PAYLOADS, ACCESS_TYPES
from contracts.base import EventPayload
from contracts.directory import DIRECTORY_PAYLOADS
from contracts.facts import FACT_PAYLOADS
from contracts.pathway import PATHWAY_PAYLOADS

ALL_PAYLOADS: tuple[type[EventPayload], ...] = (
    FACT_PAYLOADS + PATHWAY_PAYLOADS + DIRECTORY_PAYLOADS + ACCESS_PAYLOADS
)
Event = Union[ALL_PAYLOADS]  # type: ignore[valid-type]  # noqa: UP007
EVENT_TYPES: dict[str, type[EventPayload]] = {
    cls.__struct_config__.tag: cls for cls in ALL_PAYLOADS
}
SCHEMA_VERSION = 1


def tag_of(payload: EventPayload | type[EventPayload]) -> str:
    return payload.__struct_config__.tag


# The care circle and break-the-glass grants, and GP access and unscheduled care
ACCESS_EVENT_TYPES = frozenset({"CareCircleChanged", "BreakGlassGranted"}) | ACCESS_TYPES


def category_of(event_type: str) -> str:
    """The NATS subject category of an event type: ``fact``, ``task``, ``enrolment``,
    ``access`` (the care circle, break-the-glass grants, GP access and unscheduled care:
    ``contracts.access``) or ``directory``."""
    if event_type in ACCESS_EVENT_TYPES:
        return "access"
    if event_type == "ProfessionalListed":
        return "directory"
    if event_type.startswith("Task") or event_type in ("EscalationRaised", "ReminderDue"):
        return "task"
    if event_type in ("PatientEnrolled", "ProtocolVersionChanged") or event_type.startswith(
        "Enrolment"
    ):
        return "enrolment"
    return "fact"


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who caused an event: a system id or an RPPS, with the role it acted in."""

    id: str
    role: str


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    stream: str
    version: int
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    cpts: str
    correlation_id: str
    causation_id: str | None = None
    actor: Actor
    schema_version: int = SCHEMA_VERSION
    data: Event  # type: ignore[valid-type]
    position: int | None = None  # global position in the event store, when read from it


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """What a writer hands the event store: the store assigns version and position."""

    event_id: uuid.UUID
    data: Event  # type: ignore[valid-type]
    occurred_at: dt.datetime
    correlation_id: str
    causation_id: str | None = None
    actor: Actor
    cpts: str

    @property
    def type(self) -> str:
        return tag_of(self.data)


envelope_decoder = msgspec.json.Decoder(Envelope)
payload_decoder = msgspec.json.Decoder(Event)


def patient_stream(patient_id: uuid.UUID) -> str:
    return f"patient-{patient_id}"


def patient_of_stream(stream: str) -> uuid.UUID | None:
    if stream.startswith("patient-"):
        return uuid.UUID(stream[len("patient-") :])
    return None
