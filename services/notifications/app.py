"""Composition root of the notifications service.

Workers: the router (task events → task views + outbox, see ``intake``), the
outbox publisher (outbox → NOTIFICATIONS stream, see ``outbox``) and the digest
worker (``digest_sender``). Routes: the directory, the caller's feed (SSE and
WebSocket), their open tasks and receipts.
"""

from __future__ import annotations

import asyncio

from litestar import Litestar

from notifications.api import directory, feeds, me
from notifications.api.unseen import unseen_tasks
from notifications.digest_sender import run_digests
from notifications.intake import NAME, RouterConsumer, make_handler
from notifications.outbox import OutboxPublisher
from parcours.service import Resources, build_app
from parcours.settings import Settings


def publisher_of(resources: Resources) -> OutboxPublisher:
    publisher = resources.extra.get("publisher")
    if publisher is None:
        publisher = resources.extra["publisher"] = OutboxPublisher(
            pool=resources.pool, nc=resources.nc
        )
    return publisher


async def run_publisher(resources: Resources, stop: asyncio.Event) -> None:
    await publisher_of(resources).run(stop)


async def run_router(resources: Resources, stop: asyncio.Event) -> None:
    settings = resources.settings
    publisher = publisher_of(resources)
    consumer = RouterConsumer(
        name=NAME,
        pool=resources.pool,
        js=resources.js,
        nc=resources.nc,
        stream=resources.subjects.events_stream,
        handler=make_handler(resources.subjects, settings.notification_default_zone),
        filter_subject=f"{settings.nats_prefix}.*.events.task",
        on_commit=publisher.wake.set,
        ack_all=True,  # one ack per batch: it restarts from its PostgreSQL checkpoint anyway
    )
    resources.extra["router"] = consumer
    await consumer.run(stop)


async def run_digest_worker(resources: Resources, stop: asyncio.Event) -> None:
    settings = resources.settings
    await run_digests(
        resources.pool,
        resources.clock,
        resources.subjects,
        stop,
        hour=settings.digest_hour,
        interval=settings.digest_interval_seconds,
        on_commit=publisher_of(resources).wake.set,
    )


def create_app(settings: Settings) -> Litestar:
    return build_app(
        settings,
        name="notifications",
        title="Parcours notifications: tasks to professionals",
        route_handlers=[*directory.ROUTES, *feeds.ROUTES, *me.ROUTES, unseen_tasks],
        workers=[run_publisher, run_router, run_digest_worker],
    )
