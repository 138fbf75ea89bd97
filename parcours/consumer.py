"""Durable consumers of the events stream that checkpoint with their effects.

A consumer fetches a batch from its durable JetStream pull consumer, applies it
in ONE PostgreSQL transaction together with its checkpoint (the last stream
sequence applied), commits, then acks. A redelivered message whose sequence is
at or below the checkpoint is acked and ignored, so redelivery changes nothing.
When the effect fails (PostgreSQL down), the same batch is retried with backoff
and nothing newer is applied meanwhile, so no event is ever skipped. The next batch
is decoded while one is applied (``_loop``), and applied only once that one committed.

Latency: messages come through ``parcours.puller.Puller`` (one pull request
outstanding, messages handed over the moment they arrive).

Each durable consumer is applied by one instance at a time, whatever the number of
instances: ``parcours.leadership`` elects it (an advisory lock per consumer), fences off
an earlier leader (a term checked in every apply's transaction) and gives each term a
JetStream consumer of its own (``<name>-t<term>``).

No event stops a consumer (``parcours.isolation.apply_isolated``): a batch whose handler fails is
applied again one event at a time, each under a savepoint; an event that still
fails is dead-lettered and its stream parked (``parcours.deadletters`` says why
parking, not skipping), in the same transaction as the checkpoint, and the
others are applied. An envelope that does not even decode (an unknown event type,
a payload of the wrong shape) is dead-lettered the same way. Outages are retried;
any other error stops the worker, which the service's health then reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence

import asyncpg
import msgspec
import structlog
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from contracts.events import Envelope, envelope_decoder
from parcours.checkpoints import load_checkpoint, lock_position
from parcours.deadletters import (
    NOT_POISON,
    SYSTEMIC,
    TRANSIENT,
    DeadLetter,
    letter,
    record,
)
from parcours.isolation import apply_isolated, undecodable
from parcours.leadership import Leadership, durable_name, term_of
from parcours.puller import Puller, sequences

log = structlog.get_logger("parcours.consumer")


REPLAYED_HEADER = "Parcours-Replayed"  # set by a dead-letter replay of the relay


class Delivery(msgspec.Struct, frozen=True):
    seq: int
    envelope: Envelope
    replayed: bool = False  # published late by a replay: behind the consumer's positions


Handler = Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]


class EventConsumer:
    """A durable pull consumer whose position is the checkpoint in PostgreSQL.

    Every (re)subscription recreates the durable JetStream consumer to start at
    the stream sequence after the checkpoint. The consumer's own ack state is
    never trusted: after a crash, messages that were delivered but not acked
    would be redelivered only after ``ack_wait``, behind newer ones, and a
    checkpoint that had moved past them meanwhile would skip them for good.
    Restarting from the checkpoint keeps delivery in stream order.

    ``ack_all`` acknowledges a whole batch with one ack (``AckPolicy.ALL``),
    cheaper when catching up on many events.

    ``wait_for_disk=False`` commits each batch without waiting for the WAL flush
    (``synchronous_commit`` off for that transaction only; PostgreSQL flushes it within
    ``wal_writer_delay``, 200 ms). A crash of PostgreSQL may then lose the last batches'
    commits, effects and checkpoint together, never one without the other; on
    reconnection the consumer is created again from the checkpoint that survived, and
    the events come again from the stream, which keeps them. It is for handlers
    whose effects are a function of the events and of what the same transaction
    reads (the notifications router: its notifications carry deterministic ids that
    JetStream de-duplicates if the outbox had already sent them), not for effects
    that leave the database before the commit.
    """

    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        stream: str,
        handler: Handler,
        filter_subject: str | Sequence[str] | None = None,
        batch: int = 500,
        ack_all: bool = False,
        dead_letter_name: str | None = None,
        roles: MutableMapping[str, str] | None = None,
        wait_for_disk: bool = True,
    ) -> None:
        self.name, self.pool, self.js, self.stream = name, pool, js, stream
        self.handler, self.filter_subject, self.batch = handler, filter_subject, batch
        self.ack_all, self.wait_for_disk = ack_all, wait_for_disk
        self.dead_letter_name = dead_letter_name or name  # one name whatever the NATS prefix
        self.applied = 0
        self.last_seq = 0
        self.leadership = Leadership(pool, name, roles=roles)  # roles: what health shows
        self.term: int | None = None  # the term this instance leads (None: unelected use)

    async def _subscribe(self) -> Puller:
        async with self.pool.acquire() as conn:
            checkpoint = await load_checkpoint(conn, self.name, term=self.term)
        durable = durable_name(self.name, self.term)
        listed = [info.name for info in await self.js.consumers_info(self.stream)]
        # this term's and older ones (this term's by name too: a cluster busy electing a
        # leader may list only some consumers)
        for old in {durable, *(n for n in listed if term_of(self.name, n) is not None)}:
            with contextlib.suppress(NotFoundError):
                await self.js.delete_consumer(self.stream, old)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.ALL if self.ack_all else AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=checkpoint + 1,
            ack_wait=60,
            max_ack_pending=50_000,
        )
        if isinstance(self.filter_subject, str) or self.filter_subject is None:
            config.filter_subject = self.filter_subject
        else:  # several subjects (NATS 2.10 filter_subjects)
            config.filter_subjects = list(self.filter_subject)
        await self.js.add_consumer(self.stream, config)
        puller = Puller(
            self.js._nc,  # the connection the JetStream context speaks through
            f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{durable}",
            self.batch,
        )
        await puller.start()
        return puller

    async def run(self, stop: asyncio.Event) -> None:
        """Consume while this instance leads the consumer (elected among its instances)."""
        await self.leadership.run(stop, self._run_term)

    async def _run_term(self, term: int, stop: asyncio.Event) -> None:
        self.term = term
        await self.run_unelected(stop)

    async def run_unelected(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                sub = await self._subscribe()
                backoff = 0.2
                await self._loop(sub, stop)
            except (NatsError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if isinstance(exc, SYSTEMIC):  # would fail for every event: stop, unhealthy
                    raise
                log.warning("consumer waiting for NATS", consumer=self.name, error=str(exc))
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _loop(self, puller: Puller, stop: asyncio.Event) -> None:
        """Apply batches until ``stop``, or until the subscription must be made again.

        The JetStream consumer numbers its deliveries 1, 2, 3… (consumer sequence). A
        delivery out of that line means that its state moved under us: a new consumer
        leader resending what its predecessor had sent, or skipping what was lost in
        flight with it (which would come back only after ``ack_wait``, behind a checkpoint
        moved past it). Then what came in line is applied, and the consumer is created
        again from the checkpoint; so is it when the puller says it is stale."""
        expected = 1
        applying: asyncio.Future[None] | None = None  # the batch before, applied meanwhile
        try:
            while not stop.is_set():
                msgs = await puller.next_batch(wait=1.0)
                in_line = 0
                seqs = []
                for msg in msgs:
                    stream_seq, consumer_seq = sequences(msg)
                    if consumer_seq != expected:
                        break
                    expected += 1
                    in_line += 1
                    seqs.append(stream_seq)
                out_of_line = len(msgs) - in_line
                msgs = msgs[:in_line]
                # decoded while the batch before is applied (Python works while that
                # batch waits for PostgreSQL); applied only once that one is committed
                decoded = self._decode(msgs, seqs) if msgs else None
                applying = await _settled(applying)
                if decoded is not None:
                    applying = asyncio.ensure_future(self._apply_batch(msgs, decoded, stop))
                why = puller.stale or (out_of_line and "a delivery out of line")
                if why:
                    applying = await _settled(applying)  # the new consumer reads its checkpoint
                    log.info("consumer subscribes again", consumer=self.name, reason=why)
                    return
            applying = await _settled(applying)  # stopping: the last batch committed, acked
        finally:
            if applying is not None:  # failing: a batch not committed comes again
                applying.cancel()
                with contextlib.suppress(BaseException):
                    await applying
            await puller.close()

    def _decode(
        self, msgs: list[Msg], seqs: list[int]
    ) -> tuple[list[Delivery], list[tuple[int, DeadLetter]]]:
        deliveries, undecoded = [], []
        for msg, seq in zip(msgs, seqs, strict=True):
            replayed = bool(msg.headers and msg.headers.get(REPLAYED_HEADER))
            try:
                envelope = envelope_decoder.decode(msg.data)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                undecoded.append((seq, undecodable(self.dead_letter_name, msg, exc)))
                continue
            deliveries.append(Delivery(seq, envelope, replayed))
        return deliveries, undecoded

    async def _apply_batch(
        self,
        msgs: list[Msg],
        decoded: tuple[list[Delivery], list[tuple[int, DeadLetter]]],
        stop: asyncio.Event,
    ) -> None:
        deliveries, undecoded = decoded
        await self._apply_until_done(deliveries, stop, undecoded)
        for msg in msgs[-1:] if self.ack_all else msgs:
            await msg.ack()

    async def _apply_until_done(
        self,
        deliveries: list[Delivery],
        stop: asyncio.Event,
        undecoded: Sequence[tuple[int, DeadLetter]] = (),
    ) -> None:
        backoff = 0.2
        while True:
            try:
                await self.apply(deliveries, undecoded)
                return
            except TRANSIENT as exc:
                log.warning("consumer waiting for PostgreSQL", consumer=self.name, error=str(exc))
                if stop.is_set():
                    raise
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def apply(
        self, deliveries: Sequence[Delivery], undecoded: Sequence[tuple[int, DeadLetter]] = ()
    ) -> None:
        """Apply a batch with its checkpoint in one transaction.

        The batch is applied whole first, without a savepoint; when the handler fails,
        that transaction is rolled back and the batch applied again event by event
        (``parcours.isolation``), so a poison event costs a second transaction and a
        clean batch no savepoint."""
        if not deliveries and not undecoded:
            return
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    done = await self._apply_in(conn, deliveries, undecoded, isolate=False)
            except NOT_POISON:
                raise
            except Exception:  # noqa: BLE001 - a poison event: find it, one at a time
                async with conn.transaction():
                    done = await self._apply_in(conn, deliveries, undecoded, isolate=True)
        if done is not None:
            self.last_seq, fresh = done
            self.applied += fresh

    async def _apply_in(
        self,
        conn: asyncpg.Connection,
        deliveries: Sequence[Delivery],
        undecoded: Sequence[tuple[int, DeadLetter]],
        *,
        isolate: bool,
    ) -> tuple[int, int] | None:
        """The batch in ``conn``'s transaction: the new checkpoint and how many events were
        fresh, or None if all was old."""
        name = self.dead_letter_name
        streams = [d.envelope.stream for d in deliveries]
        checkpoint, parked = await lock_position(
            conn, self.name, name, streams, term=self.term, wait_for_disk=self.wait_for_disk
        )
        fresh = [d for d in deliveries if d.seq > checkpoint]
        bad = [d for seq, d in undecoded if seq > checkpoint]
        if not fresh and not bad:
            return None
        # an undecodable event parks its stream from where it stands in the batch
        first_bad: dict[str, tuple[int, uuid.UUID]] = {}
        for seq, d in undecoded:
            if seq > checkpoint:
                first_bad.setdefault(d.stream, (seq, d.event_id))
        behind = [
            d
            for d in fresh
            if d.envelope.stream in first_bad and d.seq > first_bad[d.envelope.stream][0]
        ]
        waits = {d.seq for d in behind}
        todo = [d for d in fresh if d.seq not in waits]
        await apply_isolated(conn, name, todo, self.handler, parked=parked, isolate=isolate)
        waiting = [letter(name, d.envelope, "", first_bad[d.envelope.stream][1]) for d in behind]
        await record(conn, [*bad, *waiting])
        last = max([d.seq for d in fresh] + [seq for seq, _ in undecoded if seq > checkpoint])
        await conn.execute(
            "UPDATE consumer_checkpoints SET stream_seq = $2, updated_at = now() WHERE name = $1",
            self.name,
            last,
        )
        return last, len(fresh)


async def _settled(applying: asyncio.Future[None] | None) -> None:
    """Wait for the batch being applied (its failure raised here); nothing is left pending."""
    if applying is not None:
        await applying


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
