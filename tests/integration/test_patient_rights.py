"""The patient's right of access: an export of the identity, the timeline, the tasks, the
care circle and who read the data, as JSON and as a FHIR R4 Bundle (validated by
fhir.resources); only for coordinators, the DPO and admins; logged like any read."""

from __future__ import annotations

import datetime as dt

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.basic import Basic
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.task import Task

from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, serving

START = dt.datetime(2026, 4, 6, 18, tzinfo=dt.UTC)
GP = "10000000041"
PATIENT = {
    "ins": "269054958815780",
    "oid": "1.2.250.1.213.1.4.10",
    "birth_name": "GIRARDOT",
    "first_names": "Simone Marie",
    "birth_date": "1950-03-04",
    "sex": "F",
    "commune": "75114",
}


async def test_a_patients_data_export_lists_her_data_and_every_read(settings: Settings, token):
    virtual = on_virtual_clock(settings, START)
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        posted = await api.post(
            "/v1/facts",
            json={
                "type": "DischargeReported",
                "patient": PATIENT,
                "admitted_at": "2026-04-01T08:00:00Z",
                "discharged_at": "2026-04-06T15:00:00Z",
                "diagnoses": ["I50.9"],
                "finess": "750712184",
                "care_team": [{"role": "gp", "rpps": GP}],
            },
            headers=bearer(token("discharge-system", sub="CHU-1")),
        )
        patient = posted.json()["stream"].removeprefix("patient-")
        read = await api.get(
            f"/v1/patients/{patient}/identity", headers=bearer(token("gp", sub=GP))
        )
        assert read.status_code == 200
        refused = await api.get(
            f"/v1/patients/{patient}/identity", headers=bearer(token("nurse", sub="10000000042"))
        )
        assert refused.status_code == 403
        dpo = bearer(token("dpo", sub="DPO-1"))
        route = f"/v1/patients/{patient}/export"

        export = await api.get(route, headers=dpo)
        assert export.status_code == 200, export.text
        doc = export.json()
        assert (
            doc["identity"]["ins"] == PATIENT["ins"] and doc["identity"]["birth_name"] == "GIRARDOT"
        )
        types = [e["type"] for e in doc["events"]]
        assert types[0] == "DischargeReported" and "PatientEnrolled" in types
        assert "CareCircleChanged" in types
        assert doc["tasks"] and {t["status"] for t in doc["tasks"]} == {"requested"}
        assert doc["care_circle"] == [{"rpps": GP, "role": "gp"}]
        assert [(a["professional"], a["purpose"], a["granted"]) for a in doc["accesses"]] == [
            (GP, "patient identity", True),
            ("10000000042", "patient identity", False),
            ("DPO-1", "patient data export", True),  # the export is a read too
        ]

        fhir = await api.get(route, params={"format": "fhir"}, headers=dpo)
        assert fhir.headers["content-type"].startswith("application/fhir+json")
        bundle = fhir.json()
        Bundle.model_validate(bundle)
        kinds = {"Patient": Patient, "Task": Task, "Basic": Basic, "AuditEvent": AuditEvent}
        counts: dict[str, int] = {}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            kinds[resource["resourceType"]].model_validate(resource)
            counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
        assert counts == {
            "Patient": 1,
            "Task": len(doc["tasks"]),
            "Basic": len(doc["events"]),
            "AuditEvent": 4,  # the three reads above and the JSON export
        }
        patient_resource = bundle["entry"][0]["resource"]
        assert patient_resource["identifier"][0]["value"] == PATIENT["ins"]
        assert patient_resource["name"][0]["given"] == ["Simone", "Marie"]

        # professionals, auditors and other CPTS get no export
        for who, status in (
            (token("gp", sub=GP), 403),
            (token("auditor", sub="AUDIT-1"), 403),
            (token("dpo", sub="DPO-9", cpts="other"), 404),
        ):
            assert (await api.get(route, headers=bearer(who))).status_code == status
