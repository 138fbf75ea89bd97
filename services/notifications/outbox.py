"""Publishing notifications exactly once: a transactional outbox and its publisher.

Why an outbox
    The router's effect (task views, checkpoint) commits in PostgreSQL, and
    its notifications go to JetStream: two systems, no shared transaction.
    Publishing *before* the commit would rely on ``Nats-Msg-Id`` dedup alone
    and keep the router's transaction open while waiting for JetStream acks;
    in this database an open writing transaction holds back every reader of
    the event store (``txid < pg_snapshot_xmin``, see ``parcours.eventstore``),
    so a slow NATS would stall the relay. Publishing *after* the commit from
    memory would lose the notifications of a crash between the two.

    So the router writes each notification as a row of ``notification_outbox``
    in the same transaction as its checkpoint (``enqueue``): the notification
    exists exactly when the event counts as consumed. The publisher, woken
    in-process the moment the router commits (and every second anyway, for
    rows left by a previous process), reads rows in id order, publishes them
    pipelined on one connection (so each subject keeps the order of events),
    waits for every JetStream ack, and only then deletes the rows.

Exactly once, as the stream sees it
    A crash after JetStream stored a message but before its row was deleted
    (deletes commit without waiting for the disk: ``synchronous_commit = off``
    on the publisher's connection) publishes it again on restart, with the same ``Nats-Msg-Id`` (the
    deterministic ``notification_id``: ``<event_id>:<subject>``): JetStream
    drops it within the notifications stream's duplicate window (1 h), far
    longer than a restart. A redelivered event is below the router's
    checkpoint and enqueues nothing. Apps still de-duplicate by
    ``notification_id`` (at-least-once is what a network promises them).

A notification NATS refuses never blocks the others
    A row NATS would refuse (a subject that is no valid subject, a message larger than
    the server accepts) or that JetStream refuses is set aside (``dead_at``) with a
    dead letter (``notifications-outbox``) naming its event, and the rows after it
    are published. The outbox skips, it does not park: each notification carries the
    task's whole state (status, window, assignee), so a later one is right on its
    own, and holding back a professional's later notifications behind one that can
    never be sent would only hide work from them. ``parcours dead-letters replay
    notifications-outbox`` puts the rows back in line after a fix.

One publisher at a time
    The publisher holds a session advisory lock on a connection of its own
    (no transaction stays open), so two service instances never interleave
    and reorder; the second one waits as a standby.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from contextlib import suppress

import asyncpg
import structlog
from nats.aio.client import Client as NATS

from contracts.notifications import notification_encoder
from notifications.domain.routing import Addressed
from parcours.deadletters import DeadLetter, record
from parcours.eventstore import StoredEvent, read_events
from parcours.publishing import BatchPublisher, Outgoing, PublishError

log = structlog.get_logger("notifications.outbox")

LOCK_KEY = 7_264_881_404


async def enqueue(conn: asyncpg.Connection, out: Sequence[Addressed]) -> None:
    if out:
        await conn.executemany(
            "INSERT INTO notification_outbox (subject, msg_id, kind, payload) VALUES ($1, $2, $3, $4)",
            [
                (
                    a.subject,
                    a.notification.notification_id,
                    a.notification.kind,
                    notification_encoder.encode(a.notification),
                )
                for a in out
            ],
        )


class OutboxPublisher:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        nc: NATS,
        batch: int = 500,
        ack_timeout: float = 5.0,
        poll_interval: float = 1.0,
    ) -> None:
        self.pool, self.nc = pool, nc
        self.batch, self.ack_timeout, self.poll_interval = batch, ack_timeout, poll_interval
        self.wake = asyncio.Event()
        self.published = 0
        self._publisher = BatchPublisher(nc, what="notifications", ack_timeout=ack_timeout)

    async def run(self, stop: asyncio.Event) -> None:
        await self._publisher.start()
        try:
            while not stop.is_set():
                try:
                    async with self.pool.acquire() as lock_conn:
                        if not await lock_conn.fetchval(
                            "SELECT pg_try_advisory_lock($1)", LOCK_KEY
                        ):
                            await _wait(stop, self.wake, 2.0)
                            continue
                        # Deleting published rows need not wait for the disk: a delete lost
                        # in a PostgreSQL crash only republishes rows that Msg-Id dedup drops.
                        await lock_conn.execute("SET synchronous_commit = off")
                        try:
                            await self._publish_loop(lock_conn, stop)
                        finally:
                            with suppress(Exception):
                                await lock_conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("outbox publisher waiting for PostgreSQL", error=str(exc))
                    await _wait(stop, None, 1.0)
        finally:
            await self._publisher.close()

    async def _publish_loop(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            self.wake.clear()
            try:
                moved = await self.publish_once(conn)
                backoff = 0.1
            except PublishError as exc:
                log.warning("outbox publisher retrying", error=str(exc), backoff=backoff)
                await _wait(stop, None, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if moved == 0:
                await _wait(stop, self.wake, self.poll_interval)

    async def publish_once(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, subject, msg_id, kind, payload FROM notification_outbox "
            "WHERE dead_at IS NULL ORDER BY id LIMIT $1",
            self.batch,
        )
        if not rows:
            return 0
        refused: dict[int, str] = {}
        sending: list[asyncpg.Record] = []
        outgoing: list[Outgoing] = []
        for row in rows:
            out = Outgoing(
                subject=row["subject"],
                payload=row["payload"],
                headers={"Nats-Msg-Id": row["msg_id"], "Parcours-Notification-Kind": row["kind"]},
            )
            if why := self._publisher.refusal(out):
                refused[row["id"]] = why
            else:
                sending.append(row)
                outgoing.append(out)
        if outgoing:
            for at, why in (await self._publisher.publish(outgoing)).items():
                refused[sending[at]["id"]] = why
        if refused:
            await set_aside(conn, [r for r in rows if r["id"] in refused], refused)
        await conn.execute(
            "DELETE FROM notification_outbox WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows if r["id"] not in refused],
        )
        self.published += len(rows) - len(refused)
        return len(rows)


CONSUMER = "notifications-outbox"


async def set_aside(
    conn: asyncpg.Connection, rows: Sequence[asyncpg.Record], why: dict[int, str]
) -> None:
    """Mark refused rows dead and dead-letter their events (one transaction)."""
    keys = [((r["subject"].split(".") + ["?"])[1], _event_id(r["msg_id"])) for r in rows]
    events = {(e.cpts, e.event_id): e for e in await read_events(conn, keys)}
    letters = []
    for row, key in zip(rows, keys, strict=True):
        event = events.get(key)
        letters.append(
            DeadLetter(
                consumer=CONSUMER,
                event_id=key[1],
                cpts=key[0],
                stream=event.stream if event else "?",
                type=event.type if event else row["kind"],
                position=event.position if event else 0,
                reason=why[row["id"]],
            )
        )
    async with conn.transaction():
        await conn.execute(
            "UPDATE notification_outbox SET dead_at = now() WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows],
        )
        await record(conn, letters)


def _event_id(msg_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(msg_id.split(":", 1)[0])
    except ValueError:
        return uuid.UUID(int=0)


def replayer(resources, consumer: str):  # type: ignore[no-untyped-def]
    """``parcours dead-letters replay notifications-outbox``: the rows go back in line."""

    async def replay(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        for event in events:
            await conn.execute(
                "UPDATE notification_outbox SET dead_at = NULL WHERE dead_at IS NOT NULL "
                "AND split_part(msg_id, ':', 1) = $1 AND split_part(subject, '.', 2) = $2",
                str(event.event_id),
                event.cpts,
            )

    return replay


async def _wait(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
