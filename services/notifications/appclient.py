"""How a professional's app follows its notifications over NATS (reference client).

Used by the tests and ``bench/notify.py``, and meant to be read by app
developers. Per subject (own subject, each pool) the app creates a small push
consumer on the notifications stream:

- named (``config.name``), so the request goes to
  ``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter subject>``: the NATS
  permissions of ``deploy/nats/`` allow a professional exactly those create
  subjects whose filter is one of their own subjects;
- delivering to an inbox under the app's own inbox prefix
  (``_INBOX_<rpps>-<cpts>.``), the only inboxes the professional may subscribe to;
- ``deliver_policy=by_start_sequence`` from the last stream sequence the app
  saw + 1 (``new`` on a first start): offline time is replayed in order;
- no acks (``ack_policy=none``) and an inactivity threshold: the consumer
  vanishes by itself when the app goes away.

The app de-duplicates by ``notification_id`` and remembers the highest stream
sequence it processed.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.notifications import Notification, notification_decoder


class Received(msgspec.Struct, frozen=True):
    seq: int
    subject: str
    notification: Notification


class AppFeed:
    def __init__(
        self,
        nc: NATS,
        stream: str,
        subjects: Sequence[str],
        *,
        after_seq: int | None = None,
        inactive_threshold: float = 60.0,
        api_timeout: float = 5.0,
    ) -> None:
        self.nc, self.stream, self.subjects = nc, stream, list(subjects)
        self.after_seq, self.inactive_threshold = after_seq, inactive_threshold
        self.api_timeout = api_timeout
        self.queue: asyncio.Queue[Received] = asyncio.Queue()
        self.last_seq = after_seq or 0
        self._seen: set[str] = set()
        self._subs: list = []

    async def _on_msg(self, msg: Msg) -> None:
        if not msg.data:  # idle heartbeat or flow control: not a notification
            return
        note = notification_decoder.decode(msg.data)
        seq = msg.metadata.sequence.stream
        self.last_seq = max(self.last_seq, seq)
        if note.notification_id in self._seen:
            return
        self._seen.add(note.notification_id)
        self.queue.put_nowait(Received(seq, msg.subject, note))

    async def start(self) -> AppFeed:
        js = self.nc.jetstream(timeout=self.api_timeout)
        for subject in self.subjects:
            deliver = self.nc.new_inbox()
            self._subs.append(await self.nc.subscribe(deliver, cb=self._on_msg))
            config = ConsumerConfig(
                name=f"app_{secrets.token_hex(8)}",
                deliver_subject=deliver,
                filter_subject=subject,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=self.inactive_threshold,
                mem_storage=True,
                num_replicas=1,
            )
            if self.after_seq is None:
                config.deliver_policy = DeliverPolicy.NEW
            else:
                config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
                config.opt_start_seq = self.after_seq + 1
            await js.add_consumer(self.stream, config)
        return self

    async def next(self, within: float = 5.0) -> Received:
        return await asyncio.wait_for(self.queue.get(), within)

    async def take(self, n: int, within: float = 10.0) -> list[Received]:
        return [await self.next(within) for _ in range(n)]

    async def stop(self) -> None:
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - the connection may be gone already
                pass
        self._subs.clear()
