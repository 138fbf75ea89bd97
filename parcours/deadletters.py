"""Dead letters: the events a consumer could not handle, set aside so nobody else waits.

Shared runtime: the relay, the timer index, the notifications router and outbox and
the projection views all record here (table ``dead_letters``, migration
``parcours/migrations/0004``), and ``parcours dead-letters list|replay`` reads it.

Park the stream, not only the event
    When a consumer fails on an event, that event is dead-lettered and its *stream*
    (one patient) is parked for that consumer: the stream's later events are
    dead-lettered too, as waiting behind the failed one (``parked_behind``), and every
    other stream keeps flowing. Skipping only the bad event would let the patient's
    later events apply on a state that misses it (a task accepted before it was ever
    scheduled, an indicator judged without its discharge): that patient's read model
    would be wrong, silently, and a replay would apply the missed event out of order.
    Parking keeps each patient's events in order for every consumer: the patient's
    read models stay behind (and say so, here) until a fix is replayed, and everyone
    else's stay correct. The notifications outbox is the one exception (see
    ``notifications.outbox``): a notification is a self-contained message.

What is poison, what is an outage, what is a bug
    ``TRANSIENT`` errors (PostgreSQL or NATS unreachable, a deadlock) are retried:
    the event is fine. ``SYSTEMIC`` errors (a missing table or column, no privilege)
    would fail for every event: they stop the worker (its health turns non-ready)
    rather than dead-letter everything. Anything else an event raises is poison.

Reasons never carry identity: ``reason_of`` keeps the exception's type and its
message with quoted values and long digit runs masked.

Replay (``replay``): a consumer's open letters, stream by stream in event-store
order, go through the consumer's ``Replay`` function (each in its own transaction)
and are marked replayed; the first that fails again keeps its stream parked.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import asyncpg
import msgspec
import structlog

from parcours.eventstore import StoredEvent, read_events

log = structlog.get_logger("parcours.deadletters")

TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # includes TimeoutError and nats' connection errors
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.QueryCanceledError,
)
SYSTEMIC: tuple[type[BaseException], ...] = (
    asyncpg.UndefinedTableError,
    asyncpg.UndefinedColumnError,
    asyncpg.UndefinedFunctionError,
    asyncpg.InsufficientPrivilegeError,
    asyncpg.ReadOnlySQLTransactionError,
)
NOT_POISON = TRANSIENT + SYSTEMIC

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DIGITS = re.compile(r"[0-9]{5,}")


def reason_of(exc: BaseException) -> str:
    """Why a consumer failed, without the values involved (never identity)."""
    text = _DIGITS.sub("…", _QUOTED.sub("'…'", str(exc)))
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    consumer: str
    event_id: uuid.UUID
    cpts: str
    stream: str
    type: str
    position: int
    reason: str
    parked_behind: uuid.UUID | None = None


def letter(
    consumer: str, event: Any, reason: str, parked_behind: uuid.UUID | None = None
) -> DeadLetter:
    """A dead letter for an ``Envelope`` or a ``StoredEvent``."""
    return DeadLetter(
        consumer=consumer,
        event_id=event.event_id,
        cpts=event.cpts,
        stream=event.stream,
        type=event.type,
        position=event.position or 0,
        reason=reason if parked_behind is None else f"waits behind {parked_behind}",
        parked_behind=parked_behind,
    )


class Parked:
    """The streams parked for a consumer: from which position, behind which failed event."""

    def __init__(self, rows: Iterable[tuple[str, uuid.UUID, int]] = ()) -> None:
        self._at = {stream: (behind, position) for stream, behind, position in rows}

    def behind(self, stream: str, position: int | None) -> uuid.UUID | None:
        """The failed event an event of ``stream`` at ``position`` waits behind, if any.

        Events before the failed one are not held (a rebuild applies them again)."""
        parked = self._at.get(stream)
        if parked is None or (position or 0) < parked[1]:
            return None
        return parked[0]

    def park(self, stream: str, event_id: uuid.UUID, position: int | None) -> None:
        self._at.setdefault(stream, (event_id, position or 0))


def parked_query(consumer: str, streams: str) -> str:
    """The SQL of the streams parked for a consumer (``consumer`` and ``streams`` name its
    parameters, e.g. ``$1``/``$2``): stream, the failed event it waits behind, position."""
    return f"""SELECT DISTINCT ON (stream) stream, coalesce(parked_behind, event_id) AS behind,
                  position
           FROM dead_letters WHERE consumer = {consumer} AND replayed_at IS NULL
             AND stream = ANY({streams}::text[])
           ORDER BY stream, position"""


async def parked_streams(
    conn: asyncpg.Connection | asyncpg.Pool, consumer: str, streams: Iterable[str]
) -> Parked:
    """The streams parked for ``consumer`` among ``streams``."""
    streams = list(set(streams))
    if not streams:
        return Parked()
    rows = await conn.fetch(parked_query("$1", "$2"), consumer, streams)
    return Parked((r["stream"], r["behind"], r["position"]) for r in rows)


async def record(conn: asyncpg.Connection, letters: Sequence[DeadLetter]) -> None:
    """Insert dead letters (in the caller's transaction, with its checkpoint); log each."""
    if not letters:
        return
    await conn.executemany(
        """INSERT INTO dead_letters (consumer, event_id, cpts, stream, type, position, reason,
                                     parked_behind)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (consumer, event_id, cpts) WHERE replayed_at IS NULL DO NOTHING""",
        [msgspec.structs.astuple(d) for d in letters],
    )
    for d in letters:
        (log.info if d.parked_behind else log.error)(
            "event dead-lettered",
            consumer=d.consumer,
            event_id=str(d.event_id),
            stream=d.stream,
            cpts=d.cpts,
            type=d.type,
            reason=d.reason,
        )


class DeadLetterRow(DeadLetter, frozen=True, kw_only=True):
    """A letter as stored: with its row id, attempts and times."""

    id: int
    attempts: int
    dead_at: dt.datetime
    replayed_at: dt.datetime | None


class Count(msgspec.Struct, frozen=True):
    consumer: str
    cpts: str
    open: int
    replayed: int


async def listing(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    cpts: str | None = None,
    consumer: str | None = None,
    include_replayed: bool = False,
    limit: int = 200,
) -> tuple[list[Count], list[DeadLetterRow]]:
    """Counts per consumer and CPTS, and the latest letters (open ones unless asked)."""
    counts = await db.fetch(
        """SELECT consumer, cpts, count(*) FILTER (WHERE replayed_at IS NULL) AS open,
                  count(*) FILTER (WHERE replayed_at IS NOT NULL) AS replayed
           FROM dead_letters WHERE ($1::text IS NULL OR cpts = $1)
             AND ($2::text IS NULL OR consumer = $2)
           GROUP BY consumer, cpts ORDER BY consumer, cpts""",
        cpts,
        consumer,
    )
    rows = await db.fetch(
        f"""SELECT {", ".join(DeadLetterRow.__struct_fields__)} FROM dead_letters
            WHERE ($1::text IS NULL OR cpts = $1) AND ($2::text IS NULL OR consumer = $2)
              AND ($3 OR replayed_at IS NULL)
            ORDER BY id DESC LIMIT $4""",
        cpts,
        consumer,
        include_replayed,
        limit,
    )
    return [Count(*r) for r in counts], [DeadLetterRow(**dict(r)) for r in rows]


# --- replay ------------------------------------------------------------------------

Replay = Callable[[asyncpg.Connection, Sequence[StoredEvent]], Awaitable[None]]
"""Apply events again for one consumer, inside the caller's transaction, ignoring its
checkpoint (the events are behind it): what the consumer would have done."""

# consumer name -> "module:factory"; the factory takes the live ``Resources`` and the
# consumer name and returns its ``Replay``. Imported when a replay runs (services are
# not imported by the shared runtime otherwise).
REPLAYERS = {
    "relay": "pathways.relay:replayer",
    "pathways-timers": "pathways.timer_index:index_replayer",
    "notifications-router": "notifications.intake:replayer",
    "notifications-outbox": "notifications.outbox:replayer",
    "projections": "projections.runner:replayer",
}


def replayer_for(consumer: str, resources: Any) -> Replay:
    key = "projections" if consumer.startswith("projections") else consumer
    if key not in REPLAYERS:
        raise KeyError(f"no replay is known for the consumer {consumer!r}")
    module, factory = REPLAYERS[key].split(":")
    return getattr(importlib.import_module(module), factory)(resources, consumer)


class ReplayReport(msgspec.Struct):
    replayed: int = 0
    failed: int = 0
    still_parked: int = 0


async def replay(
    pool: asyncpg.Pool,
    consumer: str,
    apply: Replay,
    *,
    cpts: str | None = None,
    stream: str | None = None,
) -> ReplayReport:
    """Replay ``consumer``'s open letters (of one CPTS or stream), stream by stream."""
    report = ReplayReport()
    rows = await pool.fetch(
        """SELECT id, event_id, cpts, stream FROM dead_letters
           WHERE consumer = $1 AND replayed_at IS NULL
             AND ($2::text IS NULL OR cpts = $2) AND ($3::text IS NULL OR stream = $3)
           ORDER BY stream, position, id""",
        consumer,
        cpts,
        stream,
    )
    by_stream: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        by_stream.setdefault(r["stream"], []).append(r)
    for letters in by_stream.values():
        events = await read_events(pool, [(r["cpts"], r["event_id"]) for r in letters])
        stored = {(e.cpts, e.event_id): e for e in events}
        for n, r in enumerate(letters):
            event = stored.get((r["cpts"], r["event_id"]))
            try:
                if event is None:
                    raise LookupError("the event is not in the event store")
                async with pool.acquire() as conn, conn.transaction():
                    await apply(conn, [event])
                    await conn.execute(
                        "UPDATE dead_letters SET replayed_at = now() WHERE id = $1", r["id"]
                    )
                report.replayed += 1
            except TRANSIENT:
                raise
            except Exception as exc:  # noqa: BLE001 - still poison: it stays, its stream parked
                await pool.execute(
                    """UPDATE dead_letters SET attempts = attempts + 1, reason = $2,
                              parked_behind = NULL WHERE id = $1""",
                    r["id"],
                    reason_of(exc),
                )
                report.failed += 1
                report.still_parked += len(letters) - n - 1
                break
    return report
