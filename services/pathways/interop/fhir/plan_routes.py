"""``GET /fhir/r4/PlanDefinition`` (a searchset of every protocol version) and
``GET /fhir/r4/PlanDefinition/{protocol}-{version}`` (one version), from the protocol
catalog the service loaded (``services/pathways/protocols/*.toml``). A protocol is no
patient data: every reader of ``/v1/protocols`` may read them."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get

from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.auth import requires
from parcours.problems import Problem
from pathways.interop.fhir.outcomes import FHIR_JSON
from pathways.interop.fhir.plan_definition import plan_definition, plan_searchset
from pathways.runtime import PathwaysRuntime

READERS = (Role.COORDINATOR, Role.ADMIN, Role.AUDITOR, Role.DISCHARGE_SYSTEM, *PROFESSIONAL_ROLES)


def _fhir(body: dict[str, Any]) -> Response[Any]:
    return Response(content=msgspec.json.encode(body), media_type=FHIR_JSON)


@get(
    "/fhir/r4/PlanDefinition",
    guards=[requires(*READERS)],
    tags=["fhir"],
    summary="FHIR R4 PlanDefinition search: every protocol version (searchset Bundle)",
)
async def fhir_plan_definitions(
    request: Request[Any, Any, Any], runtime: PathwaysRuntime
) -> Response[Any]:
    base = str(request.base_url).rstrip("/") + "/fhir/r4"
    return _fhir(plan_searchset(runtime.catalog.all(), base))


@get(
    "/fhir/r4/PlanDefinition/{plan:str}",
    guards=[requires(*READERS)],
    tags=["fhir"],
    summary="FHIR R4 PlanDefinition of one protocol version (id: <protocol>-<version>)",
)
async def fhir_plan_definition(runtime: PathwaysRuntime, plan: str) -> Response[Any]:
    protocol, _, version = plan.rpartition("-")
    try:
        if not version.isdigit():
            raise LookupError(plan)
        return _fhir(plan_definition(runtime.catalog.get(protocol, int(version))))
    except LookupError:
        raise Problem(
            404,
            "Unknown PlanDefinition",
            "a PlanDefinition id is <protocol>-<version> of a known protocol version",
            field="plan",
        ) from None
