"""The relay: committed events from PostgreSQL to the JetStream events stream.

It reads the event store in commit order (see ``parcours.eventstore``),
publishes a batch without waiting for each acknowledgement (the replies are
collected on one inbox), and saves its checkpoint in PostgreSQL once the whole
batch is acknowledged. ``Nats-Msg-Id`` is the event id, so a batch published
again after a crash or an outage is de-duplicated by JetStream. Event ids are unique
per CPTS, so the message id is a UUID of the CPTS and the event id (``msg_id``): an
id re-sent by another CPTS is another message, never dropped as a duplicate. Ordering holds
because one connection delivers its publishes in order. When NATS is down the
batch is retried with backoff from the same checkpoint: ingestion never waits
for NATS, and nothing is lost.

No stored event stops the relay. An event it cannot publish (its CPTS or type makes
no valid subject, a header would break the protocol, it is larger than NATS
accepts, JetStream refuses it) is dead-lettered as ``relay`` and its stream parked:
the stream's later events wait in the dead-letter table too, in order, and every
other stream flows (``parcours.deadletters`` says why parking). After a fix,
``parcours dead-letters replay relay`` publishes them, in order, with the
``Parcours-Replayed`` header so that consumers apply them behind their positions.
The dead letters and the checkpoint are written in one transaction. (Every check
is made before sending; a message JetStream itself refuses after that is dead-
lettered too, and parks its stream from the next batch on: events of that stream
later in the same batch were already sent.) An outage is
retried; any other error stops the relay, and its health says so.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError

from contracts.events import category_of
from contracts.subjects import Subjects
from parcours.consumer import REPLAYED_HEADER
from parcours.deadletters import (
    NOT_POISON,
    SYSTEMIC,
    DeadLetter,
    letter,
    parked_streams,
    reason_of,
    record,
)
from parcours.eventstore import EventStore, StoredEvent
from parcours.publishing import BatchPublisher, Outgoing, PublishError

log = structlog.get_logger("pathways.relay")

CHECKPOINT = "relay"
_MSG_IDS = uuid.UUID("5d0c2a43-6a4e-4f4e-9a59-1f3d2b8f0c11")


def msg_id(cpts: str, event_id: uuid.UUID) -> str:
    """The ``Nats-Msg-Id`` of an event: unique per (CPTS, event id), the same every time."""
    return str(uuid.uuid5(_MSG_IDS, f"{cpts}/{event_id}"))


class Relay:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        nc: NATS,
        subjects: Subjects,
        database_url: str,
        batch: int = 1000,
        ack_timeout: float = 5.0,
        poll_interval: float = 1.0,
    ) -> None:
        self.pool, self.store = pool, EventStore(pool)
        self.nc, self.subjects, self.database_url = nc, subjects, database_url
        self.batch, self.ack_timeout, self.poll_interval = batch, ack_timeout, poll_interval
        self.published = 0
        self._wake = asyncio.Event()
        self._publisher = BatchPublisher(nc, what="events", ack_timeout=ack_timeout)

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for commits; reconnect when PostgreSQL goes away (polling covers the gap)."""
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(self.database_url)
                try:
                    await conn.add_listener("parcours_events", lambda *_: self._wake.set())
                    while not stop.is_set():  # noqa: ASYNC110 - also probes the connection
                        await asyncio.sleep(1.0)
                        await conn.fetchval("SELECT 1")
                        self._wake.set()  # a notification may have been lost meanwhile
                finally:
                    with suppress(Exception):
                        await conn.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(1.0)

    async def run(self, stop: asyncio.Event) -> None:
        await self._publisher.start()
        listener = asyncio.create_task(self._listen(stop))
        backoff = 0.1
        try:
            while not stop.is_set():
                try:
                    moved = await self.relay_once()
                    backoff = 0.1
                except (
                    PublishError,
                    NatsError,
                    OSError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                ) as exc:
                    if isinstance(exc, SYSTEMIC):  # would fail for every event: stop, unhealthy
                        raise
                    log.warning("relay retrying", error=str(exc), backoff=backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if moved == 0:
                    self._wake.clear()
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            listener.cancel()
            await self._publisher.close()

    async def relay_once(self) -> int:
        """Publish the next batch; return how many events moved (published or set aside)."""
        checkpoint = await self.store.load_checkpoint(CHECKPOINT)
        events = await self.store.read_all(checkpoint, limit=self.batch)
        if not events:
            return 0
        parked = await parked_streams(self.pool, CHECKPOINT, (e.stream for e in events))
        letters: list[DeadLetter] = []
        sending: list[StoredEvent] = []
        outgoing: list[Outgoing] = []
        for event in events:
            if behind := parked.behind(event.stream, event.position):
                letters.append(letter(CHECKPOINT, event, "", behind))
                continue
            try:
                out = self.outgoing(event)
                why = self._publisher.refusal(out)
            except NOT_POISON:
                raise
            except Exception as exc:  # noqa: BLE001 - this event only
                why = reason_of(exc)
            if why is not None:
                letters.append(letter(CHECKPOINT, event, why))
                parked.park(event.stream, event.event_id, event.position)
                continue
            sending.append(event)
            outgoing.append(out)
        refused = await self._publisher.publish(outgoing) if outgoing else {}
        letters += [letter(CHECKPOINT, sending[at], why) for at, why in refused.items()]
        if letters:  # the dead letters with the checkpoint, or neither
            async with self.pool.acquire() as conn, conn.transaction():
                await record(conn, letters)
                await EventStore(conn).save_checkpoint(CHECKPOINT, events[-1].checkpoint)
        else:  # one statement: no BEGIN and COMMIT round trips on every batch
            await self.store.save_checkpoint(CHECKPOINT, events[-1].checkpoint)
        self.published += len(outgoing) - len(refused)
        return len(events)

    def outgoing(self, event: StoredEvent, *, replayed: bool = False) -> Outgoing:
        headers = {
            "Nats-Msg-Id": msg_id(event.cpts, event.event_id),
            "Parcours-Correlation-Id": event.correlation_id,
            "Parcours-Event-Type": event.type,
        }
        if replayed:
            headers[REPLAYED_HEADER] = "1"
        return Outgoing(
            subject=self.subjects.events(event.cpts, category_of(event.type)),
            payload=event.wire(),
            headers=headers,
        )

    async def publish(self, events: list[StoredEvent], *, replayed: bool = False) -> None:
        """Publish ``events`` (all or nothing: a refusal is a ``PublishError``)."""
        batch = [self.outgoing(e, replayed=replayed) for e in events]
        for out in batch:
            if why := self._publisher.refusal(out):
                raise PublishError(why)
        if refused := await self._publisher.publish(batch):
            raise PublishError(next(iter(refused.values())))


def replayer(resources, consumer: str):  # type: ignore[no-untyped-def]
    """``parcours dead-letters replay relay``: publish the events now, marked as replayed."""
    relay = Relay(
        pool=resources.pool,
        nc=resources.nc,
        subjects=resources.subjects,
        database_url=resources.settings.database.url,
    )

    async def replay(conn: asyncpg.Connection, events: list[StoredEvent]) -> None:
        await relay._publisher.start()
        try:
            await relay.publish(events, replayed=True)
        finally:
            await relay._publisher.close()

    return replay
