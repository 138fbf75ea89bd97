"""Publishing a batch to JetStream without waiting for each acknowledgement.

Every message of a batch is published on one connection (so the server stores
them in order) with its own reply subject under one inbox; the acknowledgements
are collected as they come, and the batch succeeds only when every message was
stored (or recognised as a duplicate of its ``Nats-Msg-Id``). Used by the relay
(events) and the notifications outbox.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from contextlib import suppress

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg


class PublishError(Exception):
    pass


class _Ack(msgspec.Struct):
    stream: str | None = None
    seq: int | None = None
    duplicate: bool = False
    error: dict | None = None


_ack = msgspec.json.Decoder(_Ack)


class Outgoing(msgspec.Struct, frozen=True):
    subject: str
    payload: bytes
    headers: dict[str, str]


# Errors of the moment in a cluster, for the whole batch to be sent again: 409 "duplicate
# message id is in process" (a leader change while the same id was being proposed),
# 408/429/500/503 (no quorum, a leader being elected, JetStream busy). Anything else
# (400: a message JetStream will never store) is a refusal of that message.
PASSING = frozenset({408, 409, 429, 500, 503})

_SUBJECT = re.compile(r"^[^\s.*>]+(\.[^\s.*>]+)*$")


def refusal(out: Outgoing, max_payload: int) -> str | None:
    """Why NATS would refuse this one message (checked before it is sent), or None.

    A subject with a space or a header with a line break would break the protocol
    for the whole connection; an oversized message would fail in the client."""
    if not _SUBJECT.match(out.subject) or not out.subject.isascii():
        return "the subject is not a valid NATS subject"
    if any(_BREAKS.intersection(k + v) for k, v in out.headers.items()):
        return "a header holds a line break"
    size = len(out.payload) + sum(len(k) + len(v) + 4 for k, v in out.headers.items()) + 16
    if size > max_payload:
        return f"the message ({size} bytes) exceeds the NATS maximum payload ({max_payload})"
    return None


_BREAKS = frozenset("\r\n\0")


class BatchPublisher:
    """Pipelined JetStream publishing on one connection; ``start`` before use."""

    def __init__(self, nc: NATS, *, what: str, ack_timeout: float = 5.0) -> None:
        self.nc, self.what, self.ack_timeout = nc, what, ack_timeout
        self._pending: dict[str, asyncio.Future[Msg]] = {}
        self._inbox = ""
        self._seq = 0
        self._sub = None

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)

    async def close(self) -> None:
        if self._sub is not None:
            with suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_ack(self, msg: Msg) -> None:
        fut = self._pending.pop(msg.subject, None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def refusal(self, out: Outgoing) -> str | None:
        return refusal(out, self.nc.max_payload or 1024 * 1024)

    async def publish(self, batch: Sequence[Outgoing]) -> dict[int, str]:
        """Publish ``batch`` in order; return when JetStream answered every message.

        Returns the messages JetStream refused on their own (index -> its error), for the
        caller to set aside; no answer in time, or no stream, is a ``PublishError``."""
        if not self.nc.is_connected:
            raise PublishError("NATS is not connected")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Msg]] = []
        for out in batch:
            self._seq += 1
            reply = f"{self._inbox}.{self._seq}"
            fut: asyncio.Future[Msg] = loop.create_future()
            self._pending[reply] = fut
            futures.append(fut)
            await self.nc.publish(out.subject, out.payload, reply=reply, headers=out.headers)
        # No ``nc.flush()``: the acknowledgements are the proof. A flush that times out
        # (a JetStream leader election) leaves a cancelled PONG future behind, and in
        # nats-py 2.16 the PONG arriving later raises InvalidStateError in the read loop,
        # which then stops for good: the connection looks connected and reads nothing.
        try:
            acks = await asyncio.wait_for(asyncio.gather(*futures), self.ack_timeout)
        except TimeoutError:
            for fut in futures:
                fut.cancel()
            self._pending.clear()
            raise PublishError(f"JetStream did not acknowledge the {self.what} in time") from None
        refused: dict[int, str] = {}
        for at, msg in enumerate(acks):
            if msg.headers and msg.headers.get("Status") == "503":
                raise PublishError(f"no JetStream stream answers the {self.what} subjects")
            ack = _ack.decode(msg.data)
            if ack.error:
                why = ack.error.get("description", "error")
                if ack.error.get("code") in PASSING:  # the cluster, not the message
                    raise PublishError(f"JetStream could not store the {self.what} yet: {why}")
                refused[at] = f"JetStream refused it: {why}"
        return refused
