"""The adapter between the event store and the pure decider.

It folds a patient's stored events into a ``PatientState``, runs ``decide``
with the clock's instant and fresh ids, and wraps the payloads it returns into
events that carry the correlation id of the request and, as causation, the
fact or command that led to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from contracts.base import EventPayload
from contracts.events import Actor, NewEvent, payload_decoder
from parcours.eventstore import EventStore, StoredEvent, VersionConflictError
from pathways.domain import DecideContext, PatientState, ProtocolCatalog, RecordFact, decide, fold
from pathways.fastids import new_uuid4
from pathways.ingest import PatientHistory

SYSTEM = Actor(id="parcours-pathways", role="service")


def state_of(events: Sequence[StoredEvent]) -> PatientState:
    return fold([(e.event_id, payload_decoder.decode(e.data)) for e in events])


def wrap(
    payloads: Sequence[EventPayload],
    *,
    cpts: str,
    correlation_id: str,
    causation_id: str | None,
    actor: Actor,
    occurred_at: dt.datetime,
) -> list[NewEvent]:
    return [
        NewEvent(
            event_id=new_uuid4(),
            data=p,
            occurred_at=occurred_at,
            correlation_id=correlation_id,
            causation_id=causation_id,
            actor=actor,
            cpts=cpts,
        )
        for p in payloads
    ]


class PathwayDecider:
    """Runs the protocols of a catalog against patients' streams."""

    def __init__(self, catalog: ProtocolCatalog) -> None:
        self.catalog = catalog

    def context(self, now: dt.datetime) -> DecideContext:
        return DecideContext(now=now, new_id=new_uuid4, catalog=self.catalog)

    def consequences(
        self, history: PatientHistory, fact: NewEvent, now: dt.datetime
    ) -> list[NewEvent]:
        """What follows from a fact (the ingestion's ``decide`` hook)."""
        command = RecordFact(
            actor_id=fact.actor.id,
            actor_role=fact.actor.role,
            event_id=fact.event_id,
            fact=fact.data,
            zone=history.zone,
        )
        payloads = decide(command, state_of(history.events), self.context(now))
        return wrap(
            payloads,
            cpts=fact.cpts,
            correlation_id=fact.correlation_id,
            causation_id=str(fact.event_id),
            actor=SYSTEM,
            occurred_at=fact.occurred_at,
        )

    async def execute(
        self,
        conn: asyncpg.Connection,
        *,
        stream: str,
        cpts: str,
        command: object,
        actor: Actor,
        correlation_id: str,
        now: dt.datetime,
        causation_id: str | None = None,
    ) -> list[NewEvent]:
        """Decide a command on a patient's stream and append what it decides.

        A concurrent writer on the same stream makes the append conflict; the
        command is then decided again on the newer state (domain errors raised
        by ``decide`` reach the caller).
        """
        store = EventStore(conn)
        for _attempt in range(8):
            history = await store.read_stream(stream)
            state = state_of(history)
            payloads = decide(command, state, self.context(now))
            if not payloads:
                return []
            events = wrap(
                payloads,
                cpts=cpts,
                correlation_id=correlation_id,
                causation_id=causation_id,
                actor=actor,
                occurred_at=now,
            )
            try:
                await store.append(stream, history[-1].version if history else 0, events)
            except VersionConflictError:
                continue
            return events
        raise VersionConflictError(stream, -1, -1)
