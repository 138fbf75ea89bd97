"""Composition root of the pathways service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Litestar

from parcours.deadletters_api import dead_letters
from parcours.service import Resources, build_app
from parcours.settings import Settings
from pathways.api import ROUTES, batch_route
from pathways.domain import ProtocolCatalog
from pathways.interop.fhir.plan_routes import fhir_plan_definition, fhir_plan_definitions
from pathways.interop.fhir.routes import fhir_bundle, fhir_metadata
from pathways.relay import Relay
from pathways.relay_leader import RelayLeadership
from pathways.runtime import PathwaysRuntime

PROTOCOLS_DIR = Path(__file__).parent / "protocols"


def load_catalog(settings: Settings) -> ProtocolCatalog:
    """Every protocol file, validated; a bad file stops the service with its path and reason."""
    return ProtocolCatalog.load_dir(getattr(settings, "protocols_dir", None) or PROTOCOLS_DIR)


async def _relay(resources: Resources, stop: asyncio.Event) -> None:
    """The relay, when this instance is elected to lead (``pathways.relay_leader``)."""
    url = resources.settings.database.url

    def relay() -> Relay:
        return Relay(
            pool=resources.pool, nc=resources.nc, subjects=resources.subjects, database_url=url
        )

    await RelayLeadership(url, relay, roles=resources.roles).run(stop)


async def run_relay(runtime: PathwaysRuntime, stop: asyncio.Event) -> None:
    await _relay(runtime.resources, stop)


async def run_scheduler(runtime: PathwaysRuntime, stop: asyncio.Event) -> None:
    await runtime.scheduler.run(stop)


def create_relay_app(settings: Settings) -> Litestar:
    """The relay alone (``parcours serve relay``): health endpoints and the relay loop."""
    return build_app(
        settings,
        name="relay",
        title="Parcours relay: committed events to NATS",
        route_handlers=[],
        workers=[_relay],
    )


def create_app(
    settings: Settings,
    *,
    with_relay: bool | None = None,
    with_scheduler: bool = True,
    extra_routes: Sequence[Any] = (),
) -> Litestar:
    catalog = load_catalog(settings)
    workers = []
    if settings.relay_in_process if with_relay is None else with_relay:
        workers.append(run_relay)
    if with_scheduler:
        workers.append(run_scheduler)
    return build_app(
        settings,
        name="pathways",
        title="Parcours pathways: ingestion, protocols, tasks",
        route_handlers=[
            *ROUTES,
            batch_route(settings.batch.max_bytes),
            dead_letters,
            fhir_bundle,
            fhir_metadata,
            fhir_plan_definitions,
            fhir_plan_definition,
            *extra_routes,
        ],
        workers=workers,
        runtime=lambda resources: PathwaysRuntime.build(resources, catalog),
    )
