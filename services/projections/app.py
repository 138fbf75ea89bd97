"""Composition root of the projections service.

Workers: one durable consumer per view (``timeline``, ``care``, ``indicators``),
each applying its batches with its checkpoint (``projections.runner``). The
indicator definitions are read once from the protocol files
(``PARCOURS_PROTOCOLS_DIR``, default: the pathways' protocols folder).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from litestar import Litestar
from litestar.config.app import AppConfig

from contracts.indicators import load_protocol_indicators
from parcours.service import Resources, build_app
from parcours.settings import Settings
from projections.api import coordinator
from projections.api.access import access_escalations, capacity_report, waiting_list
from projections.api.access_indicators import access_indicators
from projections.api.access_report import access_report
from projections.api.cases import case_timeline
from projections.api.dashboard import dashboard
from projections.api.exports import (
    export_cases,
    export_indicators,
    measure_report,
    mission_report,
)
from projections.api.fhir_tasks import fhir_tasks
from projections.api.indicators import get_indicator, get_indicator_cases, list_indicators
from projections.api.timeline import patient_timeline
from projections.api.worklists import (
    coordinator_worklist,
    list_enrolments,
    my_worklist,
    pool_worklist,
)
from projections.domain.cases import Catalog
from projections.runner import run_views
from projections.views import View, build_views

ROUTES = [
    patient_timeline,
    list_indicators,
    get_indicator,
    get_indicator_cases,
    case_timeline,
    export_indicators,
    export_cases,
    measure_report,
    mission_report,
    my_worklist,
    pool_worklist,
    coordinator_worklist,
    list_enrolments,
    dashboard,
    fhir_tasks,
    access_report,
    *coordinator.ROUTES,
    waiting_list,
    capacity_report,
    access_indicators,
    access_escalations,
]


def load_catalog(settings: Settings) -> Catalog:
    return Catalog(load_protocol_indicators(settings.protocols_dir))


@dataclass(frozen=True, slots=True)
class ProjectionsRuntime:
    """The live collaborators of the service, built once its connections are open."""

    resources: Resources
    catalog: Catalog  # the indicator definitions
    views: dict[str, View]


async def run_projections(runtime: ProjectionsRuntime, stop: asyncio.Event) -> None:
    await run_views(runtime.resources, list(runtime.views.values()), stop)


def create_app(
    settings: Settings, *, catalog: Catalog | None = None, with_consumers: bool = True
) -> Litestar:
    catalog = catalog or load_catalog(settings)
    views = build_views(settings.auth.pseudonym_secret, catalog)

    def extra(config: AppConfig) -> None:  # read by the handlers as typed state entries
        config.state["catalog"] = catalog
        config.state["views"] = views

    return build_app(
        settings,
        name="projections",
        title="Parcours projections: timelines, worklists, indicators",
        route_handlers=ROUTES,
        workers=[run_projections] if with_consumers else [],
        runtime=lambda resources: ProjectionsRuntime(resources, catalog, views),
        extra=extra,
        browser_sign_in=True,  # the dashboard's and the coordinator page's (parcours.signin)
    )
