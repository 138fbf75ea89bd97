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
from pathways.api_admin import advance_clock, read_clock
from pathways.api_batch import batch_route
from pathways.api_enrolments import enrol, get_enrolment, get_protocol, list_protocols
from pathways.api_facts import post_fact
from pathways.api_identity import erase_identity
from pathways.api_patient_identity import read_identity
from pathways.api_tasks import task_command
from pathways.decider import PathwayDecider
from pathways.domain import ProtocolCatalog
from pathways.group_commit import GroupCommit
from pathways.interop.fhir.routes import fhir_bundle, fhir_metadata
from pathways.relay import Relay
from pathways.scheduler import Scheduler

PROTOCOLS_DIR = Path(__file__).parent / "protocols"


def load_catalog(settings: Settings) -> ProtocolCatalog:
    """Every protocol file, validated; a bad file stops the service with its path and reason."""
    return ProtocolCatalog.load_dir(getattr(settings, "protocols_dir", None) or PROTOCOLS_DIR)


async def run_relay(resources: Resources, stop: asyncio.Event) -> None:
    relay = Relay(
        pool=resources.pool,
        nc=resources.nc,
        subjects=resources.subjects,
        database_url=resources.settings.database_url,
    )
    resources.extra["relay"] = relay
    await relay.run(stop)


async def run_scheduler(resources: Resources, stop: asyncio.Event) -> None:
    await resources.extra["scheduler"].run(stop)


def create_relay_app(settings: Settings) -> Litestar:
    """The relay alone (``parcours serve relay``): health endpoints and the relay loop."""
    return build_app(
        settings,
        name="relay",
        title="Parcours relay: committed events to NATS",
        route_handlers=[],
        workers=[run_relay],
    )


def create_app(
    settings: Settings,
    *,
    with_relay: bool | None = None,
    with_scheduler: bool = True,
    extra_routes: Sequence[Any] = (),
) -> Litestar:
    decider = PathwayDecider(load_catalog(settings))

    async def on_ready(resources: Resources) -> None:
        resources.extra["decider"] = decider
        resources.extra["decide"] = decider.consequences
        scheduler = Scheduler(resources.pool, decider, resources.clock)
        resources.extra["scheduler"] = scheduler
        resources.extra["group_commit"] = GroupCommit(resources.pool, decider, scheduler.states)

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
            post_fact,
            batch_route(settings.batch_max_bytes),
            erase_identity,
            read_identity,
            enrol,
            get_enrolment,
            list_protocols,
            get_protocol,
            task_command,
            read_clock,
            advance_clock,
            dead_letters,
            fhir_bundle,
            fhir_metadata,
            *extra_routes,
        ],
        workers=workers,
        on_ready=on_ready,
    )
