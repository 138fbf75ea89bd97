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
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress

import asyncpg
import structlog
from nats.aio.client import Client as NATS

from contracts.events import category_of
from contracts.subjects import Subjects
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
        self.store = EventStore(pool)
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
                    OSError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                ) as exc:
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
        """Publish the next batch; return how many events moved."""
        checkpoint = await self.store.load_checkpoint(CHECKPOINT)
        events = await self.store.read_all(checkpoint, limit=self.batch)
        if not events:
            return 0
        await self.publish(events)
        await self.store.save_checkpoint(CHECKPOINT, events[-1].checkpoint)
        self.published += len(events)
        return len(events)

    async def publish(self, events: list[StoredEvent]) -> None:
        await self._publisher.publish(
            [
                Outgoing(
                    subject=self.subjects.events(event.cpts, category_of(event.type)),
                    payload=event.wire(),
                    headers={
                        "Nats-Msg-Id": msg_id(event.cpts, event.event_id),
                        "Parcours-Correlation-Id": event.correlation_id,
                        "Parcours-Event-Type": event.type,
                    },
                )
                for event in events
            ]
        )
