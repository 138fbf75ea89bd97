"""``GET /fhir/r4/PlanDefinition`` and ``…/PlanDefinition/{protocol}-{version}`` served by
the pathways service from its protocol files; answers validated by fhir.resources."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.plandefinition import PlanDefinition

from pathways.app import create_app
from tests.integration.conftest import bearer, serving

# the five files of services/pathways/protocols
VERSIONS = {
    "copd-exacerbation-1",
    "discharge-classification-1",
    "gestational-diabetes-1",
    "heart-failure-discharge-1",
    "heart-failure-discharge-2",
}


async def test_every_protocol_version_is_served_as_a_plan_definition(settings, token):
    nurse = bearer(token("nurse", sub="10000000001"))
    async with serving(create_app(settings, with_relay=False, with_scheduler=False)) as api:
        search = await api.get("/fhir/r4/PlanDefinition", headers=nurse)
        one = await api.get("/fhir/r4/PlanDefinition/heart-failure-discharge-2", headers=nurse)
        unknown = await api.get("/fhir/r4/PlanDefinition/heart-failure-discharge-9", headers=nurse)
        no_version = await api.get("/fhir/r4/PlanDefinition/heart-failure", headers=nurse)
        anonymous = await api.get("/fhir/r4/PlanDefinition")

    assert search.status_code == 200 and search.headers["content-type"].startswith(
        "application/fhir+json"
    )
    bundle = search.json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    assert {e["resource"]["id"] for e in bundle["entry"]} == VERSIONS
    for entry in bundle["entry"]:
        PlanDefinition.model_validate(entry["resource"])
        assert entry["fullUrl"].endswith(f"/fhir/r4/PlanDefinition/{entry['resource']['id']}")

    assert one.status_code == 200
    plan = one.json()
    PlanDefinition.model_validate(plan)
    assert (plan["id"], plan["version"], plan["status"]) == (
        "heart-failure-discharge-2",
        "2",
        "draft",
    )
    assert plan == next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == plan["id"])

    assert unknown.status_code == 404 and no_version.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert anonymous.status_code == 401
