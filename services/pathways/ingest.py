"""Recording one command on a patient known by INS: a fact, or an enrolment.

1. One round trip finds the patient and reads their stream (``find_patient``).
2. ``PatientStreams`` decides the command on that state and appends what it
   returns (for a fact: the fact and its consequences) at the version the
   decision was made on; a first fact for an INS writes the identity row in the
   same statement, so it costs one commit. A concurrent writer on the same
   stream makes the append conflict, and the repository decides again; a
   concurrent first fact for the same INS makes the identity row exist already,
   and the patient is found again.

Re-sending a fact with the same ``event_id`` returns the original answer and
writes nothing; the same id with different content is a conflict.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import asyncpg
import msgspec

from contracts.events import Actor, NewEvent
from contracts.facts import occurred_at, payload_of
from contracts.identity import PatientIdentity
from parcours.auth import Principal
from parcours.eventstore import PreconditionFailedError, VersionConflictError
from pathways.domain import RecordFact
from pathways.fact_checks import fact_problem
from pathways.fastids import new_uuid4
from pathways.identities import (
    Patient,
    find_patient,
    fresh_traits,
    new_identity_statement,
    update_traits,
)
from pathways.identity import check_identity
from pathways.streams import MAX_ATTEMPTS, Origin, PatientStreams, StreamWrite


class FactAccepted(msgspec.Struct, frozen=True):
    event_id: uuid.UUID
    stream: str
    position: int
    version: int
    duplicate: bool = False
    consequences: int = 0  # events the protocols derived from the fact


def checked_fact(
    principal: Principal, body: msgspec.Struct, correlation_id: str, now: dt.datetime
) -> tuple[PatientIdentity, NewEvent]:
    """The patient and the fact to record, once the body passed the checks (else a 422)."""
    identity: PatientIdentity = body.patient  # type: ignore[attr-defined]
    check_identity(identity)
    payload = payload_of(body)
    if (problem := fact_problem(payload, now)) is not None:
        raise problem
    fact = NewEvent(
        event_id=body.event_id or new_uuid4(),  # type: ignore[attr-defined]
        data=payload,
        occurred_at=occurred_at(payload),
        correlation_id=correlation_id,
        causation_id=None,
        actor=Actor(id=principal.sub, role=principal.actor_role),
        cpts=principal.cpts,
    )
    return identity, fact


def record_command(fact: NewEvent, zone: str | None) -> tuple[RecordFact, Origin]:
    """The command recording a checked fact, and the envelope of its events."""
    command = RecordFact(
        actor_id=fact.actor.id,
        actor_role=fact.actor.role,
        event_id=fact.event_id,
        fact=fact.data,
        zone=zone,
    )
    origin = Origin(fact.cpts, fact.actor, fact.correlation_id, fact.occurred_at)
    return command, origin


async def write_for_patient(
    streams: PatientStreams,
    conn: asyncpg.Connection,
    cpts: str,
    identity: PatientIdentity,
    command_for: Callable[[Patient], tuple[object, Origin]],
    now: dt.datetime,
) -> StreamWrite:
    """Decide ``command_for(patient)`` on the patient's stream and append what it decides."""
    for _attempt in range(MAX_ATTEMPTS):
        patient = await find_patient(conn, cpts, identity)
        w = StreamWrite(patient.stream, [command_for(patient)])
        streams.seed(w, patient.rows)
        if not patient.known:
            w.before = new_identity_statement(cpts, identity, patient.patient_id)
        await streams.write([w], now, conn=conn)
        if isinstance(w.result, PreconditionFailedError):
            continue  # another writer recorded this INS first: theirs is the patient id
        if w.written and (traits := fresh_traits(patient, [identity])) is not None:
            await update_traits(conn, cpts, [traits])
        return w
    raise VersionConflictError(w.stream, w.version, -1)


async def append_fact(
    streams: PatientStreams,
    conn: asyncpg.Connection,
    cpts: str,
    identity: PatientIdentity,
    fact: NewEvent,
    now: dt.datetime,
) -> FactAccepted:
    w = await write_for_patient(
        streams,
        conn,
        cpts,
        identity,
        lambda patient: record_command(fact, patient.commune or identity.commune),
        now,
    )
    events = w.only()
    result = w.result
    assert result is not None and not isinstance(result, Exception)
    if result.duplicate:
        return FactAccepted(
            fact.event_id, w.stream, result.positions[0], result.version, duplicate=True
        )
    outcome = w.outcomes[0]
    caused = str(fact.event_id)
    return FactAccepted(
        event_id=fact.event_id,
        stream=w.stream,
        position=result.positions[outcome.offset],
        version=w.version_after(outcome),
        consequences=sum(e.causation_id == caused for e in events),
    )


async def record_fact(
    streams: PatientStreams,
    principal: Principal,
    body: msgspec.Struct,
    correlation_id: str,
    now: dt.datetime,
) -> FactAccepted:
    identity, fact = checked_fact(principal, body, correlation_id, now)
    async with streams.pool.acquire() as conn:
        return await append_fact(streams, conn, principal.cpts, identity, fact, now)
