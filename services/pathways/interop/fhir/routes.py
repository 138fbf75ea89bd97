"""``POST /fhir/r4`` (a transaction or batch Bundle) and ``GET /fhir/r4/metadata``.

The Bundle is decoded into the fr-core subset (400 + OperationOutcome naming the
element when it is not), mapped (422 + OperationOutcome for a rule), then each
fact is recorded through ``FactRecorder``, the write path of ``POST /v1/facts``.
Event ids come from each entry's ``fullUrl`` (``urn:uuid:...``): a Bundle sent
again answers ``200 OK`` for the entries already recorded and writes nothing.
A transaction's facts are checked together before the first is written; they are
then written one after the other (one patient, in Bundle order).
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State

from contracts.roles import Role
from parcours.auth import requires
from parcours.problems import Problem, problem_response
from parcours.service import Resources, correlation_id
from pathways.interop.fact_recorder import FactRecorder, InvalidFactError, inbound_body
from pathways.interop.fhir.mapping import map_bundle
from pathways.interop.fhir.outcomes import (
    FHIR_JSON,
    capability_statement,
    operation_outcome,
    transaction_response,
)
from pathways.interop.fhir.problem import FhirProblem
from pathways.interop.fhir.resources import bundle_decoder
from pathways.interop.hl7_intake import EVENT_IDS

PARIS = ZoneInfo("Europe/Paris")
# the element of the resource a fact field came from
ELEMENTS = {
    "discharged_at": "period.end",
    "admitted_at": "period.start",
    "finess": "serviceProvider.identifier",
    "loinc": "code.coding",
    "atc": "medicationCodeableConcept",
    "diagnoses": "code.coding",
}


def _fhir(body: dict[str, Any], status: int) -> Response[Any]:
    return Response(content=msgspec.json.encode(body), status_code=status, media_type=FHIR_JSON)


def _refuse(
    request: Request[Any, Any, Any], status: int, code: str, text: str, where: str | None
) -> Response[Any]:
    """An OperationOutcome for a FHIR client (``Accept: application/fhir+json``), else the
    problem details every other route answers, with the FHIRPath as its field."""
    if "fhir" in request.headers.get("accept", ""):
        return _fhir(operation_outcome(code, text, where), status)
    title = {400: "Invalid FHIR resource", 403: "Forbidden"}.get(status, "Refused FHIR Bundle")
    return problem_response(Problem(status, title, text, field=where or "Bundle"), request)


def _recorder(resources: Resources) -> FactRecorder:
    recorder = resources.extra.get("fhir_recorder")
    if recorder is None:
        recorder = FactRecorder(
            resources.pool, resources.extra["decider"], resources.extra.get("group_commit")
        )
        resources.extra["fhir_recorder"] = recorder
    return recorder


@get("/fhir/r4/metadata", tags=["fhir"], summary="FHIR R4 CapabilityStatement")
async def fhir_metadata(state: State) -> Response[Any]:
    resources: Resources = state.resources
    return _fhir(capability_statement(await resources.clock.now()), 200)


@post(
    "/fhir/r4",
    guards=[requires(Role.DISCHARGE_SYSTEM, Role.ADMIN)],
    tags=["fhir"],
    summary="FHIR R4 transaction or batch Bundle (fr-core subset) to facts",
    description=__doc__,
)
async def fhir_bundle(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    resources: Resources = state.resources
    try:
        bundle = bundle_decoder.decode(await request.body())
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = text.rsplit("at `$", 1)[-1].rstrip("`") if "at `$" in text else ""
        return _refuse(request, 400, "structure", text.split(" - at ")[0], f"Bundle{where}")
    except msgspec.DecodeError:
        return _refuse(request, 400, "structure", "the body is not a JSON Bundle", None)
    try:
        mapped = map_bundle(bundle, PARIS)
        bodies = []
        for entry in mapped.entries:
            if entry.fact is None:
                continue
            event_id = (
                uuid.uuid5(EVENT_IDS, f"{request.user.cpts}|{entry.key}")
                if entry.key
                else uuid.uuid4()
            )
            try:
                bodies.append((entry.index, inbound_body(entry.fact, mapped.identity, event_id)))
            except InvalidFactError as exc:
                element = ELEMENTS.get(exc.field.split(".")[0], exc.field)
                raise FhirProblem(
                    f"Bundle.entry[{entry.index}].resource.{element}", exc.reason
                ) from None
    except FhirProblem as problem:
        return _fhir(
            operation_outcome(problem.code, problem.diagnostics, problem.expression), problem.status
        )
    now = await resources.clock.now()
    answers: dict[int, tuple[str, str | None]] = {}
    recorder = _recorder(resources)
    for index, body in bodies:
        resource_type = type(bundle.entry[index].resource).__name__
        try:
            accepted = await recorder.record(
                request.user, body, correlation_id(request.scope.get("state", {})), now
            )
        except Problem as exc:
            element = ELEMENTS.get((exc.field or "").rsplit(".", 1)[-1], "")
            where = f"Bundle.entry[{index}].resource" + (f".{element}" if element else "")
            if bundle.type == "batch":
                answers[index] = (f"{exc.status} {exc.title}", None)
                continue
            return _refuse(request, exc.status, "business-rule", exc.detail, where)
        status = "200 OK" if accepted.duplicate else "201 Created"
        answers[index] = (status, f"{resource_type}/{accepted.event_id}")
    entries = [answers.get(i, ("200 OK", None)) for i in range(len(bundle.entry))]
    return _fhir(transaction_response(bundle.type, entries), 200)
