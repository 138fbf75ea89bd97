"""``GET /v1/me/notifications/stream``: the caller's feed over SSE or WebSocket.

For apps that do not speak NATS, the same feed a NATS app would follow: the
caller's own subject and the pools of their role in their zones (zones from the
directory, else the token's ``zones`` claim); a coordinator follows the
coordinators' subject of their CPTS. Each connection is an ordered JetStream
consumer on the notifications stream, filtered to those subjects.

Resume: every message's id is its stream sequence. Server-Sent Events send it
as ``id:``, so a browser's ``EventSource`` reconnects with ``Last-Event-ID``
and gets exactly what it missed, in order; a first connection may pass
``?last_event_id=N`` (``0``: everything the stream still keeps, 30 days by
default). Without either, the feed starts with what comes next (fetch the
current state with ``GET /v1/me/tasks``). The WebSocket takes
``?last_event_id=`` and sends ``{"seq", "subject", "notification"}`` objects.
A client too slow to keep up is disconnected, and resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from litestar import Request, WebSocket, get, websocket
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException, WebSocketDisconnect
from litestar.response import ServerSentEvent, ServerSentEventMessage
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts.roles import PROFESSIONAL_ROLES, Role
from contracts.subjects import Subjects
from notifications.directory import caller_zones
from parcours.auth import Principal
from parcours.problems import Problem
from parcours.service import Resources

STREAM_PATH = "/v1/me/notifications/stream"
KEEPALIVE_SECONDS = 15.0
QUEUE_LIMIT = 10_000
_PROFESSIONALS = {str(r) for r in PROFESSIONAL_ROLES}


async def caller_subjects(resources: Resources, principal: Principal) -> list[str]:
    subjects: Subjects = resources.subjects
    if principal.role == Role.COORDINATOR:
        return [subjects.coordinators(principal.cpts)]
    if principal.role not in _PROFESSIONALS:
        raise PermissionDeniedException("notification feeds are for professionals and coordinators")
    role = principal.actor_role
    try:
        own = subjects.professional(principal.cpts, role, principal.sub)
    except ValueError:
        raise Problem(422, "Invalid token", "the token's sub is not an RPPS") from None
    zones = await caller_zones(resources.pool, principal)
    return [own, *(subjects.pool(principal.cpts, role, z) for z in zones)]


def parse_last_event_id(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise Problem(
            400,
            "Invalid Last-Event-ID",
            "Last-Event-ID is the stream sequence of the last "
            "notification received (a whole number)",
            field="last_event_id",
        )
    return int(value)


@asynccontextmanager
async def follow(
    js: JetStreamContext, stream: str, filters: list[str], after_seq: int | None
) -> AsyncIterator[asyncio.Queue[Msg | None]]:
    """An ordered consumer on ``filters`` from ``after_seq + 1``; ``None`` in the queue = overflow."""
    queue: asyncio.Queue[Msg | None] = asyncio.Queue(QUEUE_LIMIT + 1)

    async def on_msg(msg: Msg) -> None:
        if queue.qsize() >= QUEUE_LIMIT:
            with suppress(asyncio.QueueFull):
                queue.put_nowait(None)
            return
        queue.put_nowait(msg)

    config = ConsumerConfig(inactive_threshold=30.0)
    if len(filters) > 1:
        config.filter_subjects = filters
    if after_seq is None:
        config.deliver_policy = DeliverPolicy.NEW
    else:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = after_seq + 1
    sub = await js.subscribe(
        filters[0], stream=stream, cb=on_msg, ordered_consumer=True, config=config
    )
    try:
        yield queue
    finally:
        with suppress(Exception):
            await sub.unsubscribe()


def wire(msg: Msg) -> bytes:
    seq = msg.metadata.sequence.stream
    return b'{"seq":%d,"subject":"%s","notification":%s}' % (seq, msg.subject.encode(), msg.data)


@get(STREAM_PATH, tags=["notifications"], summary="The caller's notifications (Server-Sent Events)")
async def sse_stream(
    request: Request[Principal, Any, Any], state: State, last_event_id: str | None = None
) -> ServerSentEvent:
    resources: Resources = state.resources
    filters = await caller_subjects(resources, request.user)
    after = parse_last_event_id(request.headers.get("last-event-id") or last_event_id)

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        async with follow(
            resources.js, resources.subjects.notifications_stream, filters, after
        ) as queue:
            yield ServerSentEventMessage(data=None, comment="following " + " ".join(filters))
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ServerSentEventMessage(data=None, comment="keepalive")
                    continue
                if msg is None:
                    return  # too slow: the client reconnects with Last-Event-ID
                yield ServerSentEventMessage(
                    data=msg.data.decode(), id=msg.metadata.sequence.stream
                )

    return ServerSentEvent(events(), headers={"Cache-Control": "no-store"})


@websocket(STREAM_PATH)
async def ws_stream(socket: WebSocket[Principal, Any, Any]) -> None:
    resources: Resources = socket.app.state.resources
    try:
        filters = await caller_subjects(resources, socket.user)
        after = parse_last_event_id(socket.query_params.get("last_event_id"))
    except (Problem, PermissionDeniedException) as exc:
        await socket.close(
            code=4403 if isinstance(exc, PermissionDeniedException) else 4400, reason=str(exc)[:120]
        )
        return
    await socket.accept()
    closed = asyncio.Event()

    async def read_until_closed() -> None:
        with suppress(WebSocketDisconnect, Exception):
            while True:
                await socket.receive_data("text")  # clients may send pings; ignored
        closed.set()

    reader = asyncio.create_task(read_until_closed())
    try:
        async with follow(
            resources.js, resources.subjects.notifications_stream, filters, after
        ) as queue:
            while not closed.is_set():
                getter = asyncio.ensure_future(queue.get())
                closer = asyncio.ensure_future(closed.wait())
                done, _ = await asyncio.wait(
                    {getter, closer},
                    timeout=KEEPALIVE_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                closer.cancel()
                if getter not in done:
                    getter.cancel()
                    if not closed.is_set():
                        await socket.send_data('{"keepalive":true}')
                    continue
                msg = getter.result()
                if msg is None:
                    await socket.close(code=4408, reason="too slow; resume with last_event_id")
                    return
                await socket.send_data(wire(msg).decode())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        reader.cancel()
        with suppress(Exception):
            await socket.close()


ROUTES = [sse_stream, ws_stream]
