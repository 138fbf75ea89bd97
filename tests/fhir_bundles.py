"""Synthetic FHIR R4 transaction Bundles in the fr-core shape (written for these tests)."""

from __future__ import annotations

import uuid
from typing import Any

RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"


def patient(ins: str, status: str = "QUAL") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [
            {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": ins},
            {"system": "http://chu-test.example/ipp", "value": "IPP-F1"},
        ],
        "name": [{"use": "official", "family": "MARTIN", "given": ["Louise", "Anne"]}],
        "gender": "female",
        "birthDate": "1948-02-11",
    }
    if status:
        resource["extension"] = [
            {
                "url": RELIABILITY,
                "extension": [
                    {
                        "url": "identityStatus",
                        "valueCoding": {
                            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status",
                            "code": status,
                        },
                    }
                ],
            }
        ]
    return resource


def encounter(
    end: str | None = "2026-11-09T14:00:00+01:00",
    disposition: str = "home",
    finess: str = "1750712184",
) -> dict[str, Any]:
    period = {"start": "2026-11-02T09:00:00+01:00"}
    if end:
        period["end"] = end
    return {
        "resourceType": "Encounter",
        "status": "finished" if end else "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "urn:uuid:patient"},
        "period": period,
        "hospitalization": {
            "dischargeDisposition": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                        "code": disposition,
                    }
                ]
            }
        },
        "serviceProvider": {
            "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": finess}
        },
    }


def condition(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]},
        "subject": {"reference": "urn:uuid:patient"},
        "encounter": {"reference": "urn:uuid:encounter"},
    }


def bundle(
    *resources: dict[str, Any], kind: str = "transaction", key: str | None = None
) -> dict[str, Any]:
    key = key or uuid.uuid4().hex
    entries = []
    for n, res in enumerate(resources):
        name = res["resourceType"].lower()
        full = (
            "urn:uuid:patient"
            if name == "patient"
            else "urn:uuid:encounter"
            if name == "encounter"
            else None
        )
        entries.append(
            {
                "fullUrl": full.replace("urn:uuid:", f"urn:uuid:{key}-")
                if full
                else f"urn:uuid:{key}-{n}",
                "resource": res,
                "request": {"method": "POST", "url": res["resourceType"]},
            }
        )
    # references name the fullUrls of this Bundle
    text = __import__("json").dumps({"resourceType": "Bundle", "type": kind, "entry": entries})
    text = text.replace('"urn:uuid:patient"', f'"urn:uuid:{key}-patient"').replace(
        '"urn:uuid:encounter"', f'"urn:uuid:{key}-encounter"'
    )
    return __import__("json").loads(text)
