"""The one place where HL7 (and later FHIR) intake hands facts to the write path.

It calls the same function as ``POST /v1/facts`` (the group commit over
``ingest.record_fact``'s checks and ``batch.record_items``), so an HL7 fact is
decided and stored exactly as a JSON one. When the write path is reorganised,
only this module changes.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from parcours.auth import Principal
from pathways.decider import PathwayDecider
from pathways.group_commit import GroupCommit
from pathways.ingest import FactAccepted


class FactRecorder:
    def __init__(self, pool: asyncpg.Pool, decider: PathwayDecider) -> None:
        self._group = GroupCommit(pool, decider)

    async def record(
        self, principal: Principal, body: msgspec.Struct, correlation_id: str, now: dt.datetime
    ) -> FactAccepted:
        """Record one inbound fact body (``contracts.facts.INBOUND_FACTS``); committed on return.
        Raises ``parcours.problems.Problem`` for a fact the checks refuse."""
        return await self._group.record(principal, body, correlation_id, now)
