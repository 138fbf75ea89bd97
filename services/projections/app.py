"""Composition root of the projections service."""

from __future__ import annotations

import asyncio

from litestar import Litestar

from parcours.consumer import EventConsumer
from parcours.service import Resources, build_app
from parcours.settings import Settings
from projections.api import patient_timeline
from projections.timeline import write_timeline


async def run_timeline(resources: Resources, stop: asyncio.Event) -> None:
    consumer = EventConsumer(
        name="projections-timeline",
        pool=resources.pool,
        js=resources.js,
        stream=resources.subjects.events_stream,
        handler=write_timeline,
    )
    resources.extra["timeline"] = consumer
    await consumer.run(stop)


def create_app(settings: Settings) -> Litestar:
    return build_app(
        settings,
        name="projections",
        title="Parcours projections: timelines, worklists, indicators",
        route_handlers=[patient_timeline],
        workers=[run_timeline],
    )
