"""Recording a fact: identity to patient id, then an idempotent append to the patient's stream.

``FactRecorder`` is the seam where the pathway decider plugs in: it turns an
accepted fact into the events to append (the fact itself, then whatever the
protocols decide follows from it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from contracts.events import Actor, NewEvent, patient_stream
from contracts.facts import occurred_at, payload_of
from parcours.auth import Principal
from parcours.eventstore import ANY, AppendResult, EventStore, VersionConflictError
from pathways.identity import check_identity, resolve_patient


class FactAccepted(msgspec.Struct, frozen=True):
    event_id: uuid.UUID
    stream: str
    position: int
    version: int
    duplicate: bool = False
    consequences: int = 0  # events the protocols derived from the fact


# (conn, stream, fact event, zone, now) -> events to append after the fact, and the
# version of the stream they were decided on (ANY when nothing was decided)
Consequences = Callable[
    [asyncpg.Connection, str, NewEvent, str | None, dt.datetime],
    Awaitable[tuple[list[NewEvent], int]],
]


async def no_consequences(
    conn: asyncpg.Connection, stream: str, fact: NewEvent, zone: str | None, now: dt.datetime
) -> tuple[list[NewEvent], int]:
    return [], ANY


async def record_fact(
    pool: asyncpg.Pool,
    principal: Principal,
    body: msgspec.Struct,
    correlation_id: str,
    now: dt.datetime,
    consequences: Consequences = no_consequences,
) -> FactAccepted:
    identity = body.patient  # type: ignore[attr-defined]
    check_identity(identity)
    payload = payload_of(body)
    event_id = body.event_id or uuid.uuid4()  # type: ignore[attr-defined]
    fact = NewEvent(
        event_id=event_id,
        data=payload,
        occurred_at=occurred_at(payload),
        correlation_id=correlation_id,
        causation_id=None,
        actor=Actor(id=principal.sub, role=principal.actor_role),
        cpts=principal.cpts,
    )
    store = EventStore(pool)
    async with pool.acquire() as conn:
        patient_id, zone = await resolve_patient(conn, principal.cpts, identity)
        stream = patient_stream(patient_id)
        for _attempt in range(5):
            derived, expected = await consequences(conn, stream, fact, zone, now)
            try:
                result: AppendResult = await store.append(
                    stream, expected, [fact, *derived], conn=conn
                )
                break
            except VersionConflictError:  # a concurrent writer moved the stream: decide again
                continue
        else:  # pragma: no cover - five concurrent writers in a row on one patient
            raise RuntimeError("the patient's stream kept moving; try again")
    return FactAccepted(
        event_id=event_id,
        stream=stream,
        position=result.positions[0],
        version=result.version,
        duplicate=result.duplicate,
        consequences=0 if result.duplicate else len(derived),
    )
