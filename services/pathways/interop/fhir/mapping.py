"""A FHIR R4 Bundle (fr-core subset) to Parcours facts: pure, time zone a parameter.

- ``Patient`` (fr-core-patient-ins): the INS is the identifier whose system is
  ``urn:oid:`` + an INS OID; it is used only when the identity reliability
  extension says ``QUAL`` (the statuses and their meaning are those of
  ``hl7.identity``). One patient per Bundle; every other resource refers to it.
  Unlike HL7, a Bundle without a qualified identity is refused (422, naming the
  extension): there is no IPP to follow the patient by.
- ``Encounter``: ``period.end`` makes it a ``DischargeReported`` (admission from
  ``period.start``), else an ``AdmissionReported``; the FINESS is
  ``serviceProvider.identifier`` (a 9-character FINESS, or the national id
  ``1`` + FINESS); ``hospitalization.dischargeDisposition`` gives where the
  patient went (PMSI modes 6/7/8/9 as in HL7, or the FHIR codes ``home``,
  ``exp``, ``other-hcf``, ``hosp``, ``snf``, ``long``, ``rehab``).
- ``Condition`` (ICD-10): the diagnoses of the Encounter it names (or of the
  only Encounter); without an Encounter, a ``DiagnosisReported``.
- ``Observation`` (LOINC, valueQuantity): ``LabResultReported``;
  ``MedicationDispense`` (ATC): ``DispensingReported``; ``Immunization``:
  ``VaccinationReported``.

A dateTime without an offset is Europe/Paris local time (or ``zone``).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import msgspec

from contracts.base import EventPayload
from contracts.facts import (
    AdmissionReported,
    DiagnosisReported,
    DischargeReported,
    DispensingReported,
    LabResultReported,
    VaccinationReported,
)
from contracts.identity import PatientIdentity
from pathways.interop.fhir import resources as r
from pathways.interop.fhir.patient import identity_of
from pathways.interop.fhir.problem import FhirProblem
from pathways.interop.hl7.identity import QUALIFIED_STATUSES
from pathways.interop.hl7.pam import DISCHARGE_MODES

FHIR_DISPOSITIONS = {
    "home": "home",
    "exp": "death",
    "other-hcf": "transfer",
    "hosp": "transfer",
    "snf": "transfer",
    "long": "transfer",
    "rehab": "transfer",
}
ICD10 = re.compile(r"^([A-Z][0-9]{2})\.?([0-9]{0,2})$")
LOINC = "http://loinc.org"


class MappedEntry(msgspec.Struct, frozen=True):
    index: int
    fact: EventPayload | None  # None: the entry is part of another fact (Patient, Condition)
    key: str | None  # the client's fullUrl: what makes a re-sent entry the same fact


class MappedBundle(msgspec.Struct, frozen=True):
    identity: PatientIdentity
    entries: list[MappedEntry]


def _at(index: int, element: str) -> str:
    return f"Bundle.entry[{index}].resource.{element}"


def instant(text: str | None, where: str, zone: ZoneInfo) -> dt.datetime:
    if not text:
        raise FhirProblem(where, "this dateTime is required", "required")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FhirProblem(where, "not a FHIR dateTime (YYYY-MM-DDThh:mm:ss+zz:zz)") from None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(dt.UTC)


def map_bundle(
    bundle: r.Bundle,
    zone: ZoneInfo = ZoneInfo("Europe/Paris"),
    qualified: frozenset[str] = QUALIFIED_STATUSES,
) -> MappedBundle:
    patients = [(i, e) for i, e in enumerate(bundle.entry) if isinstance(e.resource, r.Patient)]
    if len(patients) != 1:
        raise FhirProblem("Bundle.entry", "a Bundle carries exactly one Patient", "required")
    p_index, p_entry = patients[0]
    identity = identity_of(p_entry.resource, f"Bundle.entry[{p_index}].resource", qualified)  # type: ignore[arg-type]
    encounters = [
        (i, e.resource) for i, e in enumerate(bundle.entry) if isinstance(e.resource, r.Encounter)
    ]
    diagnoses = _diagnoses(bundle, encounters)
    entries = []
    for i, e in enumerate(bundle.entry):
        res = e.resource
        fact: EventPayload | None = None
        if isinstance(res, r.Encounter):
            fact = _encounter(res, i, zone, diagnoses.get(i, []))
        elif isinstance(res, r.Condition) and not encounters:
            code = _icd10(res.code, i)
            if code:
                fact = DiagnosisReported(
                    diagnosed_at=instant(
                        res.recordedDate or res.onsetDateTime, _at(i, "recordedDate"), zone
                    ),
                    code=code,
                )
        elif isinstance(res, r.Observation):
            fact = _observation(res, i, zone)
        elif isinstance(res, r.MedicationDispense):
            atc = _coded(res.medicationCodeableConcept, ("atc", "2.16.840.1.113883.6.73"))
            if not atc:
                raise FhirProblem(
                    _at(i, "medicationCodeableConcept"), "an ATC coding is required", "required"
                )
            fact = DispensingReported(
                dispensed_at=instant(res.whenHandedOver, _at(i, "whenHandedOver"), zone), atc=atc
            )
        elif isinstance(res, r.Immunization):
            fact = VaccinationReported(
                vaccinated_at=instant(res.occurrenceDateTime, _at(i, "occurrenceDateTime"), zone),
                vaccine=_vaccine(res.vaccineCode, i),
            )
        entries.append(MappedEntry(i, fact, e.fullUrl))
    return MappedBundle(identity, entries)


def _encounter(res: r.Encounter, i: int, zone: ZoneInfo, diagnoses: list[str]) -> EventPayload:
    if res.status in ("cancelled", "entered-in-error", "planned"):
        raise FhirProblem(
            _at(i, "status"), f"an Encounter {res.status} reports no fact", "not-supported"
        )
    period = res.period or r.Period()
    finess = _finess(res.serviceProvider, i)
    if period.end:
        end = instant(period.end, _at(i, "period.end"), zone)
        start = instant(period.start, _at(i, "period.start"), zone) if period.start else end
        return DischargeReported(
            admitted_at=start,
            discharged_at=end,
            diagnoses=diagnoses,
            finess=finess,
            destination=_disposition(res),
        )
    return AdmissionReported(
        admitted_at=instant(period.start, _at(i, "period.start"), zone),
        finess=finess,
        diagnoses=diagnoses,
    )


def _finess(provider: r.Reference | None, i: int) -> str:
    value = (provider.identifier.value or "") if provider and provider.identifier else ""
    if len(value) == 10 and value.startswith("1"):
        value = value[1:]
    if len(value) != 9 or not value.isalnum():
        raise FhirProblem(
            _at(i, "serviceProvider.identifier"),
            "the FINESS of the establishment (9 characters) is required",
            "required",
        )
    return value.upper()


def _disposition(res: r.Encounter) -> str:
    concept = res.hospitalization.dischargeDisposition if res.hospitalization else None
    for coding in concept.coding if concept else []:
        code = coding.code or ""
        if code in DISCHARGE_MODES or code in FHIR_DISPOSITIONS:
            return DISCHARGE_MODES.get(code) or FHIR_DISPOSITIONS[code]
    return "unknown"


def _diagnoses(bundle: r.Bundle, encounters: list[tuple[int, r.Encounter]]) -> dict[int, list[str]]:
    by_url = {e.fullUrl: i for i, e in enumerate(bundle.entry) if e.fullUrl}
    by_url |= {f"Encounter/{enc.id}": i for i, enc in encounters if enc.id}
    out: dict[int, list[str]] = {}
    for i, e in enumerate(bundle.entry):
        if not isinstance(e.resource, r.Condition) or not encounters:
            continue
        ref = e.resource.encounter.reference if e.resource.encounter else None
        target = (
            by_url.get(ref or "") if ref else (encounters[0][0] if len(encounters) == 1 else None)
        )
        if target is None:
            raise FhirProblem(
                _at(i, "encounter"), "the Condition names no Encounter of this Bundle", "required"
            )
        code = _icd10(e.resource.code, i)
        if code and code not in out.setdefault(target, []):
            out[target].append(code)
    return out


def _coded(concept: r.CodeableConcept | None, systems: tuple[str, ...]) -> str | None:
    for coding in concept.coding if concept else []:
        if coding.code and any(s in (coding.system or "").lower() for s in systems):
            return coding.code
    return None


def _icd10(concept: r.CodeableConcept | None, i: int) -> str | None:
    code = _coded(concept, ("icd-10", "cim-10", "cim10", "2.16.840.1.113883.6.3"))
    if code is None:
        return None
    m = ICD10.match(code.strip().upper())
    if not m:
        raise FhirProblem(
            _at(i, "code.coding"), "not an ICD-10 code (letter, two digits, up to two more)"
        )
    return m.group(1) + (f".{m.group(2)}" if m.group(2) else "")


def _observation(res: r.Observation, i: int, zone: ZoneInfo) -> EventPayload:
    loinc = _coded(res.code, (LOINC.removeprefix("http://"),))
    if not loinc:
        raise FhirProblem(
            _at(i, "code.coding"), "a LOINC coding (http://loinc.org) is required", "required"
        )
    q = res.valueQuantity
    if q is None or q.value is None:
        raise FhirProblem(
            _at(i, "valueQuantity"), "a laboratory result needs valueQuantity.value", "required"
        )
    return LabResultReported(
        collected_at=instant(res.effectiveDateTime, _at(i, "effectiveDateTime"), zone),
        loinc=loinc,
        value=q.value,
        unit=q.unit or q.code or "",
    )


def _vaccine(concept: r.CodeableConcept | None, i: int) -> str:
    atc = _coded(concept, ("atc", "2.16.840.1.113883.6.73"))
    if atc and atc.startswith("J07BB"):
        return "influenza"
    coding = next((c for c in concept.coding), None) if concept else None
    name = (concept.text if concept else None) or (
        coding.display or coding.code if coding else None
    )
    if not name:
        raise FhirProblem(_at(i, "vaccineCode"), "the vaccine is required", "required")
    return name.lower()[:64]
