"""FHIR R4 Bundles posted by an independent FHIR client (fhirpy) to the pathways
service (a real process); what follows read back through the HTTP API, and what is
answered checked by an independent FHIR model library (fhir.resources)."""

from __future__ import annotations

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle as R4Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as OutcomeError

from contracts.identity import synthetic_ins
from tests.fhir_bundles import bundle, condition, encounter, patient
from tests.integration.conftest import eventually
from tests.system.conftest import System


async def test_fr_core_bundles_become_facts_and_enrolments(system: System) -> None:
    base = system.url("pathways") + "/fhir/r4"
    client = AsyncFHIRClient(base, authorization=f"Bearer {system.token('discharge-system')}")
    metadata = await client.execute("metadata", method="get")
    CapabilityStatement.model_validate(metadata)

    hf = bundle(patient(synthetic_ins(501)), encounter(), condition("I50.1"), key="hf-501")
    answer = await client.execute("", method="post", data=hf)
    R4Bundle.model_validate(answer)
    assert answer["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["200 OK", "201 Created", "200 OK"]
    again = await client.execute("", method="post", data=hf)  # the same Bundle again
    assert [e["response"]["status"] for e in again["entry"]] == ["200 OK"] * 3

    with pytest.raises(OutcomeError) as refused:
        await client.execute(
            "", method="post", data=bundle(patient(synthetic_ins(502), status="PROV"), encounter())
        )
    outcome = (
        refused.value.resource if hasattr(refused.value, "resource") else refused.value.args[0]
    )
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0].resource.extension"]

    coordinator = {"Authorization": f"Bearer {system.token('coordinator', sub='COORD-1')}"}
    async with httpx.AsyncClient(base_url=system.url("projections"), headers=coordinator) as http:

        async def enrolled() -> list[dict]:
            listed = (await http.get("/v1/enrolments")).json()["enrolments"]
            return [e for e in listed if e["protocol"] == "heart-failure-discharge"]

        [enrolment] = await eventually(enrolled, timeout=60)
    async with httpx.AsyncClient(base_url=system.url("pathways"), headers=coordinator) as http:
        view = (await http.get(f"/v1/enrolments/{enrolment['enrolment_id']}")).json()
    assert view["status"] == "active" and {"gp", "nurse"} <= {t["role"] for t in view["tasks"]}
