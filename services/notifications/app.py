"""Composition root of the notifications service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from litestar import Litestar

from parcours.consumer import Delivery, EventConsumer
from parcours.service import Resources, build_app
from parcours.settings import Settings


async def _route(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """Routing of task events to people is the notifications issue's work."""


async def run_router(resources: Resources, stop: asyncio.Event) -> None:
    consumer = EventConsumer(
        name="notifications-router",
        pool=resources.pool,
        js=resources.js,
        stream=resources.subjects.events_stream,
        handler=_route,
        filter_subject=f"{resources.settings.nats_prefix}.*.events.task",
    )
    resources.extra["router"] = consumer
    await consumer.run(stop)


def create_app(settings: Settings) -> Litestar:
    return build_app(
        settings,
        name="notifications",
        title="Parcours notifications: tasks to professionals",
        route_handlers=[],
        workers=[run_router],
    )
