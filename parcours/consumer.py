"""Durable consumers of the events stream that checkpoint with their effects.

A consumer fetches a batch from its durable JetStream pull consumer, applies it
in ONE PostgreSQL transaction together with its checkpoint (the last stream
sequence applied), commits, then acks. A redelivered message whose sequence is
at or below the checkpoint is acked and ignored, so redelivery changes nothing.
When the effect fails (PostgreSQL down), the same batch is retried with backoff
and nothing newer is fetched meanwhile, so no event is ever skipped.

Each durable consumer runs as one instance at a time (the checkpoint row is
locked FOR UPDATE, so a second instance would only wait).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import msgspec
import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.events import Envelope, envelope_decoder

log = structlog.get_logger("parcours.consumer")


class Delivery(msgspec.Struct, frozen=True):
    seq: int
    envelope: Envelope


Handler = Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]


async def load_checkpoint(conn: asyncpg.Connection, name: str, *, lock: bool = False) -> int:
    await conn.execute(
        "INSERT INTO consumer_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING", name
    )
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchval(
        f"SELECT stream_seq FROM consumer_checkpoints WHERE name = $1{suffix}", name
    )


class EventConsumer:
    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        stream: str,
        handler: Handler,
        filter_subject: str | None = None,
        batch: int = 500,
    ) -> None:
        self.name, self.pool, self.js, self.stream = name, pool, js, stream
        self.handler, self.filter_subject, self.batch = handler, filter_subject, batch
        self.applied = 0
        self.last_seq = 0

    async def _subscribe(self):  # type: ignore[no-untyped-def]
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=60,
            max_ack_pending=20_000,
            filter_subject=self.filter_subject,
        )
        await self.js.add_consumer(self.stream, config)
        return await self.js.pull_subscribe_bind(self.name, stream=self.stream)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                sub = await self._subscribe()
                backoff = 0.2
                await self._loop(sub, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS unavailable: retry with backoff
                log.warning("consumer waiting for NATS", consumer=self.name, error=str(exc))
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _loop(self, sub, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        while not stop.is_set():
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except NatsTimeoutError:
                continue
            deliveries = []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                try:
                    deliveries.append(Delivery(seq, envelope_decoder.decode(msg.data)))
                except msgspec.ValidationError as exc:
                    log.error(
                        "undecodable event skipped", consumer=self.name, seq=seq, error=str(exc)
                    )
            await self._apply_until_done(deliveries, stop)
            for msg in msgs:
                await msg.ack()

    async def _apply_until_done(self, deliveries: list[Delivery], stop: asyncio.Event) -> None:
        backoff = 0.2
        while True:
            try:
                await self.apply(deliveries)
                return
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                log.warning("consumer waiting for PostgreSQL", consumer=self.name, error=str(exc))
                if stop.is_set():
                    raise
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def apply(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            checkpoint = await load_checkpoint(conn, self.name, lock=True)
            fresh = [d for d in deliveries if d.seq > checkpoint]
            if not fresh:
                return
            await self.handler(conn, fresh)
            last = max(d.seq for d in fresh)
            await conn.execute(
                "UPDATE consumer_checkpoints SET stream_seq = $2, updated_at = now() WHERE name = $1",
                self.name,
                last,
            )
        self.applied += len(fresh)
        self.last_seq = last


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
