"""Pulling from a durable JetStream consumer with no added latency.

nats-py's ``fetch(n, timeout)`` waits, after the first message, until the batch is
full or the request expires, so a lone event could wait a second. ``Puller`` keeps
one pull request outstanding at the server and hands messages over the moment they
arrive, with whatever else has arrived too (natural batching under load). Used by
``parcours.consumer.EventConsumer``.

A pull subscription can go quiet for good after a server restart or a leader change
(nats-py #504): the request is lost with the old leader, or the consumer is gone. So the
puller says when its consumer should be created again (``stale``): the connection
reconnected since it started, or the server answered a request with 409 (leadership
change, consumer deleted) or 503 (no consumer answers). It re-asks when a request is used
up or expired, so a lost request costs at most ``expires`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext


class Puller:
    """One outstanding pull request; messages handed over as soon as they arrive."""

    def __init__(self, nc: NATS, next_subject: str, batch: int, expires: float = 5.0) -> None:
        self.nc, self.next_subject, self.batch, self.expires = nc, next_subject, batch, expires
        self.queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._credits = 0
        self._asked_at = 0.0
        self._sub = None
        self._inbox = ""
        self._reconnects = nc.stats.get("reconnects", 0)
        self.status = ""  # the last status that ends a subscription: "409", "503"

    @property
    def stale(self) -> str:
        """Why the consumer behind this puller must be created again, or ""."""
        if self.nc.stats.get("reconnects", 0) != self._reconnects:
            return "the connection reconnected"
        return f"status {self.status}" if self.status else ""

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
                elif status != "100":  # 404/408/409/503: this request is over
                    self._credits = 0
                    if status in ("409", "503"):  # leadership changed, consumer gone
                        self.status = status
                msg = self.queue.get_nowait() if not self.queue.empty() else None
            if msgs or self.stale:
                return msgs


def sequences(msg: Msg) -> tuple[int, int]:
    """A JetStream message's (stream, consumer) sequences, read off its reply subject
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``
    (nats-py's ``Msg.metadata`` also builds a datetime and three objects per message: 6 %
    of a catch-up); another form of the subject is left to ``Msg.metadata``."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[5]), int(tokens[6])
    pair = msg.metadata.sequence
    return pair.stream, pair.consumer
