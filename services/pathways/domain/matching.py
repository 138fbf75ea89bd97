"""Does a fact enrol (anchor) or complete (activity)? Pure predicates over payloads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from contracts.base import EventPayload
from contracts.facts import (
    ConsultationReported,
    DiagnosisReported,
    DischargeReported,
    DispensingReported,
    GlucoseToleranceTestReported,
    LabResultReported,
    NursingVisitReported,
    RehabilitationStarted,
    VaccinationReported,
)
from pathways.domain.protocol import (
    Anchor,
    Completion,
    ConsultationBy,
    DiagnosisAnchor,
    DischargeAnchor,
    Dispensing,
    GlucoseTest,
    GlucoseToleranceAnchor,
    LabPanel,
    NursingVisit,
    Rehabilitation,
    Vaccination,
)

OgttVerdict = Literal["normal", "gestational", "overt"]


def fact_type(payload: EventPayload) -> str:
    return payload.__struct_config__.tag


def _code(code: str) -> str:
    return code.replace(".", "").upper()


def has_prefix(code: str, prefixes: Iterable[str]) -> bool:
    """ICD-10 / ATC prefix match, ignoring dots: ``I50.1`` and ``I501`` match ``I50``."""
    c = _code(code)
    return any(c.startswith(_code(p)) for p in prefixes)


def expected_delivery(fact: EventPayload) -> date | None:
    """The expected delivery date an anchoring fact may carry (gestational diabetes)."""
    if isinstance(fact, DiagnosisReported | GlucoseToleranceTestReported):
        return fact.expected_delivery
    return None


def judge_ogtt(test: GlucoseToleranceTestReported, spec: GlucoseToleranceAnchor) -> OgttVerdict:
    """CNGOF/SFD 2010 reading of an OGTT, with the thresholds of the protocol file."""
    if test.fasting_g_l >= spec.overt_fasting_at_least:
        return "overt"
    if (
        test.fasting_g_l >= spec.fasting_at_least
        or (test.one_hour_g_l is not None and test.one_hour_g_l >= spec.one_hour_at_least)
        or (test.two_hour_g_l is not None and test.two_hour_g_l >= spec.two_hour_at_least)
    ):
        return "gestational"
    return "normal"


def anchors(anchor: Anchor, fact: EventPayload) -> bool:
    """Whether ``fact`` enrols a patient in a protocol with this anchor."""
    for spec in anchor.facts:
        if isinstance(spec, DischargeAnchor) and isinstance(fact, DischargeReported):
            if spec.without_diagnosis:
                if not fact.diagnoses and fact.destination in spec.destinations:
                    return True
                continue
            codes = fact.diagnoses[:1] if spec.position == "main" else fact.diagnoses
            if fact.destination in spec.destinations and any(
                has_prefix(c, spec.diagnosis_prefixes) for c in codes
            ):
                return True
        elif isinstance(spec, DiagnosisAnchor) and isinstance(fact, DiagnosisReported):
            if has_prefix(fact.code, spec.code_prefixes):
                return True
        elif isinstance(spec, GlucoseToleranceAnchor) and isinstance(
            fact, GlucoseToleranceTestReported
        ):
            if judge_ogtt(fact, spec) == "gestational":
                return True
    return False


def matches(spec: Completion, fact: EventPayload) -> bool:
    """Whether ``fact`` is of the kind that (helps) complete an activity.

    For a lab panel this only says the result is one of the panel's codes; whether
    the panel is complete is decided in ``completion``.
    """
    match spec, fact:
        case ConsultationBy(), ConsultationReported():
            return fact.role in spec.roles or (fact.specialty or "") in spec.roles
        case LabPanel(), LabResultReported():
            return fact.loinc in spec.all_of or fact.loinc in spec.any_of
        case NursingVisit(), NursingVisitReported():
            return fact.education or not spec.education_required
        case Dispensing(), DispensingReported():
            return has_prefix(fact.atc, spec.atc_prefixes) and not has_prefix(
                fact.atc, spec.atc_excluded
            )
        case Vaccination(), VaccinationReported():
            return fact.vaccine.lower() in {v.lower() for v in spec.vaccines}
        case Rehabilitation(), RehabilitationStarted():
            return not spec.kinds or fact.kind in spec.kinds
        case GlucoseTest(), GlucoseToleranceTestReported():
            return True
    return False
