"""FHIR R4 fr-core Bundles to Parcours facts: the pure mapping and what is answered,
each emitted resource checked by an independent FHIR R4 model library (fhir.resources)."""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import pytest
from fhir.resources.R4B.bundle import Bundle as R4Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from contracts.facts import AdmissionReported, DischargeReported, LabResultReported
from pathways.interop.fhir.mapping import map_bundle
from pathways.interop.fhir.outcomes import (
    capability_statement,
    operation_outcome,
    transaction_response,
)
from pathways.interop.fhir.problem import FhirProblem
from pathways.interop.fhir.resources import bundle_decoder
from tests.fhir_bundles import bundle, condition, encounter, patient

INS = "295109912611193"
UTC = dt.UTC


def mapped(body: dict):
    return map_bundle(bundle_decoder.decode(json.dumps(body)))


def facts(body: dict) -> list:
    return [e.fact for e in mapped(body).entries if e.fact is not None]


def test_given_an_fr_core_discharge_bundle_then_a_discharge_with_its_icd10_diagnoses():
    [fact] = facts(bundle(patient(INS), encounter(), condition("I50.1"), condition("E119")))
    assert fact == DischargeReported(
        admitted_at=dt.datetime(2026, 11, 2, 8, tzinfo=UTC),
        discharged_at=dt.datetime(2026, 11, 9, 13, tzinfo=UTC),
        diagnoses=["I50.1", "E11.9"],
        finess="750712184",
        destination="home",
    )
    identity = mapped(bundle(patient(INS), encounter())).identity
    assert (identity.ins, identity.birth_name, identity.first_names) == (
        INS,
        "MARTIN",
        "Louise Anne",
    )


@pytest.mark.parametrize(
    ("code", "destination"),
    [("other-hcf", "transfer"), ("exp", "death"), ("7", "transfer"), ("x", "unknown")],
)
def test_discharge_disposition_says_where_the_patient_went(code, destination):
    [fact] = facts(bundle(patient(INS), encounter(disposition=code)))
    assert fact.destination == destination


def test_an_encounter_without_an_end_is_an_admission():
    [fact] = facts(bundle(patient(INS), encounter(end=None)))
    assert isinstance(fact, AdmissionReported)


def test_a_lab_result_in_loinc():
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
        "subject": {"reference": "urn:uuid:patient"},
        "effectiveDateTime": "2026-11-12T08:30:00+01:00",
        "valueQuantity": {"value": 98.0, "unit": "umol/L"},
    }
    [fact] = facts(bundle(patient(INS), obs))
    assert fact == LabResultReported(
        collected_at=dt.datetime(2026, 11, 12, 7, 30, tzinfo=UTC),
        loinc="2160-0",
        value=98.0,
        unit="umol/L",
    )


@pytest.mark.parametrize("status", ["PROV", "VALI", "RECUP", ""])
def test_an_identity_that_is_not_qualified_is_refused_naming_the_extension(status):
    with pytest.raises(FhirProblem) as err:
        mapped(bundle(patient(INS, status=status), encounter()))
    assert err.value.expression in ("Bundle.entry[0].resource.extension",)
    assert INS not in err.value.diagnostics


def test_a_missing_finess_names_the_element():
    with pytest.raises(FhirProblem) as err:
        mapped(bundle(patient(INS), encounter(finess="")))
    assert err.value.expression == "Bundle.entry[1].resource.serviceProvider.identifier"


def test_an_unknown_resource_type_is_refused_by_the_decoder():
    body = bundle(patient(INS), {"resourceType": "Claim"})
    with pytest.raises(msgspec.ValidationError) as err:
        bundle_decoder.decode(json.dumps(body))
    assert "entry[1].resource" in str(err.value)


def test_what_is_answered_is_valid_fhir_r4():
    response = transaction_response(
        "transaction", [("200 OK", None), ("201 Created", "Encounter/1")]
    )
    R4Bundle.model_validate(response)
    OperationOutcome.model_validate(
        operation_outcome("required", "x", "Bundle.entry[1].resource.period.end")
    )
    CapabilityStatement.model_validate(capability_statement(dt.datetime(2026, 11, 30, tzinfo=UTC)))
