"""The scheduler: fires the timers of the timer index (``timer_index``) on the write path.

``Scheduler.fire_due`` claims due timers with ``FOR UPDATE SKIP LOCKED`` (so
several instances share the work) and marks them fired in the same statement,
then hands ``PatientStreams`` one ``FireTimer`` command per timer, grouped by
patient stream, in firing order, in the same transaction: the repository loads
the states (cache plus newer events), decides, appends many streams in one
statement and decides again a stream another writer moved. The timers of a
stream it still could not write are marked pending again, for the next round.
``advance_to`` moves a virtual clock and fires every timer due on the way, in
order.

No stored event stops the firing: the writes are ``isolated``, so a stream whose
events cannot be folded, or whose timers cannot be decided, is set aside by the
write path while the other streams of the round fire; it is dead-lettered as
``pathways-timers`` (the event it could not fold, or its last event) and parked,
in the same transaction. Its timers stay pending and are not claimed while it is
parked (``_NOT_PARKED``) until ``parcours dead-letters replay pathways-timers``
(see ``timer_index``). A systemic fault (a missing table) stops the loop instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from contextlib import suppress

import asyncpg
import structlog

from parcours.clock import Clock, VirtualClock
from parcours.deadletters import SYSTEMIC, DeadLetter, letter, reason_of, record
from parcours.eventstore import EventStore
from pathways.domain import FireTimer, Timer
from pathways.state_cache import UnfoldableEventError
from pathways.streams import SYSTEM, Origin, PatientStreams, StreamWrite
from pathways.timer_index import CHECKPOINT, TimerIndex

log = structlog.get_logger("pathways.scheduler")

# Due timers are claimed and marked fired in one statement (one write of each row: a
# SELECT ... FOR UPDATE then an UPDATE wrote each row twice), by their row addresses (a
# Tid Scan whatever the statistics say). The timers of a stream that could not be written
# are marked pending again in the same transaction, for the next round; those of a stream
# parked for the timers (an open dead letter) are not claimed.
_NOT_PARKED = f"""NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.consumer = '{CHECKPOINT}'
                  AND d.replayed_at IS NULL AND d.stream = timers.stream)"""
_CLAIM_DUE = f"""UPDATE timers SET fired_at = $1
WHERE ctid = ANY(ARRAY(SELECT ctid FROM timers WHERE fired_at IS NULL AND fire_at <= $1
                       AND {_NOT_PARKED}
                       ORDER BY fire_at, key LIMIT $2 FOR UPDATE SKIP LOCKED))
RETURNING key, cpts, stream, kind, fire_at, task_id, enrolment_id, request_id"""
_UNCLAIM = """UPDATE timers SET fired_at = NULL WHERE ctid = ANY(ARRAY(
    SELECT t.ctid FROM unnest($1::text[]) AS k(key),
         LATERAL (SELECT ctid FROM timers WHERE key = k.key OFFSET 0) AS t))"""
_NEXT_DUE = (
    f"SELECT min(fire_at) FROM timers WHERE fired_at IS NULL AND fire_at <= $1 AND {_NOT_PARKED}"
)


def fire_command(row: asyncpg.Record) -> tuple[FireTimer, Origin]:
    """A claimed timer as a command, and the envelope of what it decides."""
    timer = Timer(
        fire_at=row["fire_at"],
        kind=row["kind"],
        task_id=row["task_id"],
        enrolment_id=row["enrolment_id"],
        request_id=row["request_id"],
    )
    key = f"timer:{row['key']}"
    return FireTimer(timer=timer), Origin(row["cpts"], SYSTEM, key, row["fire_at"], key)


class Scheduler:
    def __init__(self, streams: PatientStreams, clock: Clock) -> None:
        self.streams, self.clock = streams, clock
        self.pool = streams.pool
        self.index = TimerIndex(streams.pool)
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
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM_DUE, now, limit)
            if not rows:
                return 0
            by_stream: dict[str, list[asyncpg.Record]] = defaultdict(list)
            for r in sorted(rows, key=lambda r: (r["fire_at"], r["key"])):  # in firing order
                by_stream[r["stream"]].append(r)
            writes = [
                StreamWrite(stream, [fire_command(t) for t in timers], isolated=True)
                for stream, timers in by_stream.items()
            ]
            await self.streams.write(writes, now, conn=conn)
            parked = [(w.stream, w.set_aside) for w in writes if w.set_aside is not None]
            await record(conn, [await _parking_letter(conn, *p) for p in parked])
            pending = [  # a stream not written (or parked) keeps its timers for the next round
                t["key"]
                for w in writes
                if (w.result is not None and not w.written) or w.set_aside is not None
                for t in by_stream[w.stream]
            ]
            if pending:
                await conn.execute(_UNCLAIM, pending)
        self.streams.remember(writes)
        self.fired += len(rows) - len(pending)
        return len(rows)

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
            next_at = await self.pool.fetchval(_NEXT_DUE, target)
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


async def _parking_letter(conn: asyncpg.Connection, stream: str, error: Exception) -> DeadLetter:
    """The dead letter that parks a stream set aside: the event it could not fold, or its
    last event when its timers could not be decided."""
    version, cause = None, error
    if isinstance(error, UnfoldableEventError):
        version, cause = error.version, error.__cause__ or error
    event = await EventStore(conn).stream_event(stream, version, conn=conn)
    if event is None:  # timers of a stream without events: an index out of its store
        raise LookupError(f"no event of {stream} at version {version}")
    return letter(CHECKPOINT, event, reason_of(cause))
