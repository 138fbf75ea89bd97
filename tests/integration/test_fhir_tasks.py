"""``GET /fhir/r4/Task``: a professional's tasks as FHIR R4 Tasks in a searchset Bundle,
statuses mapped from the task state machine, scoped to the caller's CPTS and rights,
no identity in the answer. Every resource is validated by fhir.resources (R4B models)."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.task import Task

from projections.api import fhir_tasks as fhir_tasks_route
from tests.integration.test_projections_auditor import IDENTITIES, seeded
from tests.integration.test_projections_helpers import running
from tests.integration.test_projections_hf import GP, HF, NURSE

CPTS = "fhirtasks"


def by_patient(bundle: dict, people: dict) -> dict[str, str]:
    """label -> the status of the patient's (single) task in the bundle."""
    labels = {f"Patient/{p.patient}": label for label, p in people.items()}
    out = {}
    for entry in bundle["entry"]:
        task = entry["resource"]
        assert task["for"]["reference"] not in {f"Patient/{x}" for x in out}
        out[labels[task["for"]["reference"]]] = task["status"]
    return out


def valid(bundle: dict) -> dict:
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    assert bundle.get("total", len(bundle["entry"])) == len(bundle["entry"])
    for entry in bundle["entry"]:
        Task.model_validate(entry["resource"])
        assert entry["fullUrl"].endswith(f"/fhir/r4/Task/{entry['resource']['id']}")
    return bundle


async def test_a_professional_reads_her_tasks_as_fhir_tasks(settings, token, monkeypatch):
    gp = token("gp", sub=GP, cpts=CPTS)
    coordinator = token("coordinator", sub="COORD-T", cpts=CPTS)
    other_cpts_gp = token("gp", sub=GP, cpts="elsewhere")
    nurse = token("nurse", sub=NURSE, cpts=CPTS)
    async with running(settings) as h:
        people = await seeded(h, CPTS)  # identities kept as the pathways service keeps them
        mine = valid(await h.get("/fhir/r4/Task", gp, owner=GP))
        default_owner = valid(await h.get("/fhir/r4/Task", gp))
        done = valid(await h.get("/fhir/r4/Task", gp, owner=GP, status="completed"))
        open_or_cancelled = valid(
            await h.get("/fhir/r4/Task", gp, owner=GP, status="requested,cancelled")
        )
        by_coordinator = valid(await h.get("/fhir/r4/Task", coordinator, owner=GP))
        elsewhere = valid(await h.get("/fhir/r4/Task", other_cpts_gp, owner=GP))
        refused = await h.client.get(
            "/fhir/r4/Task", params={"owner": GP}, headers={"Authorization": f"Bearer {nurse}"}
        )
        bad_status = await h.client.get(
            "/fhir/r4/Task", params={"status": "done"}, headers={"Authorization": f"Bearer {gp}"}
        )
        bad_owner = await h.client.get(
            "/fhir/r4/Task", params={"owner": "1234"}, headers={"Authorization": f"Bearer {gp}"}
        )
        monkeypatch.setattr(fhir_tasks_route, "LIMIT", 2)
        cut = valid(await h.get("/fhir/r4/Task", gp))
        logged = {
            (r["sub"], r["route"], len(r["patient_ids"]))
            for r in await h.pool.fetch(
                "SELECT sub, route, patient_ids FROM access_log WHERE cpts = $1", CPTS
            )
        }

    # The GP named by each discharge owns its GP consultation (one task per patient):
    # A consulted on D+3, B on D+10 (late), E on D+2: completed; C never: still requested
    # (and overdue); D died on D+4: cancelled with the enrolment.
    expected = {
        "A": "completed",
        "B": "completed",
        "C": "requested",
        "D": "cancelled",
        "E": "completed",
    }
    assert by_patient(mine, people) == expected
    assert default_owner == mine and by_coordinator == mine
    assert by_patient(done, people) == {"A": "completed", "B": "completed", "E": "completed"}
    assert by_patient(open_or_cancelled, people) == {"C": "requested", "D": "cancelled"}
    assert elsewhere["entry"] == []
    # cut at the limit: the two soonest due, and no total (it would claim they are all)
    assert "total" not in cut and [e["resource"]["id"] for e in cut["entry"]] == [
        e["resource"]["id"] for e in mine["entry"][:2]
    ]

    c_task = next(
        e["resource"] for e in open_or_cancelled["entry"] if e["resource"]["status"] == "requested"
    )
    assert c_task["businessStatus"] == {"text": "overdue"}
    assert c_task["owner"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": GP}
    assert c_task["code"]["coding"][0]["code"] == f"{HF}/gp-consultation"
    # due on D+7 (19 January, Paris), earliest after the discharge day
    assert c_task["restriction"]["period"]["end"].startswith("2026-01-19")
    for entry in mine["entry"]:
        if entry["resource"]["status"] == "completed":
            assert "end" in entry["resource"]["executionPeriod"]

    assert refused.status_code == 403
    assert bad_status.status_code == 422 and bad_status.json()["field"] == "status"
    assert bad_owner.status_code == 422 and bad_owner.json()["field"] == "owner"
    # the answer names no identity: internal patient ids, the RPPS, protocol words only
    text = json.dumps(mine)
    for identity in IDENTITIES:
        for trait in (identity.ins, identity.birth_name, identity.first_names):
            assert trait not in text
        assert identity.birth_date.isoformat() not in text
    # an identifying read: the access log names the caller and the patients she saw
    assert (GP, "GET /fhir/r4/Task", 5) in logged and (GP, "GET /fhir/r4/Task", 2) in logged
