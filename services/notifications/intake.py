"""The router: task events in, notifications into the outbox, one transaction per batch.

``RouterConsumer`` is ``parcours.consumer.EventConsumer`` (durable pull
consumer, checkpoint written with the effects, ack after commit) with a
different *fetch loop*. ``PullSubscription.fetch(500, timeout=1)`` of nats-py
keeps waiting, after the first message, until the batch is full or the
request expires: a lone event would wait up to a second. Here one pull request
stays outstanding at the server, messages are handed over the moment they
arrive (with whatever else has already arrived: natural batching under load),
and a new request is sent when the previous one is used up or expires. After
each commit the publisher is woken, so no polling delay sits on the path.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence

import asyncpg
import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts.events import envelope_decoder
from contracts.subjects import Subjects
from notifications import taskviews
from notifications.outbox import enqueue
from notifications.routing import Addressed, TaskView, route, task_id_of
from parcours.consumer import Delivery, EventConsumer

log = structlog.get_logger("notifications.router")

NAME = "notifications-router"


async def default_zones(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch("SELECT cpts, default_zone FROM directory_sectors")
    return {r["cpts"]: r["default_zone"] for r in rows}


def make_handler(subjects: Subjects, default_zone: str):  # type: ignore[no-untyped-def]
    """The consumer's handler: route a batch, keep task views, enqueue notifications."""

    async def handle(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        views: dict = await taskviews.load(
            conn, (t for d in deliveries if (t := task_id_of(d.envelope.data)) is not None)
        )
        sectors = await default_zones(conn)
        changed: dict = {}
        out: list[Addressed] = []
        for d in deliveries:
            env = d.envelope
            task_id = task_id_of(env.data)
            before: TaskView | None = views.get(task_id) if task_id else None
            routed = route(
                env, before, subjects=subjects, default_zone=sectors.get(env.cpts, default_zone)
            )
            if task_id is not None and routed.task is not None and routed.task != before:
                views[task_id] = changed[task_id] = routed.task
            if routed.task is None and task_id is not None and env.type != "EscalationRaised":
                log.warning("event of an unknown task", event_id=str(env.event_id), type=env.type)
            out.extend(routed.out)
        await taskviews.save(conn, list(changed.values()))
        await enqueue(conn, out)

    return handle


class _Puller:
    """One outstanding pull request; messages handed over as soon as they arrive."""

    def __init__(self, nc: NATS, next_subject: str, batch: int, expires: float = 5.0) -> None:
        self.nc, self.next_subject, self.batch, self.expires = nc, next_subject, batch, expires
        self.queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._credits = 0
        self._asked_at = 0.0
        self._sub = None
        self._inbox = ""

    async def _on_msg(self, msg: Msg) -> None:
        self.queue.put_nowait(msg)

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_msg)

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # noqa: BLE001 - closing on a dead connection
                pass

    async def _ask(self) -> None:
        request = {"batch": self.batch, "expires": int(self.expires * 1e9)}
        await self.nc.publish(self.next_subject, json.dumps(request).encode(), reply=self._inbox)
        self._credits, self._asked_at = self.batch, time.monotonic()

    async def next_batch(self, wait: float) -> list[Msg]:
        deadline = time.monotonic() + wait
        while True:
            if self._credits <= 0 or time.monotonic() - self._asked_at > self.expires + 1.0:
                await self._ask()  # used up, expired, or lost in a reconnect
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            try:
                first = await asyncio.wait_for(self.queue.get(), remaining)
            except TimeoutError:
                return []
            msgs: list[Msg] = []
            msg: Msg | None = first
            while msg is not None:
                status = JetStreamContext.is_status_msg(msg)
                if status is None:
                    msgs.append(msg)
                    self._credits -= 1
                elif status != "100":  # 404/408/409: this request is over
                    self._credits = 0
                msg = self.queue.get_nowait() if not self.queue.empty() else None
            if msgs:
                return msgs


class RouterConsumer(EventConsumer):
    def __init__(self, *, nc: NATS, on_commit: Callable[[], None], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.nc, self.on_commit = nc, on_commit

    async def _subscribe(self):  # type: ignore[no-untyped-def]
        bound = await super()._subscribe()  # creates (or updates) the durable consumer
        await bound.unsubscribe()
        puller = _Puller(
            self.nc, f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.name}", self.batch
        )
        await puller.start()
        return puller

    async def _loop(self, puller: _Puller, stop: asyncio.Event) -> None:  # type: ignore[override]
        try:
            while not stop.is_set():
                msgs = await puller.next_batch(wait=1.0)
                if not msgs:
                    continue
                deliveries = []
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    try:
                        deliveries.append(Delivery(seq, envelope_decoder.decode(msg.data)))
                    except msgspec.ValidationError as exc:
                        log.error("undecodable event skipped", seq=seq, error=str(exc))
                await self._apply_until_done(deliveries, stop)
                for msg in msgs:
                    await msg.ack()
        finally:
            await puller.close()

    async def apply(self, deliveries: Sequence[Delivery]) -> None:
        await super().apply(deliveries)
        self.on_commit()
