"""Recording many facts at once: ``POST /v1/facts:batch`` and the group commit.

A fixed number of round trips whatever the size, every write through the one
write path (``PatientStreams``):

1. the body's items are decoded and checked (``batch_body``);
2. identities: every INS's patient with their stream's events in one query, the
   new ones in one statement (``identities.find_patients``);
3. re-sent event ids: one lookup (``EventStore.recorded``). The same content
   answers 200 with the original position and writes nothing; other content is
   a 409;
4. per patient, its items in order are decided (``RecordFact``, the decision of
   ``POST /v1/facts``), each on the state the previous one left;
5. appends of many streams in chunks (one statement each), two chunks in flight
   while the next is decided; a stream another writer moved is reloaded and
   decided again by the repository. A stream the store refuses as a whole for an
   event id stored meanwhile by another request is recorded again item by item,
   each with its own answer (200 for a replay, 409 for other content).

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
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from parcours.auth import Principal
from parcours.eventstore import (
    AppendResult,
    DuplicateEventError,
    EventStore,
    VersionConflictError,
)
from parcours.problems import Problem
from pathways.batch_body import Item, RawItem, decode_items, item_problem
from pathways.errors import domain_problem
from pathways.identities import Patient, find_patients, fresh_traits, update_traits
from pathways.ingest import record_command
from pathways.streams import PatientStreams, StreamWrite

CHUNK_EVENTS = 8_000  # events per INSERT statement
IN_FLIGHT = 2  # chunks being written while the next one is decided


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


async def record_batch(
    streams: PatientStreams,
    principal: Principal,
    raws: Sequence[RawItem],
    correlation_id: str,
    now: dt.datetime,
) -> BatchAnswer:
    """Decode the items and record the valid ones (``record_items``)."""
    items, problems = decode_items(raws, principal, correlation_id, now)
    results = {i: ItemResult(index=i, status=422, problem=p) for i, p in problems.items()}
    await record_items(streams, principal.cpts, items, results, now)
    ordered = [results[i] for i in sorted(results)]
    return BatchAnswer(
        items=len(raws),
        created=sum(r.status == 201 for r in ordered),
        duplicates=sum(r.status == 200 for r in ordered),
        failed=sum(r.status >= 400 for r in ordered),
        results=ordered,
    )


async def record_items(
    streams: PatientStreams,
    cpts: str,
    items: Sequence[Item],
    results: dict[int, ItemResult],
    now: dt.datetime,
) -> dict[int, int]:
    """Record checked items of one CPTS in bulk; every item gets its answer in
    ``results``. Returned: for each item recorded (201), the stream version after its
    fact and its consequences."""
    versions: dict[int, int] = {}
    if not items:
        return versions
    by_ins: dict[str, list[Item]] = {}
    for it in items:
        by_ins.setdefault(it.ins, []).append(it)
    async with streams.pool.acquire() as conn:
        patients = await find_patients(
            conn, cpts, {ins: [it.identity for it in its] for ins, its in by_ins.items()}
        )
        stream_of = {p.ins: p.stream for p in patients.values()}
        repeated = await _answer_resent(EventStore(conn), items, stream_of, results)

    writes: list[tuple[Patient, list[Item], StreamWrite]] = []
    for ins, its in by_ins.items():
        patient = patients[ins]
        todo = [it for it in its if it.index not in results]
        if not todo:
            continue
        zone = patient.commune
        w = StreamWrite(
            patient.stream,
            [record_command(it.fact, zone or it.identity.commune) for it in todo],
        )
        streams.seed(w, patient.rows)
        writes.append((patient, todo, w))

    with gc_paused():
        await _decide_and_write(streams, [w for _, _, w in writes], now)
        again = _answer_written(writes, results, versions)
        traits = [
            t
            for patient, todo, _ in writes
            if (t := fresh_traits(patient, [it.identity for it in todo if it.index in versions]))
        ]
        del writes  # ~200,000 objects freed at once, never scanned by the collector
    if again:
        await streams.write([w for _, w in again], now)
        for it, w in again:
            _answer([it], w, results, versions)
    if traits:
        async with streams.pool.acquire() as conn:
            await update_traits(conn, cpts, traits)
    for index, first in repeated.items():  # an event id repeated inside the batch
        r = results[first]
        results[index] = (
            ItemResult(index, 200, r.event_id, r.position, r.stream, 0)
            if r.status in (200, 201)
            else msgspec.structs.replace(r, index=index)
        )
    return versions


def _answer_written(
    writes: Sequence[tuple[Patient, list[Item], StreamWrite]],
    results: dict[int, ItemResult],
    versions: dict[int, int],
) -> list[tuple[Item, StreamWrite]]:
    """Answer the items of each write; returned: the items to write again one by one (a
    stream the store refused for an event id stored meanwhile by another request)."""
    again: list[tuple[Item, StreamWrite]] = []
    for _patient, todo, w in writes:
        if w.written or w.result is None or isinstance(w.result, VersionConflictError):
            _answer(todo, w, results, versions)  # written, every item refused, or gave up
        else:
            again += [(it, StreamWrite(w.stream, [w.commands[n]])) for n, it in enumerate(todo)]
    return again


async def _decide_and_write(
    streams: PatientStreams, writes: Sequence[StreamWrite], now: dt.datetime
) -> None:
    """Decide stream after stream; each full chunk is written while the next is decided."""
    ctx = streams.context(now)
    tasks: list[asyncio.Task[None]] = []
    chunk: list[StreamWrite] = []
    size = 0
    for n, w in enumerate(writes):
        streams.decide(w, ctx)
        if w.events:
            chunk.append(w)
            size += len(w.events)
        if size >= CHUNK_EVENTS:
            tasks = [t for t in tasks if not t.done()]
            if len(tasks) >= IN_FLIGHT:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks.append(asyncio.create_task(streams.write(chunk, now)))
            chunk, size = [], 0
        if n % 64 == 63:
            await asyncio.sleep(0)  # let the chunks in flight reach PostgreSQL
    if chunk:
        tasks.append(asyncio.create_task(streams.write(chunk, now)))
    if tasks:
        done = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [d for d in done if isinstance(d, BaseException)]
        if errors:
            raise errors[0]


def _answer(
    items: Sequence[Item],
    w: StreamWrite,
    results: dict[int, ItemResult],
    versions: dict[int, int],
) -> None:
    """Each item's answer from its outcome in a write (a stream with nothing to write
    has refused items only)."""
    result = w.result
    for it, outcome in zip(items, w.outcomes, strict=True):
        eid = it.fact.event_id
        if outcome.refused is not None:
            p = domain_problem(outcome.refused)
            status = p.status if isinstance(p, Problem) and p.status in (409, 422) else 409
            title = p.title if isinstance(p, Problem) else "Refused"
            problem = item_problem(Problem(status, title, str(outcome.refused)))
            results[it.index] = ItemResult(it.index, status, eid, problem=problem)
        elif isinstance(result, AppendResult) and result.duplicate:
            results[it.index] = ItemResult(it.index, 200, eid, result.positions[0], w.stream, 0)
        elif isinstance(result, AppendResult):
            caused = str(eid)
            results[it.index] = ItemResult(
                it.index,
                201,
                eid,
                result.positions[outcome.offset],
                w.stream,
                sum(e.causation_id == caused for e in outcome.events),
            )
            versions[it.index] = w.version_after(outcome)
        elif isinstance(result, DuplicateEventError):
            results[it.index] = _duplicate(it.index, eid)
        else:
            title = "Version conflict" if result is not None else "Conflict"
            problem = item_problem(Problem(409, title, str(result)))
            results[it.index] = ItemResult(it.index, 409, eid, problem=problem)


async def _answer_resent(
    store: EventStore,
    items: Sequence[Item],
    stream_of: dict[str, str],
    results: dict[int, ItemResult],
) -> dict[int, int]:
    """Items whose event id is already stored are answered now; an id repeated inside the
    batch with the same content gets the first one's answer (returned: index -> first)."""
    sent = [it.fact.event_id for it in items if it.sent_id]
    stored = await store.recorded(sent, items[0].fact.cpts) if sent else {}
    first: dict[uuid.UUID, Item] = {}
    repeated: dict[int, int] = {}
    for it in items:
        if it.index in results:
            continue
        eid = it.fact.event_id
        row = stored.get(eid)
        if row is not None:
            results[it.index] = (
                ItemResult(it.index, 200, eid, row.position, row.stream)
                if row.same_as(stream_of.get(it.ins, ""), it.fact)
                else _duplicate(it.index, eid)
            )
        elif it.sent_id:
            earlier = first.setdefault(eid, it)
            if earlier is not it:  # repeated inside the batch: the first one is recorded
                same = earlier.ins == it.ins and earlier.fact.data == it.fact.data
                # answered for now (so it is not decided); the first one's answer replaces it
                results[it.index] = _duplicate(it.index, eid)
                if same:
                    repeated[it.index] = earlier.index
    return repeated


def _duplicate(index: int, event_id: uuid.UUID) -> ItemResult:
    problem = Problem(
        409,
        "Duplicate event id",
        f"event {event_id} was already recorded with different content; "
        "choose a new event_id for a new fact",
        field="event_id",
    )
    return ItemResult(index=index, status=409, event_id=event_id, problem=item_problem(problem))
