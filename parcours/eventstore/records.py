"""What the event store hands out and refuses: results, errors, stored rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import msgspec

from contracts.events import Actor, Envelope, NewEvent, payload_decoder, tag_of

ANY = -1  # expected_version: do not check
NO_STREAM = 0  # expected_version: the stream must not exist yet

_json = msgspec.json.Encoder()


class EventStoreError(Exception):
    pass


class VersionConflictError(EventStoreError):
    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream} is at version {actual}, the append expected version {expected}"
        )
        self.stream, self.expected, self.actual = stream, expected, actual


class DuplicateEventError(EventStoreError):
    def __init__(self, event_id: uuid.UUID) -> None:
        super().__init__(
            f"event {event_id} was already recorded with different content; "
            "choose a new event_id for a new fact"
        )
        self.event_id = event_id


class PreconditionFailedError(EventStoreError):
    """The statement that was to run with the append (``before``) affected no row."""


class AppendResult(msgspec.Struct, frozen=True):
    positions: list[int]
    version: int  # stream version after the append
    duplicate: bool = False  # True when every event was already stored


class Checkpoint(msgspec.Struct, frozen=True):
    txid: int = 0
    position: int = 0


class StoredEvent(msgspec.Struct, frozen=True):
    """A row of the event store with its payload still as JSON text."""

    position: int
    txid: int
    event_id: uuid.UUID
    stream: str
    version: int
    type: str
    cpts: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    correlation_id: str
    causation_id: str | None
    actor_id: str
    actor_role: str
    schema_version: int
    data: str

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.txid, self.position)

    def envelope(self, decode: Callable[[str], Any] = payload_decoder.decode) -> Envelope:
        return Envelope(
            event_id=self.event_id,
            stream=self.stream,
            version=self.version,
            type=self.type,
            occurred_at=self.occurred_at,
            recorded_at=self.recorded_at,
            cpts=self.cpts,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            actor=Actor(id=self.actor_id, role=self.actor_role),
            schema_version=self.schema_version,
            data=decode(self.data),
            position=self.position,
        )

    def wire(self) -> bytes:
        """The envelope as JSON for NATS, without decoding the payload."""
        return _json.encode(
            _WireEnvelope(
                event_id=self.event_id,
                stream=self.stream,
                version=self.version,
                type=self.type,
                occurred_at=self.occurred_at,
                recorded_at=self.recorded_at,
                cpts=self.cpts,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
                actor=Actor(id=self.actor_id, role=self.actor_role),
                schema_version=self.schema_version,
                data=msgspec.Raw(self.data.encode()),
                position=self.position,
            )
        )


class _WireEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    stream: str
    version: int
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    cpts: str
    correlation_id: str
    causation_id: str | None
    actor: Actor
    schema_version: int
    data: msgspec.Raw
    position: int


# ``txid`` is read as a bigint under its own name: an ORDER BY must name ``events.txid``
# (the column, in the index ``events_txid_position``), not the output (a sort of every row).
_COLUMNS = (
    "position, txid::text::bigint AS txid, event_id, stream, version, type, cpts, occurred_at, "
    "recorded_at, correlation_id, causation_id, actor_id, actor_role, schema_version, data::text AS data"
)


class RecordedEvent(NamedTuple):
    """An event found by its id: enough to tell a replay from another fact."""

    event_id: uuid.UUID
    stream: str
    position: int
    version: int
    type: str
    data: str

    def same_as(self, stream: str, event: NewEvent) -> bool:
        """The same event sent again: same stream, type and payload."""
        return (
            self.stream == stream
            and self.type == tag_of(event.data)
            and _same_payload(self.data, event)
        )


class AppendRequest(msgspec.Struct, frozen=True):
    """One stream's share of a multi-stream append."""

    stream: str
    expected_version: int
    events: Sequence[NewEvent]


def _same_payload(stored_json: str, event: NewEvent) -> bool:
    return msgspec.json.decode(stored_json) == msgspec.json.decode(_json.encode(event.data))
