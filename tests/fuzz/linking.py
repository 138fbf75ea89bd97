"""Linked requests: a case the schema generated, with the ids and values only a real system
knows put in — ids of the seeded cohort (patients, enrolments, tasks, cases, protocols,
indicator codes, professionals, pools), plausible instants on the run's clock, INS with a
valid key — so that the fuzzer reaches the code behind the 404s and 422s."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from contracts.identity import INS_TEST_OID, synthetic_ins
from tests import fhir_bundles
from tests.fuzz.cohort import NOW, RESERVED, World
from tests.integration.clock import iso

Draw = Callable[[st.SearchStrategy[Any]], Any]
ERASABLE = 3  # the cohort's last identities may be erased; the others stay readable


def _instant(draw: Draw, earliest_days: int = 25) -> dt.datetime:
    minutes = draw(st.integers(min_value=60, max_value=earliest_days * 24 * 60))
    return NOW - dt.timedelta(minutes=minutes)


def _identity(draw: Draw, world: World, patient: Any) -> dict[str, Any]:
    known = world.identities[RESERVED:-ERASABLE]
    ins = draw(st.one_of(st.sampled_from(known), st.integers(80_000, 89_999).map(synthetic_ins)))
    extra = patient if isinstance(patient, dict) else {}
    kept = {k: v for k, v in extra.items() if k in ("sex", "birth_date") and v is not None}
    return {**kept, "ins": ins, "oid": INS_TEST_OID, "commune": "75114"}


FIELD = re.compile(r"^[a-z][a-z_]*$")


def _fill_body(draw: Draw, world: World, body: dict[str, Any]) -> None:
    """Puts plausible values where only the system knows what is plausible. The inbound
    bodies forbid unknown fields (the OpenAPI does not say so): drawn extra keys go."""
    for key in [k for k in body if not FIELD.match(k)]:
        del body[key]
    if "patient" in body:
        body["patient"] = _identity(draw, world, body["patient"])
    for key in [k for k in body if k.endswith("_at")]:
        body[key] = iso(_instant(draw))
    if "admitted_at" in body and "discharged_at" in body:
        out = _instant(draw)
        body["discharged_at"], body["admitted_at"] = iso(out), iso(out - dt.timedelta(days=4))
    if "period_start" in body and "period_end" in body:
        end = _instant(draw).date()
        body["period_start"] = (end - dt.timedelta(days=7)).isoformat()
        body["period_end"] = end.isoformat()
    if "diagnoses" in body:
        body["diagnoses"] = [draw(st.sampled_from(["I50.1", "I50.9", "J44.1", "I11.0"]))]
    if "rpps" in body:
        body["rpps"] = draw(st.sampled_from(world.professionals))
    if "role" in body and isinstance(body["role"], str):
        body["role"] = draw(st.sampled_from(["gp", "nurse", "cardiologist"]))
    if "specialty" in body:
        body["specialty"] = None
    if "protocol" in body:
        protocol, version = draw(st.sampled_from(world.protocols))
        body["protocol"] = protocol
        body["version"] = draw(st.sampled_from([None, version]))
    if "expected_delivery" in body:
        body["expected_delivery"] = (NOW + dt.timedelta(days=60)).date().isoformat()
    if "assignee" in body:
        body["assignee"] = draw(st.sampled_from([None, *world.professionals]))
    if "care_team" in body:
        team = [{"role": "nurse", "rpps": world.professionals[0]}]
        body["care_team"] = draw(st.sampled_from([[], team]))
    if "zones" in body:
        body["zones"] = ["75114"]
    if "day" in body:  # SNP slots: today or the next days on the run's clock
        body["day"] = (NOW + dt.timedelta(days=draw(st.integers(0, 5)))).date().isoformat()
    if "zone" in body:
        body["zone"] = "75114"
    if "slots" in body:  # SNP slots: an integer (the generator also draws 0.0, 37.0)
        body["slots"] = draw(st.integers(0, 100))
    if "gp" in body:
        body["gp"] = world.professionals[1]
    for key in ("criteria", "profiles"):
        if key in body:
            body[key] = draw(st.sampled_from([[], ["ald"], ["c2s", "pregnancy"]]))


PATH_IDS: dict[str, Callable[[World], list[Any]]] = {
    "patient_id": lambda w: w.patients,
    "enrolment_id": lambda w: w.enrolments,
    "pseudonym": lambda w: w.pseudonyms,
    "code": lambda w: w.codes,
    "rpps": lambda w: w.professionals,
}


def link(draw: Draw, world: World, case: Any, facts: Any = None) -> Any:
    """``case`` with real ids and plausible values (``facts``: the facts strategy, for the
    batch route, whose body is a list of facts)."""
    label = f"{case.method.upper()} {case.operation.path}"
    params = case.path_parameters or {}
    for name, ids in PATH_IDS.items():
        if name in params:
            params[name] = str(draw(st.sampled_from(ids(world))))
    if "task_id" in params:  # the nurse's own tasks, or any task of the cohort
        params["task_id"] = str(draw(st.sampled_from(world.nurse_tasks + world.tasks[:20])))
    if "protocol_id" in params:
        params["protocol_id"], params["version"] = draw(st.sampled_from(world.protocols))
    if "plan" in params:  # a PlanDefinition id: <protocol>-<version>
        params["plan"] = "-".join(map(str, draw(st.sampled_from(world.protocols))))
    if "role" in params and "zone" in params:
        params["role"], params["zone"] = draw(st.sampled_from(world.pools))
    if label == "POST /v1/tasks/{task_id}/{action}":
        params["action"] = draw(st.sampled_from(["accept", "start", "complete"]))
    if label == "POST /v1/gp-access/requests/{request_id}/{action}":
        params["request_id"] = str(draw(st.sampled_from(world.gp_requests)))
        params["action"] = "contact"  # the coordinator's: idempotent
    if label == "POST /v1/snp/requests/{request_id}/{action}":
        params["request_id"] = str(draw(st.sampled_from(world.snp_requests)))
        params["action"] = draw(st.sampled_from(["accept", "close"]))
    query = case.query if isinstance(case.query, dict) else {}
    if "period" in [p.name for p in case.operation.query]:
        query["period"] = draw(st.sampled_from(world.periods))
    if "protocol" in query:
        query["protocol"] = draw(st.sampled_from([p for p, _ in world.protocols]))
    if label == "GET /fhir/r4/Task":  # a professional of the cohort, a FHIR Task status
        query["owner"] = draw(st.sampled_from([None, *world.professionals]))
        query["status"] = draw(st.sampled_from([None, "requested", "completed,cancelled"]))
    if "as_of" in query:
        query["as_of"] = draw(st.sampled_from([None, iso(_instant(draw, 40))]))
    if isinstance(case.query, dict) or query:
        case.query = {k: v for k, v in query.items() if v is not None}
    if label == "POST /v1/facts:batch" and facts is not None:
        case.body = [link(draw, world, draw(facts)).body for _ in range(draw(st.integers(1, 4)))]
        case.media_type = "application/json"
    elif label == "DELETE /v1/patients/identity":
        case.body = {
            "ins": draw(st.sampled_from(world.identities[-ERASABLE:])),
            "oid": INS_TEST_OID,
        }
    elif label == "POST /fhir/r4":  # an fr-core discharge of a known patient
        end = _instant(draw)
        stay = fhir_bundles.encounter(end=iso(end))
        stay["period"]["start"] = iso(end - dt.timedelta(days=draw(st.integers(1, 20))))
        known = world.identities[RESERVED:-ERASABLE]
        case.body = fhir_bundles.bundle(
            fhir_bundles.patient(draw(st.sampled_from(known))),
            stay,
            fhir_bundles.condition(draw(st.sampled_from(["I50.1", "J44.1", "I10"]))),
        )
        case.media_type = "application/json"
    elif label == "POST /v1/admin/clock/advance":
        case.body = {"by": draw(st.sampled_from(["1h", "3h", "6h"]))}
    elif isinstance(case.body, dict):
        _fill_body(draw, world, case.body)
        if label == "POST /v1/directory/professionals":  # a new entry
            case.body["rpps"] = str(draw(st.integers(10**10, 2 * 10**10 - 1)))
    return case


def learn(world: World, label: str, response: Any) -> None:
    """Ids the fuzzer's own requests created join the cohort's: later draws act on them."""
    creating = ("POST /v1/enrolments", "POST /v1/facts", "POST /v1/directory/professionals")
    if label not in creating or not 200 <= response.status_code < 300:
        return
    body = response.json()
    if label == "POST /v1/enrolments" and body.get("enrolment_id"):
        world.enrolments.append(uuid.UUID(body["enrolment_id"]))
    if label in ("POST /v1/facts", "POST /v1/enrolments") and body.get("stream"):
        patient = uuid.UUID(body["stream"].removeprefix("patient-"))
        if patient not in world.patients:
            world.patients.append(patient)
    if label == "POST /v1/directory/professionals" and body.get("rpps"):
        world.professionals.append(body["rpps"])
