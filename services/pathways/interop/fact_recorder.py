"""The one place where HL7 (and later FHIR) intake hands facts to the write path.

It calls the same function as ``POST /v1/facts`` (the group commit over
``ingest.record_fact``'s checks and ``batch.record_items``), so an HL7 fact is
decided and stored exactly as a JSON one. When the write path is reorganised,
only this module changes.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import msgspec

from contracts.base import EventPayload
from contracts.facts import INBOUND_FACTS
from contracts.identity import PatientIdentity
from parcours.auth import Principal
from pathways.decider import PathwayDecider
from pathways.group_commit import GroupCommit
from pathways.ingest import FactAccepted


class InvalidFactError(ValueError):
    """A mapped fact that the contracts refuse; ``field`` is the fact's field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def inbound_body(
    payload: EventPayload, identity: PatientIdentity, event_id: uuid.UUID
) -> msgspec.Struct:
    """The ``POST /v1/facts`` body of a mapped fact, validated by the contracts' types
    (identifier shapes, code patterns) as a JSON body would be."""
    body_type = INBOUND_FACTS[payload.__struct_config__.tag]
    fields = msgspec.to_builtins(payload)
    fields.update(patient=msgspec.to_builtins(identity), event_id=str(event_id))
    try:
        return msgspec.convert(fields, body_type)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field = text.rsplit("$.", 1)[-1].rstrip("`") if "$." in text else ""
        raise InvalidFactError(field, text.split(" - at ")[0]) from None


class FactRecorder:
    def __init__(
        self, pool: asyncpg.Pool, decider: PathwayDecider, group: GroupCommit | None = None
    ) -> None:
        """``group``: the pathways service's own group commit, when running inside it."""
        self._group = group or GroupCommit(pool, decider)

    async def record(
        self, principal: Principal, body: msgspec.Struct, correlation_id: str, now: dt.datetime
    ) -> FactAccepted:
        """Record one inbound fact body (``contracts.facts.INBOUND_FACTS``); committed on return.
        Raises ``parcours.problems.Problem`` for a fact the checks refuse."""
        return await self._group.record(principal, body, correlation_id, now)
