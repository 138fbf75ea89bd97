"""Composition root of the notifications service.

Workers: the router (task events → task views + outbox, see ``intake``), the
outbox publisher (outbox → NOTIFICATIONS stream, see ``outbox``) and the digest
worker (``digest_sender``). Routes: the directory, the caller's feed (SSE and
WebSocket), their open tasks and receipts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from litestar import Litestar

from notifications.api import directory, feeds, me
from notifications.api.unseen import unseen_tasks
from notifications.digest_sender import run_digests
from notifications.intake import NAME, RouterConsumer, make_handler
from notifications.outbox import OutboxPublisher
from parcours.service import Resources, build_app
from parcours.settings import Settings


@dataclass(frozen=True, slots=True)
class NotificationsRuntime:
    """The live collaborators of the service, built once its connections are open."""

    resources: Resources
    publisher: OutboxPublisher  # woken by the router and the digest worker after a commit

    @classmethod
    def build(cls, resources: Resources) -> NotificationsRuntime:
        return cls(resources, OutboxPublisher(pool=resources.pool, nc=resources.nc))


async def run_publisher(runtime: NotificationsRuntime, stop: asyncio.Event) -> None:
    await runtime.publisher.run(stop)


async def run_router(runtime: NotificationsRuntime, stop: asyncio.Event) -> None:
    resources = runtime.resources
    settings = resources.settings
    consumer = RouterConsumer(
        name=NAME,
        pool=resources.pool,
        js=resources.js,
        nc=resources.nc,
        stream=resources.subjects.events_stream,
        handler=make_handler(resources.subjects, settings.notifications.default_zone),
        # task events, the facts and enrolment events that alerts are judged on, and the
        # access events (break-the-glass grants go to the coordinators)
        filter_subject=f"{settings.nats.prefix}.*.events.*",
        on_commit=runtime.publisher.wake.set,
        ack_all=True,  # one ack per batch: it restarts from its PostgreSQL checkpoint anyway
        roles=resources.roles,  # leader or standby, in /health/ready
        wait_for_disk=False,  # a commit lost in a crash is routed again (EventConsumer says why)
    )
    await consumer.run(stop)


async def run_digest_worker(runtime: NotificationsRuntime, stop: asyncio.Event) -> None:
    resources = runtime.resources
    settings = resources.settings
    await run_digests(
        resources.pool,
        resources.clock,
        resources.subjects,
        stop,
        hour=settings.notifications.digest_hour,
        interval=settings.notifications.digest_interval_seconds,
        on_commit=runtime.publisher.wake.set,
    )


def create_app(settings: Settings) -> Litestar:
    return build_app(
        settings,
        name="notifications",
        title="Parcours notifications: tasks to professionals",
        route_handlers=[*directory.ROUTES, *feeds.ROUTES, *me.ROUTES, unseen_tasks],
        workers=[run_publisher, run_router, run_digest_worker],
        runtime=NotificationsRuntime.build,
    )
