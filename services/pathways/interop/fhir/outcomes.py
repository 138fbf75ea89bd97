"""What the FHIR intake answers: transaction-response Bundles, OperationOutcomes, and
the CapabilityStatement (plain dicts, checked in the tests by an independent FHIR
model library)."""

from __future__ import annotations

import datetime as dt
from typing import Any

FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationDispense",
    "Immunization",
)


def operation_outcome(code: str, diagnostics: str, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def transaction_response(kind: str, entries: list[tuple[str, str | None]]) -> dict[str, Any]:
    """``entries``: (status line, location) per request entry, in request order."""
    return {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "entry": [
            {"response": {"status": status, **({"location": loc} if loc else {})}}
            for status, loc in entries
        ],
    }


def capability_statement(now: dt.datetime) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.astimezone(dt.UTC).isoformat(),
        "publisher": "Parcours",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementation": {"description": "Parcours pathways intake (fr-core subset)"},
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "POST a transaction or batch Bundle with one fr-core Patient (INS, qualified "
                    "identity) and Encounter, Condition (ICD-10), Observation (LOINC), "
                    "MedicationDispense (ATC), Immunization; each becomes a Parcours fact."
                ),
                "security": {"description": "Bearer token of a discharge system (OAuth2/JWT)"},
                "resource": [
                    *({"type": t, "interaction": [{"code": "create"}]} for t in ACCEPTED_TYPES),
                    {  # one per protocol version (plan_routes)
                        "type": "PlanDefinition",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                    },
                ],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
