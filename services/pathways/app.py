"""Composition root of the pathways service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from litestar import Litestar

from parcours.service import Resources, build_app
from parcours.settings import Settings
from pathways.api_facts import post_fact
from pathways.relay import Relay


async def run_relay(resources: Resources, stop: asyncio.Event) -> None:
    relay = Relay(
        pool=resources.pool,
        nc=resources.nc,
        subjects=resources.subjects,
        database_url=resources.settings.database_url,
    )
    resources.extra["relay"] = relay
    await relay.run(stop)


def create_app(
    settings: Settings, *, with_relay: bool = True, extra_routes: Sequence[Any] = ()
) -> Litestar:
    return build_app(
        settings,
        name="pathways",
        title="Parcours pathways: ingestion, protocols, tasks",
        route_handlers=[post_fact, *extra_routes],
        workers=[run_relay] if with_relay else [],
    )
