"""Timers in PostgreSQL and the scheduler that fires them.

``TimerIndex`` reads the event store in commit order (its checkpoint lives in
``store_checkpoints``, written in the same transaction as its rows) and keeps
three tables: the pending timers (``timers_for`` each event; a task that reached
a final status drops its timers), where each task lives and where each enrolment
lives. ``Scheduler.fire_due`` takes due timers with ``FOR UPDATE SKIP LOCKED``
(so several instances share the work), decides ``FireTimer`` for each on its
patient's state, appends the results of many patients in one statement and
marks the timers fired in the same transaction. ``advance_to`` moves a virtual
clock and fires every timer due on the way, in order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from contextlib import suppress

import asyncpg
import structlog

from contracts.events import NewEvent, payload_decoder
from parcours.clock import Clock, VirtualClock
from parcours.eventstore import (
    AppendRequest,
    AppendResult,
    EventStore,
    StoredEvent,
)
from pathways.decider import SYSTEM, PathwayDecider, state_of, wrap
from pathways.domain import FireTimer, Timer, decide, evolve, timers_cancelled_by, timers_for

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

    async def catch_up(self, batch: int = 5000) -> int:
        """Index every committed event not indexed yet; return how many were read."""
        total = 0
        async with self._lock:
            while True:
                store = EventStore(self.pool)
                checkpoint = await store.load_checkpoint(CHECKPOINT)
                events = await store.read_all(checkpoint, limit=batch, types=INDEXED_TYPES)
                if not events:
                    return total
                await self._index(events)
                total += len(events)

    async def _index(self, events: list[StoredEvent]) -> None:
        timers: list[tuple] = []
        moot: list = []
        tasks: list[tuple] = []
        enrolments: list[tuple] = []
        statuses: list[tuple] = []
        for e in events:
            payload = payload_decoder.decode(e.data)
            for t in timers_for(payload):
                timers.append(
                    (t.key, e.cpts, e.stream, t.kind, t.fire_at, t.task_id, t.enrolment_id)
                )
            if (task_id := timers_cancelled_by(payload)) is not None:
                moot.append(task_id)
            if e.type == "TaskScheduled":
                tasks.append((payload.task_id, e.cpts, e.stream, payload.enrolment_id))
            elif e.type == "PatientEnrolled":
                enrolments.append(
                    (
                        payload.enrolment_id,
                        e.cpts,
                        e.stream,
                        payload.protocol,
                        str(payload.protocol_version),
                    )
                )
            elif e.type in ("EnrolmentPaused", "EnrolmentResumed", "EnrolmentClosed"):
                status = {"EnrolmentPaused": "paused", "EnrolmentResumed": "active"}.get(
                    e.type, "closed"
                )
                statuses.append((payload.enrolment_id, status, None))
            elif e.type == "ProtocolVersionChanged":
                statuses.append((payload.enrolment_id, None, str(payload.to_version)))
        async with self.pool.acquire() as conn, conn.transaction():
            if enrolments:
                await conn.executemany(
                    """INSERT INTO enrolment_index (enrolment_id, cpts, stream, protocol, version)
                       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
                    enrolments,
                )
            for enrolment_id, status, version in statuses:
                await conn.execute(
                    """UPDATE enrolment_index SET status = coalesce($2, status),
                              version = coalesce($3, version) WHERE enrolment_id = $1""",
                    enrolment_id,
                    status,
                    version,
                )
            if tasks:
                await conn.executemany(
                    "INSERT INTO task_index VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", tasks
                )
            if timers:
                await conn.executemany(
                    """INSERT INTO timers (key, cpts, stream, kind, fire_at, task_id, enrolment_id)
                       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
                    timers,
                )
            if moot:
                await conn.execute(
                    "DELETE FROM timers WHERE task_id = ANY($1::uuid[]) AND fired_at IS NULL", moot
                )
            await EventStore(conn).save_checkpoint(CHECKPOINT, events[-1].checkpoint)


_STREAM_EVENTS = (
    "SELECT position, txid::text::bigint AS txid, event_id, stream, version, type, cpts, "
    "occurred_at, recorded_at, correlation_id, causation_id, actor_id, actor_role, "
    "schema_version, data::text AS data FROM events WHERE stream = ANY($1::text[]) "
    "ORDER BY stream, version"
)


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, decider: PathwayDecider, clock: Clock) -> None:
        self.pool, self.decider, self.clock = pool, decider, clock
        self.index = TimerIndex(pool)
        self.fired = 0

    async def fire_due(self, now: dt.datetime, limit: int = 1000) -> int:
        """Fire up to ``limit`` timers due at ``now``; return how many were taken."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT key, cpts, stream, kind, fire_at, task_id, enrolment_id FROM timers
                   WHERE fired_at IS NULL AND fire_at <= $1
                   ORDER BY fire_at, key LIMIT $2 FOR UPDATE SKIP LOCKED""",
                now,
                limit,
            )
            if not rows:
                return 0
            by_stream: dict[str, list[asyncpg.Record]] = defaultdict(list)
            for r in rows:
                by_stream[r["stream"]].append(r)
            histories: dict[str, list[StoredEvent]] = defaultdict(list)
            for r in await conn.fetch(_STREAM_EVENTS, list(by_stream)):
                histories[r["stream"]].append(StoredEvent(**dict(r)))
            requests: list[AppendRequest] = []
            keys_of: list[list[str]] = []
            done: list[str] = []
            for stream, timers in by_stream.items():
                events = self._fire_stream(histories[stream], timers, now)
                keys = [t["key"] for t in timers]
                if events:
                    version = histories[stream][-1].version if histories[stream] else 0
                    requests.append(AppendRequest(stream, version, events))
                    keys_of.append(keys)
                else:
                    done += keys
            results = await EventStore(conn).append_many(requests, conn=conn)
            for keys, result in zip(keys_of, results, strict=True):
                if isinstance(result, AppendResult):
                    done += keys  # a conflicting stream keeps its timers for the next round
            await conn.execute(
                "UPDATE timers SET fired_at = $2 WHERE key = ANY($1::text[])", done, now
            )
        self.fired += len(done)
        return len(rows)

    def _fire_stream(
        self, history: list[StoredEvent], timers: list[asyncpg.Record], now: dt.datetime
    ) -> list[NewEvent]:
        state = state_of(history)
        ctx = self.decider.context(now)
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
            out += wrap(
                payloads,
                cpts=t["cpts"],
                correlation_id=f"timer:{t['key']}",
                causation_id=f"timer:{t['key']}",
                actor=SYSTEM,
                occurred_at=t["fire_at"],
            )
        return out

    async def run_once(self) -> int:
        await self.index.catch_up()
        now = await self.clock.now()
        fired = 0
        while taken := await self.fire_due(now):
            fired += taken
            await self.index.catch_up()
        return fired

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """The background loop (wall clock, or virtual time moved elsewhere)."""
        while not stop.is_set():
            try:
                await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
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
                "SELECT min(fire_at) FROM timers WHERE fired_at IS NULL AND fire_at <= $1", target
            )
            if next_at is None:
                break
            step = max(next_at, current)
            await self.clock.set(step)
            while taken := await self.fire_due(step, limit=5000):
                fired += taken
                await self.index.catch_up()
            await self.index.catch_up()
        await self.clock.set(target)
        return fired
