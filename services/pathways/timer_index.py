"""The timer index: a projection of the event store that the scheduler fires from.

``TimerIndex`` reads the event store in commit order (its checkpoint lives in
``store_checkpoints``, written in the same transaction as its rows) and keeps
three tables: the pending timers (``timers_for`` each event; a task that reached
a final status drops its timers), where each task lives and where each enrolment
lives (task commands and migrations find their stream there).

No stored event stops the index: an event it cannot read is dead-lettered as
``pathways-timers`` and its stream parked (its later events wait, in order; see
``parcours.deadletters``), in the transaction of the checkpoint; every other
patient's timers are indexed. The scheduler parks a stream under the same name
when it cannot fold or decide it, and fires no timer of a parked stream.
``parcours dead-letters replay pathways-timers`` indexes the letters after a fix
(``index_replayer``), which lets the stream's timers fire again.
"""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec

from contracts.events import payload_decoder
from parcours.copying import columns_of, copy_or_insert
from parcours.deadletters import DeadLetter, Parked, letter, parked_streams, reason_of, record
from parcours.eventstore import Checkpoint, EventStore
from pathways.domain import timers_cancelled_by, timers_for

CHECKPOINT = "pathways-timers"
INDEXED_TYPES = (
    "TaskScheduled",
    "TaskCompleted",
    "TaskCancelled",
    "TaskRejected",
    "TaskFailed",
    "PatientEnrolled",
    "EnrolmentResumed",
    "EnrolmentPaused",
    "EnrolmentClosed",
    "ProtocolVersionChanged",
    "GPAccessRequested",
    "GPAccessTaken",
    "UnscheduledCareRequested",
)
LAST_POSITION = 2**63 - 1


class TimerIndex:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._lock = asyncio.Lock()

    async def catch_up(self, batch: int = 10_000) -> int:
        """Index every committed event not indexed yet; return how many were read.

        When a read comes back short, every event below its horizon (the oldest
        transaction still in flight) has been seen, indexed or not: the checkpoint moves
        to that horizon, so the events of other types (lab results, visits) are passed
        over once instead of being read again at every round."""
        total = 0
        store = EventStore(self.pool)
        async with self._lock:
            while True:
                checkpoint, horizon = await store.checkpoint_and_horizon(CHECKPOINT)
                events = await store.read_below(checkpoint, horizon, batch, INDEXED_TYPES)
                if len(events) == batch:
                    last = events[-1]
                    await self._index(events, Checkpoint(last["txid"], last["position"]))
                    total += len(events)
                    continue
                seen_all = Checkpoint(horizon - 1, LAST_POSITION)  # every txid below horizon
                if events:
                    await self._index(events, seen_all)
                elif (seen_all.txid, seen_all.position) > (
                    checkpoint.txid,
                    checkpoint.position,
                ) and await store.any_below(checkpoint, horizon):
                    await store.save_checkpoint(CHECKPOINT, seen_all)
                return total + len(events)

    async def _index(self, events: list[asyncpg.Record], checkpoint: Checkpoint) -> None:
        parked = await parked_streams(self.pool, CHECKPOINT, (e["stream"] for e in events))
        rows, letters = _index_rows(events, parked)
        async with self.pool.acquire() as conn, conn.transaction():
            await _write_index(conn, *rows)
            await record(conn, letters)
            await EventStore(conn).save_checkpoint(CHECKPOINT, checkpoint)


def index_replayer(resources, consumer: str):  # type: ignore[no-untyped-def]
    """``parcours dead-letters replay pathways-timers``: index the events now."""

    async def replay(conn: asyncpg.Connection, events: list) -> None:
        records = [msgspec.structs.asdict(e) for e in events]
        rows, letters = _index_rows(records, Parked())
        if letters:
            raise ValueError(letters[0].reason)
        await _write_index(conn, *rows)

    return replay


class _Row(msgspec.Struct, frozen=True):
    """What a dead letter names of an index row (``letter`` reads attributes)."""

    event_id: object
    cpts: str
    stream: str
    type: str
    position: int


def _letter(e, reason: str, behind=None) -> DeadLetter:  # type: ignore[no-untyped-def]
    row = _Row(e["event_id"], e["cpts"], e["stream"], e["type"], e["position"])
    return letter(CHECKPOINT, row, reason, behind)


def _index_rows(events: list, parked: Parked) -> tuple[tuple, list[DeadLetter]]:
    """The index rows of ``events`` (records with event_id, position, stream, type, cpts,
    data), and dead letters for those that cannot be read or wait behind one."""
    timers: list[tuple] = []
    moot: list = []
    tasks: list[tuple] = []
    enrolments: list[tuple] = []
    statuses: dict = {}  # enrolment id -> [status, version], the last change winning
    letters: list[DeadLetter] = []
    requests: list[tuple] = []  # access requests (GP access, unscheduled care)
    for e in events:
        cpts, stream, kind = e["cpts"], e["stream"], e["type"]
        if behind := parked.behind(stream, e["position"]):
            letters.append(_letter(e, "", behind))
            continue
        try:
            payload = payload_decoder.decode(e["data"])
            found = timers_for(payload)
        except Exception as exc:  # noqa: BLE001 - this event only: its stream waits
            letters.append(_letter(e, reason_of(exc)))
            parked.park(stream, e["event_id"], e["position"])
            continue
        for t in found:
            timers.append(
                (t.key, cpts, stream, t.kind, t.fire_at, t.task_id, t.enrolment_id, t.request_id)
            )
        if (task_id := timers_cancelled_by(payload)) is not None:
            moot.append(task_id)
        if kind in ("GPAccessRequested", "UnscheduledCareRequested"):
            which = "gp-access" if kind == "GPAccessRequested" else "unscheduled"
            requests.append((payload.request_id, cpts, stream, which))
        if kind == "TaskScheduled":
            tasks.append((payload.task_id, cpts, stream, payload.enrolment_id))
        elif kind == "PatientEnrolled":
            enrolments.append(
                (
                    payload.enrolment_id,
                    cpts,
                    stream,
                    payload.protocol,
                    str(payload.protocol_version),
                )
            )
        elif kind in ("EnrolmentPaused", "EnrolmentResumed", "EnrolmentClosed"):
            status = {"EnrolmentPaused": "paused", "EnrolmentResumed": "active"}.get(kind, "closed")
            statuses.setdefault(payload.enrolment_id, [None, None])[0] = status
        elif kind == "ProtocolVersionChanged":
            statuses.setdefault(payload.enrolment_id, [None, None])[1] = str(payload.to_version)
    return (enrolments, statuses, tasks, timers, moot, requests), letters


async def _write_index(
    conn: asyncpg.Connection,
    enrolments: list,
    statuses: dict,
    tasks: list,
    timers: list,
    moot: list,
    requests: list,
) -> None:
    # one statement per table (unnest), in the order the rows depend on each other
    if enrolments:
        await conn.execute(_INDEX_ENROLMENTS, *columns_of(enrolments, 5))
    if statuses:
        await conn.execute(
            _INDEX_STATUSES,
            list(statuses),
            [v[0] for v in statuses.values()],
            [v[1] for v in statuses.values()],
        )
    if tasks:
        await copy_or_insert(conn, "task_index", _TASK_COLUMNS, tasks, _INDEX_TASKS)
    if timers:
        await copy_or_insert(conn, "timers", _TIMER_COLUMNS, timers, _INDEX_TIMERS)
    if moot:
        await conn.execute(_DROP_MOOT, moot)
    if requests:
        await conn.execute(_INDEX_REQUESTS, *columns_of(requests, 4))


_TASK_COLUMNS = ("task_id", "cpts", "stream", "enrolment_id")
_TIMER_COLUMNS = (
    "key",
    "cpts",
    "stream",
    "kind",
    "fire_at",
    "task_id",
    "enrolment_id",
    "request_id",
)
_INDEX_ENROLMENTS = """INSERT INTO enrolment_index (enrolment_id, cpts, stream, protocol, version)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
ON CONFLICT DO NOTHING"""
_INDEX_STATUSES = """UPDATE enrolment_index i
SET status = coalesce(u.status, i.status), version = coalesce(u.version, i.version)
FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(enrolment_id, status, version)
WHERE i.enrolment_id = u.enrolment_id"""
_INDEX_TASKS = """INSERT INTO task_index (task_id, cpts, stream, enrolment_id)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[])
ON CONFLICT DO NOTHING"""
_INDEX_TIMERS = """INSERT INTO timers (key, cpts, stream, kind, fire_at, task_id, enrolment_id,
                    request_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::uuid[], $7::uuid[], $8::uuid[])
ON CONFLICT DO NOTHING"""
_INDEX_REQUESTS = """INSERT INTO access_request_index (request_id, cpts, stream, kind)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING"""
_DROP_MOOT = """DELETE FROM timers WHERE ctid = ANY(ARRAY(
    SELECT t.ctid FROM unnest($1::uuid[]) AS k(task_id),
         LATERAL (SELECT ctid FROM timers
                  WHERE task_id = k.task_id AND fired_at IS NULL OFFSET 0) AS t))"""
