"""Clinical facts: what hospitals, labs and professionals report.

Each fact exists twice:
- the stored event payload (``DischargeReported`` ...), which names no patient:
  the patient is the stream (``patient-<uuid>``);
- the inbound body posted to ``POST /v1/facts``: the same fields plus the
  ``patient`` identity (INS and traits) and an optional sender-chosen ``event_id``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec

from contracts import shapes
from contracts.base import EventPayload
from contracts.identity import CareTeamEntry, CareTeamMember, Finess, PatientIdentity, Rpps

Instant = Annotated[dt.datetime, msgspec.Meta(tz=True, description="instant with a UTC offset")]
Icd10 = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z][0-9]{2}(\.?[0-9]{0,2})?$", description="ICD-10 code")
]
Loinc = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,7}-[0-9]$", description="LOINC code")]
# ATC levels 1 to 5 as the edge accepts them (``shapes.Atc``; level 1 is one letter), and
# every code stored before: an accepted fact must decode for every consumer
Atc = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z](?:[0-9]{2}[A-Z]{0,2}[0-9]{0,2})?$", description="ATC code")
]


class AdmissionReported(EventPayload, frozen=True, tag="AdmissionReported"):
    admitted_at: Instant
    finess: Finess
    diagnoses: list[Icd10] = []


class DischargeReported(EventPayload, frozen=True, tag="DischargeReported"):
    admitted_at: Instant
    discharged_at: Instant
    diagnoses: list[Icd10]
    finess: Finess
    destination: str = "home"
    care_team: list[CareTeamMember] = []
    nyha_class: int | None = None


class ReadmissionReported(EventPayload, frozen=True, tag="ReadmissionReported"):
    admitted_at: Instant
    finess: Finess
    diagnoses: list[Icd10] = []
    unplanned: bool = True


class DeathReported(EventPayload, frozen=True, tag="DeathReported"):
    died_at: Instant


class LabResultReported(EventPayload, frozen=True, tag="LabResultReported"):
    collected_at: Instant
    loinc: Loinc
    value: float
    unit: str
    lab: str | None = None  # FINESS or RPPS of the lab


class ConsultationReported(EventPayload, frozen=True, tag="ConsultationReported"):
    consulted_at: Instant
    role: str
    rpps: Rpps
    specialty: str | None = None
    notes: str | None = None


class NursingVisitReported(EventPayload, frozen=True, tag="NursingVisitReported"):
    visited_at: Instant
    rpps: Rpps
    weight_kg: float | None = None
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    heart_rate_bpm: int | None = None
    education: bool = False
    notes: str | None = None


class DeliveryReported(EventPayload, frozen=True, tag="DeliveryReported"):
    delivered_at: Instant
    finess: Finess | None = None


class DispensingReported(EventPayload, frozen=True, tag="DispensingReported"):
    dispensed_at: Instant
    atc: Atc
    rpps: Rpps | None = None


class VaccinationReported(EventPayload, frozen=True, tag="VaccinationReported"):
    vaccinated_at: Instant
    vaccine: str  # e.g. "influenza"
    rpps: Rpps | None = None


class RehabilitationStarted(EventPayload, frozen=True, tag="RehabilitationStarted"):
    started_at: Instant
    rpps: Rpps | None = None
    kind: str = "pulmonary-rehabilitation"


class DiagnosisReported(EventPayload, frozen=True, tag="DiagnosisReported"):
    diagnosed_at: Instant
    code: Icd10
    rpps: Rpps | None = None
    expected_delivery: dt.date | None = None


class GlucoseToleranceTestReported(EventPayload, frozen=True, tag="GlucoseToleranceTestReported"):
    """A 75 g OGTT (or a first-trimester fasting glucose alone), values in g/L."""

    tested_at: Instant
    fasting_g_l: float
    one_hour_g_l: float | None = None
    two_hour_g_l: float | None = None
    expected_delivery: dt.date | None = None


class SelfMonitoringReported(EventPayload, frozen=True, tag="SelfMonitoringReported"):
    """Capillary glucose self-monitoring over a period, as share of readings above target."""

    period_start: dt.date
    period_end: dt.date
    readings: int
    above_target: int


class GPDeclared(EventPayload, frozen=True, tag="GPDeclared"):
    """The patient declared a médecin traitant (GP) to the Assurance Maladie."""

    gp: Rpps  # the declared GP's RPPS
    declared_at: Instant


FACT_PAYLOADS: tuple[type[EventPayload], ...] = (
    AdmissionReported,
    DischargeReported,
    ReadmissionReported,
    DeathReported,
    LabResultReported,
    ConsultationReported,
    NursingVisitReported,
    DeliveryReported,
    DispensingReported,
    VaccinationReported,
    RehabilitationStarted,
    DiagnosisReported,
    GlucoseToleranceTestReported,
    SelfMonitoringReported,
    GPDeclared,
)

# The field of each fact that carries its business time (``occurred_at``).
OCCURRED_FIELD: dict[str, str] = {
    "AdmissionReported": "admitted_at",
    "DischargeReported": "discharged_at",
    "ReadmissionReported": "admitted_at",
    "DeathReported": "died_at",
    "LabResultReported": "collected_at",
    "ConsultationReported": "consulted_at",
    "NursingVisitReported": "visited_at",
    "DeliveryReported": "delivered_at",
    "DispensingReported": "dispensed_at",
    "VaccinationReported": "vaccinated_at",
    "RehabilitationStarted": "started_at",
    "DiagnosisReported": "diagnosed_at",
    "GlucoseToleranceTestReported": "tested_at",
    "SelfMonitoringReported": "period_end",
    "GPDeclared": "declared_at",
}


# The strict type of each field a client sends, by field name (the stored payloads keep
# their original types). Optional fields stay optional.
INBOUND_FIELD_TYPES: dict[str, Any] = {
    "diagnoses": shapes.Diagnoses,
    "finess": shapes.Finess,
    "destination": shapes.Label,
    "care_team": Annotated[list[CareTeamEntry], msgspec.Meta(max_length=shapes.CARE_TEAM_MAX)],
    "nyha_class": shapes.NyhaClass,
    "loinc": shapes.Loinc,
    "value": shapes.LabValue,
    "unit": shapes.Label,
    "lab": shapes.Label,
    "role": shapes.ProfessionalRole,
    "rpps": shapes.Rpps,
    "specialty": shapes.Label,
    "notes": shapes.Note,
    "weight_kg": shapes.WeightKg,
    "systolic_mmhg": shapes.SystolicMmHg,
    "diastolic_mmhg": shapes.DiastolicMmHg,
    "heart_rate_bpm": shapes.HeartRateBpm,
    "atc": shapes.Atc,
    "vaccine": shapes.Label,
    "kind": shapes.Label,
    "code": shapes.Icd10,
    "fasting_g_l": shapes.GlucoseGL,
    "one_hour_g_l": shapes.GlucoseGL,
    "two_hour_g_l": shapes.GlucoseGL,
    "readings": shapes.Readings,
    "above_target": shapes.Readings,
    "gp": shapes.Rpps,
}


def _strict_fields(payload: type[EventPayload]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for f in msgspec.structs.fields(payload):
        strict = INBOUND_FIELD_TYPES.get(f.name)
        if strict is None:
            continue
        if f.default is None:
            out.append((f.name, strict | None, None))
        elif f.default is not msgspec.NODEFAULT:
            out.append((f.name, strict, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            out.append((f.name, strict, msgspec.field(default_factory=f.default_factory)))
        else:
            out.append((f.name, strict))
    return out


def _consistent(body: Any) -> None:
    """Checks across fields that need no clock (the clock's are in ``pathways.fact_checks``)."""
    above, readings = getattr(body, "above_target", None), getattr(body, "readings", None)
    if above is not None and readings is not None and above > readings:
        raise shapes.field_error("above_target", "cannot exceed `readings`")


def _inbound(payload: type[EventPayload]) -> type[msgspec.Struct]:
    """The inbound body of a fact: its payload, with the strict types of
    ``INBOUND_FIELD_TYPES``, plus patient identity and event id."""
    tag = payload.__struct_config__.tag
    return msgspec.defstruct(
        f"{tag}Body",
        [
            *_strict_fields(payload),
            ("patient", PatientIdentity),
            ("event_id", uuid.UUID | None, None),
            ("correlation_id", shapes.CorrelationId | None, None),
        ],
        bases=(payload,),
        tag=tag,
        tag_field="type",
        frozen=True,
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
        namespace={"__post_init__": _consistent},
    )


INBOUND_FACTS: dict[str, type[msgspec.Struct]] = {
    p.__struct_config__.tag: _inbound(p) for p in FACT_PAYLOADS
}
for _cls in INBOUND_FACTS.values():
    globals()[_cls.__name__] = _cls

FACT_TYPES: tuple[str, ...] = tuple(INBOUND_FACTS)


def payload_of(body: msgspec.Struct) -> EventPayload:
    """Strip the inbound-only fields (patient, event_id, correlation_id) from a fact body."""
    cls = next(p for p in FACT_PAYLOADS if isinstance(body, p))
    fields = {f: getattr(body, f) for f in cls.__struct_fields__}
    if fields.get("care_team"):
        fields["care_team"] = [
            CareTeamMember(role=m.role, rpps=m.rpps) for m in fields["care_team"]
        ]
    return cls(**fields)


def occurred_at(payload: EventPayload) -> dt.datetime:
    return getattr(payload, OCCURRED_FIELD[payload.__struct_config__.tag])
