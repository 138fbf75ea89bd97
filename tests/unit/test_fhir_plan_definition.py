"""Each protocol version as a FHIR R4 PlanDefinition: actions with their role, their
timing relative to the anchor (offset, window length) and their recurrence. Every
resource is validated by fhir.resources (R4B models)."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.plandefinition import PlanDefinition

from pathways.app import PROTOCOLS_DIR
from pathways.domain import ProtocolCatalog
from pathways.interop.fhir.plan_definition import plan_definition, plan_searchset

CATALOG = ProtocolCatalog.load_dir(PROTOCOLS_DIR)
DAYS = "http://unitsofmeasure.org"


def days(n: int) -> dict:
    return {"value": n, "unit": "days", "system": DAYS, "code": "d"}


def actions(plan: dict) -> dict[str, dict]:
    return {a["id"]: a for a in plan["action"]}


@pytest.mark.parametrize("protocol", CATALOG.all(), ids=lambda p: p.key)
def test_every_protocol_version_is_a_valid_plan_definition(protocol) -> None:
    plan = plan_definition(protocol)
    PlanDefinition.model_validate(plan)
    assert plan["id"] == f"{protocol.id}-{protocol.version}"
    assert plan["version"] == str(protocol.version) and plan["status"] == protocol.status
    # the anchor, then one action per activity of the file
    assert [a["id"] for a in plan["action"]] == ["anchor", *(a.id for a in protocol.activities)]


def test_the_heart_failure_protocol_v1_reads_as_its_file_says() -> None:
    plan = plan_definition(CATALOG.get("heart-failure-discharge", 1))
    by_id = actions(plan)
    assert by_id["anchor"]["trigger"] == [{"type": "named-event", "name": "DischargeReported"}]
    # GP consultation D0 < day <= D+7: one day after the anchor, a 6-day window, a GP's
    gp = by_id["gp-consultation"]
    assert gp["participant"] == [
        {
            "type": "practitioner",
            "role": {
                "coding": [
                    {"system": "https://parcours.example/fhir/CodeSystem/role", "code": "gp"}
                ]
            },
        }
    ]
    assert gp["relatedAction"] == [
        {"actionId": "anchor", "relationship": "after", "offsetDuration": days(1)}
    ]
    assert gp["timingDuration"] == days(6)
    # cardiology D+30..D+60
    cardio = by_id["cardiology-consultation"]
    assert cardio["relatedAction"][0]["offsetDuration"] == days(30)
    assert cardio["timingDuration"] == days(30)
    assert cardio["participant"][0]["role"]["coding"][0]["code"] == "cardiologist"
    # nursing visits twice a week for 8 weeks from D+1: 16 occurrences
    nurse = by_id["nursing-visit"]
    assert nurse["timingTiming"] == {
        "repeat": {"frequency": 2, "period": 7, "periodUnit": "d", "count": 16}
    }
    assert nurse["relatedAction"][0]["offsetDuration"] == days(1)
    assert "timingDuration" not in nurse
    # the decompensation alert is scheduled by the weight-gain rule, within 24 hours
    alert = by_id["decompensation-alert"]
    assert alert["trigger"] == [{"type": "named-event", "name": "rule"}]
    assert alert["timingDuration"] == {
        "value": 24,
        "unit": "hours",
        "system": DAYS,
        "code": "h",
    }
    assert "relatedAction" not in alert


def test_version_2_of_the_heart_failure_protocol_nurses_weekly() -> None:
    plan = plan_definition(CATALOG.get("heart-failure-discharge", 2))
    assert plan["status"] == "draft"
    nurse = actions(plan)["nursing-visit"]
    assert nurse["timingTiming"]["repeat"] == {
        "frequency": 1,
        "period": 7,
        "periodUnit": "d",
        "count": 8,
    }
    assert actions(plan)["cardiology-consultation"]["timingDuration"] == days(29)


def test_the_searchset_holds_every_version() -> None:
    bundle = plan_searchset(CATALOG.all(), "https://parcours.test/fhir/r4")
    Bundle.model_validate(bundle)
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert len(ids) == len(CATALOG.all()) == bundle["total"]
    assert "heart-failure-discharge-1" in ids and "heart-failure-discharge-2" in ids
