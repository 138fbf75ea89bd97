"""Timers in PostgreSQL and the scheduler that fires them.

``TimerIndex`` reads the event store in commit order (its checkpoint lives in
``store_checkpoints``, written in the same transaction as its rows) and keeps
three tables: the pending timers (``timers_for`` each event; a task that reached
a final status drops its timers), where each task lives and where each enrolment
lives. ``Scheduler.fire_due`` claims due timers with ``FOR UPDATE SKIP LOCKED``
(so several instances share the work) and marks them fired in the same
statement, decides ``FireTimer`` for each on its patient's state, and appends
the results of many patients in one statement, in the same transaction (the
timers of a patient whose append conflicts are marked pending again). ``advance_to`` moves a virtual
clock and fires every timer due on the way, in order.

No stored event stops the timer index: an event it cannot read is dead-lettered as
``pathways-timers`` and its stream parked (its later events wait, in order; see
``parcours.deadletters``), in the transaction of the checkpoint; every other
patient's timers are indexed. Firing too: a stream whose events cannot be folded,
or whose timers cannot be decided, is dead-lettered and parked; its timers stay
pending and are not claimed while it is parked (``_NOT_PARKED``), the other
streams of the round fire. ``parcours dead-letters replay pathways-timers``
indexes them after a fix, which lets the stream's timers fire again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict, defaultdict
from contextlib import suppress

import asyncpg
import msgspec
import structlog

from contracts.events import NewEvent, payload_decoder
from parcours.clock import Clock, VirtualClock
from parcours.deadletters import (
    NOT_POISON,
    SYSTEMIC,
    DeadLetter,
    Parked,
    parked_streams,
    reason_of,
    record,
)
from parcours.eventstore import (
    AppendRequest,
    AppendResult,
    Checkpoint,
    EventStore,
)
from pathways.decider import SYSTEM, PathwayDecider
from pathways.domain import (
    DecideContext,
    FireTimer,
    PatientState,
    Timer,
    decide,
    evolve,
    timers_cancelled_by,
    timers_for,
)
from pathways.fastids import new_uuid4

log = structlog.get_logger("pathways.scheduler")

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
)


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
        async with self._lock:
            while True:
                row = await self.pool.fetchrow(_INDEX_START, CHECKPOINT)
                checkpoint = Checkpoint(row["txid"] or 0, row["position"] or 0)
                horizon = row["horizon"]
                events = await self.pool.fetch(
                    _INDEX_READ,
                    str(checkpoint.txid),
                    checkpoint.position,
                    batch,
                    list(INDEXED_TYPES),
                    str(horizon),
                )
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
                ) and await self.pool.fetchval(
                    _PASSED_OVER, str(checkpoint.txid), checkpoint.position, str(horizon)
                ):
                    await EventStore(self.pool).save_checkpoint(CHECKPOINT, seen_all)
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


def _index_rows(events: list, parked: Parked) -> tuple[tuple, list[DeadLetter]]:
    """The index rows of ``events`` (records with event_id, stream, type, cpts, data),
    and dead letters for those that cannot be read or wait behind one."""
    timers: list[tuple] = []
    moot: list = []
    tasks: list[tuple] = []
    enrolments: list[tuple] = []
    statuses: dict = {}  # enrolment id -> [status, version], the last change winning
    letters: list[DeadLetter] = []
    for e in events:
        cpts, stream, kind = e["cpts"], e["stream"], e["type"]
        if behind := parked.behind(stream, e["position"]):
            letters.append(_timer_letter(e, "", behind))
            continue
        try:
            payload = payload_decoder.decode(e["data"])
            found = timers_for(payload)
        except Exception as exc:  # noqa: BLE001 - this event only: its stream waits
            letters.append(_timer_letter(e, reason_of(exc)))
            parked.park(stream, e["event_id"], e["position"])
            continue
        for t in found:
            timers.append((t.key, cpts, stream, t.kind, t.fire_at, t.task_id, t.enrolment_id))
        if (task_id := timers_cancelled_by(payload)) is not None:
            moot.append(task_id)
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
    return (enrolments, statuses, tasks, timers, moot), letters


async def _last_event_letter(conn: asyncpg.Connection, stream: str, reason: str) -> DeadLetter:
    row = await conn.fetchrow(
        "SELECT event_id, cpts, stream, type, position FROM events WHERE stream = $1 "
        "ORDER BY version DESC LIMIT 1",
        stream,
    )
    return _timer_letter(row, reason)


def _timer_letter(e, reason: str, behind=None) -> DeadLetter:  # type: ignore[no-untyped-def]
    return DeadLetter(
        consumer=CHECKPOINT,
        event_id=e["event_id"],
        cpts=e["cpts"],
        stream=e["stream"],
        type=e["type"],
        position=e["position"],
        reason=reason if behind is None else f"waits behind {behind}",
        parked_behind=behind,
    )


async def _write_index(
    conn: asyncpg.Connection,
    enrolments: list,
    statuses: dict,
    tasks: list,
    timers: list,
    moot: list,
) -> None:
    # one statement per table (unnest), in the order the rows depend on each other
    if enrolments:
        await conn.execute(_INDEX_ENROLMENTS, *_columns_of(enrolments, 5))
    if statuses:
        await conn.execute(
            _INDEX_STATUSES,
            list(statuses),
            [v[0] for v in statuses.values()],
            [v[1] for v in statuses.values()],
        )
    if tasks:
        await _copy_or_insert(conn, "task_index", _TASK_COLUMNS, tasks, _INDEX_TASKS)
    if timers:
        await _copy_or_insert(conn, "timers", _TIMER_COLUMNS, timers, _INDEX_TIMERS)
    if moot:
        await conn.execute(_DROP_MOOT, moot)


_TASK_COLUMNS = ("task_id", "cpts", "stream", "enrolment_id")
_TIMER_COLUMNS = ("key", "cpts", "stream", "kind", "fire_at", "task_id", "enrolment_id")
COPY_FROM = 64  # rows: fewer go through one INSERT


async def _copy_or_insert(
    conn: asyncpg.Connection,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple],
    insert: str,
) -> None:
    """Rows into an index table by COPY (about 1.7x the rows/s of INSERT ... unnest on this
    machine); when one is already there (a resumed enrolment ending at the same instant
    again, an event indexed twice) the COPY changes nothing and the INSERT ... ON CONFLICT
    DO NOTHING does the work."""
    if len(rows) >= COPY_FROM:
        try:
            async with conn.transaction():  # a savepoint: the failed COPY leaves nothing
                await conn.copy_records_to_table(table, records=rows, columns=columns)
            return
        except asyncpg.UniqueViolationError:
            pass
    await conn.execute(insert, *_columns_of(rows, len(columns)))


def _columns_of(rows: list[tuple], width: int) -> list[list]:
    return [[r[i] for r in rows] for i in range(width)] if rows else [[] for _ in range(width)]


# The checkpoint, and the horizon: every transaction below it has ended (commit or abort).
_INDEX_START = """SELECT c.txid::text::bigint AS txid, c.position,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon
FROM (SELECT 1) AS one LEFT JOIN store_checkpoints c ON c.name = $1"""
LAST_POSITION = 2**63 - 1
# ``EventStore.read_all`` with only the columns the index needs (same visibility rule:
# rows of transactions older than every transaction in flight, in (txid, position) order;
# the horizon read with the checkpoint, so that a short read has seen all below it).
_INDEX_READ = """SELECT txid::text::bigint AS txid, position, event_id, stream, type, cpts,
       data::text AS data
FROM events
WHERE (txid, position) > ($1::text::xid8, $2)
  AND txid < $5::text::xid8
  AND type = ANY($4::text[])
ORDER BY events.txid, events.position  -- the columns (index order), not the bigint output
LIMIT $3"""
_PASSED_OVER = """SELECT EXISTS (SELECT 1 FROM events
WHERE (txid, position) > ($1::text::xid8, $2) AND txid < $3::text::xid8)"""
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
_INDEX_TIMERS = """INSERT INTO timers (key, cpts, stream, kind, fire_at, task_id, enrolment_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::uuid[], $7::uuid[])
ON CONFLICT DO NOTHING"""


# The events of each stream after the version already folded (0: the whole stream): one
# index range per stream (LATERAL ... OFFSET 0), whatever the statistics say; a join was
# planned as a merge over the whole (stream, version) index.
_NEWER_EVENTS = """SELECT c.stream, e.version, e.event_id, e.data::text AS data, e.cpts, e.type,
       e.position
FROM unnest($1::text[], $2::int[]) AS c(stream, version),
     LATERAL (SELECT version, event_id, data, cpts, type, position FROM events
              WHERE stream = c.stream AND version > c.version OFFSET 0) AS e
ORDER BY c.stream, e.version"""

# Due timers are claimed and marked fired in one statement (one write of each row: a
# SELECT ... FOR UPDATE then an UPDATE wrote each row twice), by their row addresses (a
# Tid Scan whatever the statistics say). The timers of a stream whose append conflicts
# are marked pending again in the same transaction, for the next round.
_NOT_PARKED = f"""NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.consumer = '{CHECKPOINT}'
                  AND d.replayed_at IS NULL AND d.stream = timers.stream)"""
_CLAIM_DUE = f"""UPDATE timers SET fired_at = $1
WHERE ctid = ANY(ARRAY(SELECT ctid FROM timers WHERE fired_at IS NULL AND fire_at <= $1
                       AND {_NOT_PARKED}
                       ORDER BY fire_at, key LIMIT $2 FOR UPDATE SKIP LOCKED))
RETURNING key, cpts, stream, kind, fire_at, task_id, enrolment_id"""
_UNCLAIM = """UPDATE timers SET fired_at = NULL WHERE ctid = ANY(ARRAY(
    SELECT t.ctid FROM unnest($1::text[]) AS k(key),
         LATERAL (SELECT ctid FROM timers WHERE key = k.key OFFSET 0) AS t))"""
_DROP_MOOT = """DELETE FROM timers WHERE ctid = ANY(ARRAY(
    SELECT t.ctid FROM unnest($1::uuid[]) AS k(task_id),
         LATERAL (SELECT ctid FROM timers
                  WHERE task_id = k.task_id AND fired_at IS NULL OFFSET 0) AS t))"""


class StateCache:
    """Folded patient states by stream, each with the stream version it was folded to.

    The scheduler fires a patient's timers many times over a pathway; keeping the
    folded state saves folding the whole stream again each time: only the events
    after the cached version are read and folded. Events are immutable and
    versions unique, so the cached state plus the newer events is exactly the
    fold of the stream. Only states of committed versions are put here. The
    least recently used states are dropped beyond ``capacity``.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._states: OrderedDict[str, tuple[int, PatientState]] = OrderedDict()

    def get(self, stream: str) -> tuple[int, PatientState]:
        found = self._states.get(stream)
        if found is None:
            return 0, PatientState()
        self._states.move_to_end(stream)
        return found

    def put(self, stream: str, version: int, state: PatientState) -> None:
        current = self._states.get(stream)
        if current is not None and current[0] >= version:
            return
        self._states[stream] = (version, state)
        self._states.move_to_end(stream)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, decider: PathwayDecider, clock: Clock) -> None:
        self.pool, self.decider, self.clock = pool, decider, clock
        self.index = TimerIndex(pool)
        self.states = StateCache()
        self.fired = 0
        self._firing = asyncio.Lock()

    async def fire_due(self, now: dt.datetime, limit: int = 1000) -> int:
        """Fire up to ``limit`` timers due at ``now``; return how many were taken.

        One firing at a time in a process (the background loop and ``advance_to``): two
        would take different timers of the same patients and make each other's appends
        conflict. Instances share the work through ``FOR UPDATE SKIP LOCKED``."""
        async with self._firing:
            return await self._fire_due(now, limit)

    async def _fire_due(self, now: dt.datetime, limit: int) -> int:
        settled: list[tuple[str, int, PatientState]] = []  # cached once committed
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM_DUE, now, limit)
            if not rows:
                return 0
            by_stream: dict[str, list[asyncpg.Record]] = defaultdict(list)
            for r in sorted(rows, key=lambda r: (r["fire_at"], r["key"])):  # in firing order
                by_stream[r["stream"]].append(r)
            states, letters = await self._states_of(conn, list(by_stream))
            requests: list[AppendRequest] = []
            after: list[PatientState] = []
            keys_of: list[list[str]] = []
            pending: list[str] = []  # a conflicting or parked stream keeps its timers
            # streams in one order for every instance: concurrent appends never wait in a cycle
            for stream in sorted(by_stream):
                timers = by_stream[stream]
                if stream in letters:
                    pending += [t["key"] for t in timers]
                    continue
                version, state = states[stream]
                try:
                    events, fired_state = self._fire_stream(state, timers, now)
                except NOT_POISON:
                    raise
                except Exception as exc:  # noqa: BLE001 - this patient only: parked
                    letters[stream] = await _last_event_letter(conn, stream, reason_of(exc))
                    pending += [t["key"] for t in timers]
                    continue
                settled.append((stream, version, state))
                if events:
                    requests.append(AppendRequest(stream, version, events))
                    after.append(fired_state)
                    keys_of.append([t["key"] for t in timers])
            results = await EventStore(conn).append_many(requests, conn=conn)
            await record(conn, list(letters.values()))
            for req, state, keys, result in zip(requests, after, keys_of, results, strict=True):
                if isinstance(result, AppendResult):
                    if not result.duplicate:
                        settled.append((req.stream, result.version, state))
                else:
                    pending += keys
            if pending:
                await conn.execute(_UNCLAIM, pending)
        for stream, version, state in settled:
            self.states.put(stream, version, state)
        self.fired += len(rows) - len(pending)
        return len(rows)

    async def _states_of(
        self, conn: asyncpg.Connection, streams: list[str]
    ) -> tuple[dict[str, tuple[int, PatientState]], dict[str, DeadLetter]]:
        """Each stream's state: the cached one plus the events after it (one query); and a
        dead letter for each stream with an event that cannot be folded."""
        states = {s: self.states.get(s) for s in streams}
        letters: dict[str, DeadLetter] = {}
        rows = await conn.fetch(_NEWER_EVENTS, streams, [states[s][0] for s in streams])
        for r in rows:
            stream = r["stream"]
            if stream in letters:
                continue
            try:
                state = evolve(states[stream][1], payload_decoder.decode(r["data"]), r["event_id"])
            except Exception as exc:  # noqa: BLE001 - this patient only: parked
                letters[stream] = _timer_letter(r, reason_of(exc))
                continue
            states[stream] = (r["version"], state)
        return states, letters

    def _fire_stream(
        self, state: PatientState, timers: list[asyncpg.Record], now: dt.datetime
    ) -> tuple[list[NewEvent], PatientState]:
        ctx = DecideContext(now=now, new_id=new_uuid4, catalog=self.decider.catalog)
        out: list[NewEvent] = []
        for t in timers:
            timer = Timer(
                fire_at=t["fire_at"],
                kind=t["kind"],
                task_id=t["task_id"],
                enrolment_id=t["enrolment_id"],
            )
            payloads = decide(FireTimer(timer=timer), state, ctx)
            for p in payloads:
                state = evolve(state, p)
            if payloads:
                key = f"timer:{t['key']}"
                out += [
                    NewEvent(
                        event_id=new_uuid4(),
                        data=p,
                        occurred_at=t["fire_at"],
                        correlation_id=key,
                        causation_id=key,
                        actor=SYSTEM,
                        cpts=t["cpts"],
                    )
                    for p in payloads
                ]  # as ``decider.wrap``
        return out, state

    async def run_once(self, chunk: int = 1000) -> int:
        """Index what is new and fire what is due, ``chunk`` timers per transaction.

        In the API process the background loop uses small chunks: deciding is CPU
        work between two awaits, and a small chunk lets requests run in between."""
        await self.index.catch_up(batch=chunk * 5)
        now = await self.clock.now()
        fired = 0
        while taken := await self.fire_due(now, limit=chunk):
            fired += taken
            await self.index.catch_up(batch=chunk * 5)
        return fired

    async def run(self, stop: asyncio.Event, interval: float = 1.0, chunk: int = 200) -> None:
        """The background loop (wall clock, or virtual time moved elsewhere)."""
        while not stop.is_set():
            try:
                await self.run_once(chunk)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if isinstance(exc, SYSTEMIC):  # would fail for every timer: stop, unhealthy
                    raise
                log.warning("scheduler retrying", error=str(exc))
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def advance_to(self, target: dt.datetime) -> int:
        """Move the virtual clock to ``target``, firing every timer due on the way, in order."""
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError("only a virtual clock can be moved (PARCOURS_CLOCK=virtual)")
        current = await self.clock.now()
        if target < current:
            raise ValueError("the clock only moves forward")
        fired = 0
        await self.index.catch_up()
        while True:
            next_at = await self.pool.fetchval(
                "SELECT min(fire_at) FROM timers WHERE fired_at IS NULL AND fire_at <= $1 "
                f"AND {_NOT_PARKED}",
                target,
            )
            if next_at is None:
                break
            step = current = max(next_at, current)  # never back: a timer created late fires now
            await self.clock.set(step)
            while True:  # a full batch may leave more timers of this instant
                try:
                    taken = await self.fire_due(step, limit=5000)
                except asyncpg.DeadlockDetectedError:
                    continue  # rolled back: nothing fired, try again
                fired += taken
                if taken < 5000:
                    break
            await self.index.catch_up()  # timers the firing created, then the next instant
        await self.clock.set(target)
        return fired
