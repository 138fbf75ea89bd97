"""The patient of a Bundle: fr-core-patient-ins, INS used only for a qualified identity.

The identity reliability extension (``fr-core-identity-reliability``, its
``identityStatus`` coding) carries the same statuses as HL7 PID-32 (see
``hl7.identity`` for their meaning across versions); only ``QUAL`` qualifies.
"""

from __future__ import annotations

import datetime as dt

from contracts.identity import INS_OIDS, PatientIdentity, ins_problem
from pathways.interop.fhir import resources as r
from pathways.interop.fhir.problem import FhirProblem


def identity_of(patient: r.Patient, at: str, qualified: frozenset[str]) -> PatientIdentity:
    """The qualified INS and traits of an fr-core Patient at FHIRPath ``at``."""
    ins = oid = None
    for ident in patient.identifier:
        system = (ident.system or "").removeprefix("urn:oid:")
        if system in INS_OIDS and ident.value:
            ins, oid = ident.value, system
    if ins is None or oid is None:
        raise FhirProblem(
            f"{at}.identifier",
            "the Patient needs an INS (system urn:oid:1.2.250.1.213.1.4.8 or .9, .10, .11)",
            "required",
        )
    if (problem := ins_problem(ins)) is not None:
        raise FhirProblem(f"{at}.identifier", problem)
    status = _identity_status(patient.extension)
    if status not in qualified:
        raise FhirProblem(
            f"{at}.extension",
            f"the identity reliability status is {status or 'absent'}: the INS is used only for a "
            "qualified identity (QUAL)",
            "business-rule",
        )
    name = next((n for n in patient.name if n.use in ("official", None)), None)
    birth = None
    if patient.birthDate:
        try:
            birth = dt.date.fromisoformat(patient.birthDate)
        except ValueError:
            raise FhirProblem(f"{at}.birthDate", "birthDate is YYYY-MM-DD") from None
    return PatientIdentity(
        ins=ins.upper(),
        oid=oid,
        birth_name=name.family if name else None,
        first_names=" ".join(name.given) or None if name else None,
        sex={"female": "F", "male": "M"}.get(patient.gender or "", "U") if patient.gender else None,
        birth_date=birth,
    )


def _identity_status(extensions: list[r.Extension]) -> str:
    for ext in extensions:
        if ext.url.rsplit("/", 1)[-1].lower() in (
            "fr-core-identity-reliability",
            "identityreliability",
        ):
            for sub in ext.extension:
                if sub.url == "identityStatus" and sub.valueCoding and sub.valueCoding.code:
                    return sub.valueCoding.code.upper()
    return ""
