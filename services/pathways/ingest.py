"""Recording a fact: one read, one decision, one write.

1. One round trip reads the patient's identity row and the events of their
   stream (``load_patient``).
2. ``decide`` (pure; the pathway engine plugs in here) turns the fact and the
   patient's history into the events that follow from it.
3. One statement appends the fact and its consequences at the version the
   decision was made on; a first fact for an INS writes the identity row in the
   same statement, so it costs one commit. A concurrent writer on the same
   patient makes the append conflict, and the whole thing is decided again.

Re-sending a fact with the same ``event_id`` returns the original answer and
writes nothing; the same id with different content is a conflict.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

import asyncpg
import msgspec

from contracts.events import Actor, NewEvent, patient_stream
from contracts.facts import occurred_at, payload_of
from contracts.identity import PatientIdentity
from parcours.auth import Principal
from parcours.eventstore import (
    NO_STREAM,
    EventStore,
    PreconditionFailedError,
    StoredEvent,
    VersionConflictError,
)
from pathways.fact_checks import fact_problem
from pathways.fastids import new_uuid4
from pathways.identity import check_identity, trait_values, traits_json, traits_jsonb


class FactAccepted(msgspec.Struct, frozen=True):
    event_id: uuid.UUID
    stream: str
    position: int
    version: int
    duplicate: bool = False
    consequences: int = 0  # events the protocols derived from the fact


class PatientHistory(msgspec.Struct, frozen=True):
    patient_id: uuid.UUID
    known: bool  # False: first fact for this INS, the identity row is still to be written
    zone: str | None
    traits: str
    events: list[StoredEvent]

    @property
    def version(self) -> int:
        return self.events[-1].version if self.events else NO_STREAM


# (history, fact, zone, now) -> the events that follow from the fact
Decide = Callable[[PatientHistory, NewEvent, dt.datetime], list[NewEvent]]


def no_consequences(history: PatientHistory, fact: NewEvent, now: dt.datetime) -> list[NewEvent]:
    return []


_LOAD = """
SELECT i.patient_id, i.commune, i.traits::text AS traits,
       e.position, e.txid::text::bigint AS txid, e.event_id, e.stream, e.version, e.type, e.cpts,
       e.occurred_at, e.recorded_at, e.correlation_id, e.causation_id, e.actor_id,
       e.actor_role, e.schema_version, e.data::text AS data
FROM patient_identities i
LEFT JOIN events e ON e.stream = 'patient-' || i.patient_id::text
WHERE i.cpts = $1 AND i.ins = $2
ORDER BY e.version
"""

_NEW_IDENTITY = f"""INSERT INTO patient_identities (cpts, ins, ins_oid, patient_id, traits, commune)
VALUES ($4, $5, $6, $7, {traits_jsonb("($8::text[])[{k}]")}, $9)  -- after the append's $1..$3
ON CONFLICT (cpts, ins) DO NOTHING
RETURNING 1"""

_EVENT_FIELDS = StoredEvent.__struct_fields__


async def load_patient(
    conn: asyncpg.Connection, cpts: str, identity: PatientIdentity
) -> PatientHistory:
    rows = await conn.fetch(_LOAD, cpts, identity.ins.upper())
    if not rows:
        return PatientHistory(
            patient_id=new_uuid4(), known=False, zone=identity.commune, traits="{}", events=[]
        )
    first = rows[0]
    events = [
        StoredEvent(*(r[f] for f in _EVENT_FIELDS)) for r in rows if r["position"] is not None
    ]
    return PatientHistory(
        patient_id=first["patient_id"],
        known=True,
        zone=first["commune"] or identity.commune,
        traits=first["traits"],
        events=events,
    )


async def _update_traits(
    conn: asyncpg.Connection, cpts: str, identity: PatientIdentity, stored: str
) -> None:
    fresh = traits_json(identity)
    if fresh != "{}" and msgspec.json.decode(fresh).items() - msgspec.json.decode(stored).items():
        await conn.execute(
            f"""UPDATE patient_identities SET traits = traits || {traits_jsonb("($3::text[])[{k}]")},
                      commune = coalesce($4, commune), updated_at = now()
               WHERE cpts = $1 AND ins = $2""",
            cpts,
            identity.ins.upper(),
            trait_values(msgspec.json.decode(fresh)),
            identity.commune,
        )


def checked_fact(
    principal: Principal, body: msgspec.Struct, correlation_id: str, now: dt.datetime
) -> tuple[PatientIdentity, NewEvent]:
    """The patient and the fact to append, once the body passed the checks (else a 422)."""
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


async def record_fact(
    pool: asyncpg.Pool,
    principal: Principal,
    body: msgspec.Struct,
    correlation_id: str,
    now: dt.datetime,
    decide: Decide = no_consequences,
) -> FactAccepted:
    identity, fact = checked_fact(principal, body, correlation_id, now)
    async with pool.acquire() as conn:
        return await append_fact(conn, principal.cpts, identity, fact, now, decide)


async def append_fact(
    conn: asyncpg.Connection,
    cpts: str,
    identity: PatientIdentity,
    fact: NewEvent,
    now: dt.datetime,
    decide: Decide = no_consequences,
) -> FactAccepted:
    return await append_for_patient(
        conn, cpts, identity, lambda history: [fact, *decide(history, fact, now)]
    )


async def append_for_patient(
    conn: asyncpg.Connection,
    cpts: str,
    identity: PatientIdentity,
    events_for: Callable[[PatientHistory], list[NewEvent]],
) -> FactAccepted:
    """Append what ``events_for(history)`` decides to the patient's stream, deciding
    again when another writer moved it; the first event answers for the append."""
    store = EventStore(conn)
    for _attempt in range(8):
        history = await load_patient(conn, cpts, identity)
        events = events_for(history)
        stream = patient_stream(history.patient_id)
        before = None
        if not history.known:
            before = (_NEW_IDENTITY, _identity_args(cpts, identity, history.patient_id))
        try:
            result = await store.append(stream, history.version, events, before=before)
        except (VersionConflictError, PreconditionFailedError):
            continue  # another writer moved this patient's stream: decide again
        if history.known and not result.duplicate:
            await _update_traits(conn, cpts, identity, history.traits)
        return FactAccepted(
            event_id=events[0].event_id,
            stream=stream,
            position=result.positions[0],
            version=result.version,
            duplicate=result.duplicate,
            consequences=0 if result.duplicate else len(events) - 1,
        )
    raise VersionConflictError(patient_stream(history.patient_id), history.version, -1)


def _identity_args(cpts: str, identity: PatientIdentity, patient_id: uuid.UUID) -> Sequence[object]:
    return (
        cpts,
        identity.ins.upper(),
        identity.oid,
        patient_id,
        trait_values(msgspec.json.decode(traits_json(identity))),
        identity.commune,
    )
