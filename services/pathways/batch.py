"""Recording many facts in one request (``POST /v1/facts:batch``, backfills).

The work is done in bulk: a fixed number of round trips whatever the size.

1. Every item is decoded and validated on its own: a bad JSON line, a schema
   violation, a bad INS or an unknown type fails that item only (422, with its
   index, field path and reason).
2. Identities: one SELECT of the known INS, one ``INSERT ... ON CONFLICT DO
   NOTHING RETURNING`` of the new ones; the losers of a race with a concurrent
   writer are read again.
3. Re-sent event ids: one SELECT. The same content answers 200 with the
   original position and writes nothing; other content is a 409.
4. Histories: one SELECT of every known patient's stream (``stream = ANY($1)``).
5. Per patient, in Python: its items in order, each decided (``RecordFact``,
   the same decision as ``POST /v1/facts``) on the state the previous one left.
6. Appends: ``EventStore.append_many`` in chunks (one statement each), two
   chunks in flight while the next is decided. A stream that conflicts (a
   concurrent writer moved it) is recorded again item by item through the
   single-fact path, which decides again on the newer state.

Steps 2 to 6 are ``record_items`` (items already decoded): the batch endpoint and the
group commit of ``POST /v1/facts`` (``pathways.group_commit``) both record through it.

Atomicity is per patient stream, not per batch: a failure half-way leaves the
chunks already committed; sending the batch again with the same ``event_id``
values then answers 200 for those and records the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import asyncpg
import msgspec

from contracts.events import Actor, NewEvent, patient_stream, payload_decoder, tag_of
from contracts.facts import FACT_TYPES, INBOUND_FACTS, occurred_at, payload_of
from contracts.identity import INS_OIDS, PatientIdentity, ins_problem
from parcours.auth import Principal
from parcours.eventstore import (
    AppendRequest,
    AppendResult,
    DuplicateEventError,
    EventStore,
    EventStoreError,
    VersionConflictError,
)
from parcours.problems import schema_problem
from pathways.decider import SYSTEM, PathwayDecider
from pathways.domain import DecideContext, DomainError, PatientState, RecordFact, fold
from pathways.domain.decision import Decision
from pathways.domain.recording import record_fact
from pathways.errors import domain_problem
from pathways.fact_checks import fact_problem
from pathways.fastids import new_uuid4
from pathways.identity import trait_values, traits_json, traits_jsonb
from pathways.ingest import append_fact
from pathways.scheduler import StateCache

MAX_ITEMS = 10_000
CHUNK_EVENTS = 8_000  # events per INSERT statement
IN_FLIGHT = 2  # chunks being written while the next one is decided

_item_decoder = msgspec.json.Decoder(Union[tuple(INBOUND_FACTS.values())])  # type: ignore[misc]  # noqa: UP007
_array_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_json = msgspec.json.Encoder()


class ItemResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """One item's answer: 201 recorded, 200 already recorded, 422 invalid, 409 conflict."""

    index: int
    status: int
    event_id: uuid.UUID | None = None
    position: int | None = None
    stream: str | None = None
    consequences: int | None = None
    problem: dict[str, Any] | None = None


class BatchAnswer(msgspec.Struct, frozen=True):
    items: int
    created: int
    duplicates: int
    failed: int
    results: list[ItemResult]


class BatchTooLargeError(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"a batch holds at most {MAX_ITEMS} facts, this one has {count}: split it")
        self.count = count


class BatchBodyError(Exception):
    """The body as a whole cannot be read (not a JSON array, malformed JSON)."""


def problem(
    status: int, title: str, detail: str, field: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "title": title, "detail": detail}
    if field:
        body["field"] = field
    body.update(extra)
    return body


_gc_pauses = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch builds its ~200,000 objects (none of
    them cyclic): the collector would otherwise rescan them again and again (1.5x)."""
    global _gc_pauses
    _gc_pauses += 1
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and was_enabled:
            gc.enable()


# -- 1. decoding and validation ---------------------------------------------------------


@dataclass(slots=True)
class RawItem:
    index: int
    raw: bytes | msgspec.Raw
    line: int | None = None  # NDJSON line number (from 1)


def split_body(body: bytes, ndjson: bool) -> list[RawItem]:
    """The items of a JSON array or of NDJSON (one fact per non-blank line)."""
    if ndjson:
        items = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if line.strip():
                items.append(RawItem(len(items), line, number))
                if len(items) > MAX_ITEMS:
                    raise BatchTooLargeError(body.count(b"\n") + 1)
        return items
    try:
        raws = _array_decoder.decode(body)
    except msgspec.ValidationError:
        raise BatchBodyError(
            "the body is a JSON array of facts (application/json), "
            "or one fact per line (application/x-ndjson)"
        ) from None
    except msgspec.DecodeError as exc:
        raise BatchBodyError(f"the body is not valid JSON: {exc}") from None
    if len(raws) > MAX_ITEMS:
        raise BatchTooLargeError(len(raws))
    return [RawItem(i, r) for i, r in enumerate(raws)]


def _schema_problem(message: str) -> dict[str, Any]:
    p = schema_problem(message, FACT_TYPES)
    return problem(p.status, p.title, p.detail, p.field, **p.extra)


def _identity_problem(identity: PatientIdentity) -> dict[str, Any] | None:
    why = ins_problem(identity.ins)
    if why:
        return problem(422, "Invalid INS", why, "patient.ins")
    if identity.oid not in INS_OIDS:
        return problem(
            422,
            "Invalid INS OID",
            f"the INS OID must be one of {', '.join(sorted(INS_OIDS))}",
            "patient.oid",
        )
    return None


@dataclass(slots=True)
class Item:
    index: int
    ins: str
    identity: PatientIdentity
    fact: NewEvent
    sent_id: bool  # the sender chose the event id (re-sending is then idempotent)


def decode_items(
    raws: Sequence[RawItem], principal: Principal, correlation_id: str, now: dt.datetime
) -> tuple[list[Item], dict[int, ItemResult]]:
    """Valid items, and the answers of the invalid ones by index (the checks of
    ``POST /v1/facts``: schema, INS, plausible dates)."""
    items: list[Item] = []
    failed: dict[int, ItemResult] = {}
    actor = Actor(id=principal.sub, role=principal.actor_role)
    for r in raws:
        try:
            body = _item_decoder.decode(r.raw)
        except msgspec.ValidationError as exc:
            p = _schema_problem(str(exc))
        except msgspec.DecodeError as exc:
            p = problem(422, "Malformed JSON", f"the item is not valid JSON: {exc}")
        else:
            identity: PatientIdentity = body.patient
            p = _identity_problem(identity)
            payload = payload_of(body) if p is None else None
            implausible = fact_problem(payload, now) if payload is not None else None
            if implausible is not None:
                p = problem(422, implausible.title, implausible.detail, implausible.field)
            elif payload is not None:
                items.append(
                    Item(
                        index=r.index,
                        ins=identity.ins.upper(),
                        identity=identity,
                        fact=NewEvent(
                            event_id=body.event_id or uuid.uuid4(),
                            data=payload,
                            occurred_at=occurred_at(payload),
                            correlation_id=body.correlation_id or correlation_id,
                            causation_id=None,
                            actor=actor,
                            cpts=principal.cpts,
                        ),
                        sent_id=body.event_id is not None,
                    )
                )
                continue
        if r.line is not None:
            p["line"] = r.line
        failed[r.index] = ItemResult(index=r.index, status=422, problem=p)
    return items, failed


# -- 2.-6. recording ----------------------------------------------------------------------


@dataclass(slots=True)
class Patient:
    ins: str
    patient_id: uuid.UUID
    known: bool  # had an identity row before this batch
    commune: str | None
    stored_traits: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    version: int = 0
    state: PatientState | None = None  # after its items were decided


# One primary-key lookup per INS, whatever the statistics say (on a table that grew fast
# since its last ANALYZE, ``ins = ANY($2)`` was planned as a scan of the whole CPTS;
# OFFSET 0 keeps the planner from flattening the lookup back into that).
_KNOWN = """SELECT p.ins, p.patient_id, p.commune, p.traits::text AS traits
FROM unnest($2::text[]) AS k(ins),
     LATERAL (SELECT * FROM patient_identities i WHERE i.cpts = $1 AND i.ins = k.ins OFFSET 0) AS p"""

# traits: one row of trait values per patient ($5 and $3: text[][], see pathways.identity)
_NEW = f"""INSERT INTO patient_identities (cpts, ins, ins_oid, patient_id, traits, commune)
SELECT $1, n.ins, n.oid, n.patient_id, {traits_jsonb("($5::text[])[n.ord][{k}]")}, n.commune
FROM unnest($2::text[], $3::text[], $4::uuid[], $6::text[]) WITH ORDINALITY
     AS n(ins, oid, patient_id, commune, ord)
ON CONFLICT (cpts, ins) DO NOTHING
RETURNING ins"""

_TRAITS = f"""UPDATE patient_identities p
SET traits = p.traits || {traits_jsonb("($3::text[])[u.ord][{k}]")},
    commune = coalesce(u.commune, p.commune), updated_at = now()
FROM unnest($2::text[], $4::text[]) WITH ORDINALITY AS u(ins, commune, ord)
WHERE p.cpts = $1 AND p.ins = u.ins"""

_SEEN = """SELECT event_id, stream, position, type, data::text AS data FROM events
WHERE event_id = ANY($1::uuid[]) AND cpts = $2"""  # event ids are unique per CPTS

_HISTORIES = """SELECT stream, version, event_id, data::text AS data FROM events
WHERE stream = ANY($1::text[]) ORDER BY stream, version"""


def _traits_of(items: Sequence[Item]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for it in items:
        merged.update(msgspec.json.decode(traits_json(it.identity)))
    return merged


def _commune_of(items: Sequence[Item]) -> str | None:
    return next((it.identity.commune for it in items if it.identity.commune), None)


async def resolve_identities(
    conn: asyncpg.Connection, cpts: str, items: Sequence[Item]
) -> dict[str, Patient]:
    by_ins: dict[str, list[Item]] = {}
    for it in items:
        by_ins.setdefault(it.ins, []).append(it)
    patients: dict[str, Patient] = {}

    def known(rows: Sequence[asyncpg.Record]) -> None:
        for r in rows:
            patients[r["ins"]] = Patient(
                ins=r["ins"],
                patient_id=r["patient_id"],
                known=True,
                commune=r["commune"],
                stored_traits=msgspec.json.decode(r["traits"]),
                items=by_ins[r["ins"]],
            )

    known(await conn.fetch(_KNOWN, cpts, list(by_ins)))
    new = [ins for ins in by_ins if ins not in patients]
    if new:
        ids = {ins: new_uuid4() for ins in new}
        traits = {ins: _traits_of(by_ins[ins]) for ins in new}
        won = await conn.fetch(
            _NEW,
            cpts,
            new,
            [by_ins[ins][0].identity.oid for ins in new],
            [ids[ins] for ins in new],
            [trait_values(traits[ins]) for ins in new],
            [_commune_of(by_ins[ins]) for ins in new],
        )
        for r in won:
            ins = r["ins"]
            patients[ins] = Patient(
                ins=ins,
                patient_id=ids[ins],
                known=False,
                commune=_commune_of(by_ins[ins]),
                stored_traits=traits[ins],
                items=by_ins[ins],
            )
        losers = [ins for ins in new if ins not in patients]
        if losers:  # a concurrent writer recorded them first: theirs is the patient id
            known(await conn.fetch(_KNOWN, cpts, losers))
    return patients


class _Pending(msgspec.Struct):
    """An item decided and waiting for its append: where its fact sits in the request."""

    item: Item
    offset: int
    consequences: int


async def record_batch(
    pool: asyncpg.Pool,
    principal: Principal,
    raws: Sequence[RawItem],
    correlation_id: str,
    now: dt.datetime,
    decider: PathwayDecider,
    states: StateCache | None = None,
) -> BatchAnswer:
    """Decode the items and record the valid ones (``record_items``)."""
    items, results = decode_items(raws, principal, correlation_id, now)
    await record_items(pool, principal.cpts, items, results, now, decider, states)
    ordered = [results[i] for i in sorted(results)]
    return BatchAnswer(
        items=len(raws),
        created=sum(r.status == 201 for r in ordered),
        duplicates=sum(r.status == 200 for r in ordered),
        failed=sum(r.status >= 400 for r in ordered),
        results=ordered,
    )


async def record_items(
    pool: asyncpg.Pool,
    cpts: str,
    items: Sequence[Item],
    results: dict[int, ItemResult],
    now: dt.datetime,
    decider: PathwayDecider,
    states: StateCache | None = None,
) -> dict[int, int]:
    """Record decoded items of one CPTS in bulk (steps 2 to 6); every item gets its answer
    in ``results``. Returned: for each item recorded (201), the stream version after its
    fact and its consequences. ``states`` (the scheduler's cache) receives every
    patient's state as written, so the scheduler need not read and fold these streams
    again. Used by ``POST /v1/facts:batch`` and by the group commit of ``POST /v1/facts``.
    """
    versions: dict[int, int] = {}
    if not items:
        return versions
    async with pool.acquire() as conn:
        patients = await resolve_identities(conn, cpts, items)
        stream_of = {p.ins: patient_stream(p.patient_id) for p in patients.values()}
        repeated = await _answer_resent(conn, items, stream_of, results)
        todo = [p for p in patients.values() if any(it.index not in results for it in p.items)]
        histories = await _histories(
            conn, [stream_of[p.ins] for p in todo if p.known], {p.ins: p for p in todo}, stream_of
        )

    retry: list[Patient] = []

    async def write(batch: list[tuple[Patient, AppendRequest, list[_Pending]]]) -> None:
        batch.sort(key=lambda b: b[1].stream)  # one order for all writers: no deadlock cycle
        async with pool.acquire() as c:
            answers = await EventStore(c).append_many([req for _, req, _ in batch], conn=c)
        for (patient, req, pending), answer in zip(batch, answers, strict=True):
            if isinstance(answer, AppendResult) and not answer.duplicate:
                if states is not None and patient.state is not None:
                    states.put(req.stream, answer.version, patient.state)
                for p in pending:
                    index = p.item.index
                    results[index] = ItemResult(
                        index=index,
                        status=201,
                        event_id=p.item.fact.event_id,
                        position=answer.positions[p.offset],
                        stream=req.stream,
                        consequences=p.consequences,
                    )
                    versions[index] = req.expected_version + p.offset + 1 + p.consequences
            else:
                retry.append(patient)

    ctx = DecideContext(now=now, new_id=new_uuid4, catalog=decider.catalog)
    with gc_paused():
        await _decide_and_write(todo, histories, stream_of, ctx, results, write)

    if retry:
        async with pool.acquire() as conn:
            for patient in retry:
                await _record_one_by_one(conn, cpts, patient, now, decider, results, versions)
    if traits := _new_traits(patients, results):
        async with pool.acquire() as conn:
            await conn.execute(_TRAITS, cpts, *_columns(traits, 3))
    for index, first in repeated.items():  # an event id repeated inside the batch
        r = results[first]
        results[index] = (
            ItemResult(index, 200, r.event_id, r.position, r.stream, 0)
            if r.status in (200, 201)
            else msgspec.structs.replace(r, index=index)
        )
    return versions


Chunk = list[tuple[Patient, AppendRequest, list[_Pending]]]


async def _decide_and_write(
    todo: Sequence[Patient],
    histories: dict[str, PatientState],
    stream_of: dict[str, str],
    ctx: DecideContext,
    results: dict[int, ItemResult],
    write: Callable[[Chunk], Awaitable[None]],
) -> None:
    """Decide patient after patient; each full chunk is written while the next is decided."""
    tasks: list[asyncio.Task[None]] = []
    chunk: Chunk = []
    size = 0
    for n, patient in enumerate(todo):
        state = histories.get(patient.ins) or PatientState()
        events, pending = _decide_patient(patient, state, ctx, results)
        if events:
            request = AppendRequest(stream_of[patient.ins], patient.version, events)
            chunk.append((patient, request, pending))
            size += len(events)
        if size >= CHUNK_EVENTS:
            tasks = [t for t in tasks if not t.done()]
            if len(tasks) >= IN_FLIGHT:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks.append(asyncio.create_task(write(chunk)))
            chunk, size = [], 0
        if n % 64 == 63:
            await asyncio.sleep(0)  # let the chunks in flight reach PostgreSQL
    if chunk:
        tasks.append(asyncio.create_task(write(chunk)))
    if tasks:
        done = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [d for d in done if isinstance(d, BaseException)]
        if errors:
            raise errors[0]


async def _answer_resent(
    conn: asyncpg.Connection,
    items: Sequence[Item],
    stream_of: dict[str, str],
    results: dict[int, ItemResult],
) -> dict[int, int]:
    """Items whose event id is already stored are answered now; an id repeated inside the
    batch with the same content gets the first one's answer (returned: index -> first)."""
    sent = [it.fact.event_id for it in items if it.sent_id]
    cpts = items[0].fact.cpts if items else ""
    stored = {r["event_id"]: r for r in await conn.fetch(_SEEN, sent, cpts)} if sent else {}
    first: dict[uuid.UUID, Item] = {}
    repeated: dict[int, int] = {}
    for it in items:
        if it.index in results:
            continue
        eid = it.fact.event_id
        row = stored.get(eid)
        if row is not None:
            same = (
                row["stream"] == stream_of.get(it.ins)
                and row["type"] == tag_of(it.fact.data)
                and msgspec.json.decode(row["data"])
                == msgspec.json.decode(_json.encode(it.fact.data))
            )
            results[it.index] = (
                ItemResult(
                    index=it.index,
                    status=200,
                    event_id=eid,
                    position=row["position"],
                    stream=row["stream"],
                )
                if same
                else _duplicate(it.index, eid)
            )
        elif it.sent_id:
            earlier = first.setdefault(eid, it)
            if earlier is not it:  # repeated inside the batch: the first one is recorded
                same = earlier.ins == it.ins and _json.encode(earlier.fact.data) == _json.encode(
                    it.fact.data
                )
                # answered for now (so it is not decided); the first one's answer replaces it
                results[it.index] = _duplicate(it.index, eid)
                if same:
                    repeated[it.index] = earlier.index
    return repeated


def _duplicate(index: int, event_id: uuid.UUID) -> ItemResult:
    return ItemResult(
        index=index,
        status=409,
        event_id=event_id,
        problem=problem(
            409,
            "Duplicate event id",
            f"event {event_id} was already recorded with different content; "
            "choose a new event_id for a new fact",
            "event_id",
        ),
    )


async def _histories(
    conn: asyncpg.Connection,
    streams: list[str],
    by_ins: dict[str, Patient],
    stream_of: dict[str, str],
) -> dict[str, PatientState]:
    """Every known patient's state, folded from one read of their streams."""
    if not streams:
        return {}
    ins_of = {s: ins for ins, s in stream_of.items()}
    events: dict[str, list[tuple[uuid.UUID, Any]]] = {}
    for r in await conn.fetch(_HISTORIES, streams):
        events.setdefault(r["stream"], []).append(
            (r["event_id"], payload_decoder.decode(r["data"]))
        )
        by_ins[ins_of[r["stream"]]].version = r["version"]
    return {ins_of[s]: fold(evs) for s, evs in events.items()}


def _decide_patient(
    patient: Patient, state: PatientState, ctx: DecideContext, results: dict[int, ItemResult]
) -> tuple[list[NewEvent], list[_Pending]]:
    """The patient's new items in order, each decided on the state the previous one left."""
    events: list[NewEvent] = []
    pending: list[_Pending] = []
    for it in patient.items:
        if it.index in results:
            continue
        fact = it.fact
        command = RecordFact(
            actor_id=fact.actor.id,
            actor_role=fact.actor.role,
            event_id=fact.event_id,
            fact=fact.data,
            zone=patient.commune or it.identity.commune,
        )
        decision = Decision(state, ctx)
        try:
            record_fact(command, decision)  # what ``decide`` does, keeping the state it reached
        except DomainError as exc:
            p = domain_problem(exc)
            status = getattr(p, "status", 409)
            results[it.index] = ItemResult(
                index=it.index,
                status=status if status in (409, 422) else 409,
                event_id=fact.event_id,
                problem=problem(status, getattr(p, "title", "Refused"), str(exc)),
            )
            continue
        state = decision.state
        causation = str(fact.event_id)
        consequences = [
            NewEvent(
                event_id=new_uuid4(),
                data=p,
                occurred_at=fact.occurred_at,
                correlation_id=fact.correlation_id,
                causation_id=causation,
                actor=SYSTEM,
                cpts=fact.cpts,
            )
            for p in decision.events
        ]  # as ``decider.wrap``
        pending.append(_Pending(it, len(events), len(consequences)))
        events.append(fact)
        events += consequences
    patient.state = state
    return events, pending


async def _record_one_by_one(
    conn: asyncpg.Connection,
    cpts: str,
    patient: Patient,
    now: dt.datetime,
    decider: PathwayDecider,
    results: dict[int, ItemResult],
    versions: dict[int, int],
) -> None:
    """A stream that conflicted: its items through the single-fact path, in order."""
    for it in patient.items:
        if it.index in results:
            continue
        try:
            accepted = await append_fact(
                conn, cpts, it.identity, it.fact, now, decider.consequences
            )
        except DuplicateEventError:
            results[it.index] = _duplicate(it.index, it.fact.event_id)
            continue
        except VersionConflictError as exc:
            results[it.index] = ItemResult(
                index=it.index,
                status=409,
                event_id=it.fact.event_id,
                problem=problem(409, "Version conflict", str(exc)),
            )
            continue
        except EventStoreError as exc:  # pragma: no cover - any other refusal of the store
            results[it.index] = ItemResult(
                index=it.index,
                status=409,
                event_id=it.fact.event_id,
                problem=problem(409, "Conflict", str(exc)),
            )
            continue
        if not accepted.duplicate:
            versions[it.index] = accepted.version
        results[it.index] = ItemResult(
            index=it.index,
            status=200 if accepted.duplicate else 201,
            event_id=accepted.event_id,
            position=accepted.position,
            stream=accepted.stream,
            consequences=accepted.consequences,
        )


def _new_traits(
    patients: dict[str, Patient], results: dict[int, ItemResult]
) -> list[tuple[str, list[str | None], str | None]]:
    """Known patients whose new facts bring identity traits the table lacks: (INS, trait
    values, commune) for ``_TRAITS``."""
    rows: list[tuple[str, list[str | None], str | None]] = []
    for p in patients.values():
        if not p.known:
            continue
        written = [it for it in p.items if results.get(it.index, ItemResult(0, 0)).status == 201]
        if not written:
            continue
        fresh = _traits_of(written)
        if fresh.items() - p.stored_traits.items():
            rows.append((p.ins, trait_values(fresh), _commune_of(written)))
    return rows


def _columns(rows: Sequence[tuple], width: int) -> list[list]:
    return [[r[i] for r in rows] for i in range(width)]
