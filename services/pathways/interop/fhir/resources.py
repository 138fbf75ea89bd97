"""The fr-core subset Parcours accepts, as msgspec structs (validated once, at the edge).

Only the elements the mapping reads are declared; other elements are ignored
(a FHIR client sends whole resources), but a resource type outside this list is
refused by name. Decoding is a few microseconds per resource: no FHIR model
library on the hot path.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Text = Annotated[str, msgspec.Meta(max_length=4096)]


class Coding(msgspec.Struct, frozen=True, omit_defaults=True):
    system: Text | None = None
    code: Text | None = None
    display: Text | None = None


class CodeableConcept(msgspec.Struct, frozen=True, omit_defaults=True):
    coding: list[Coding] = []
    text: Text | None = None


class Identifier(msgspec.Struct, frozen=True, omit_defaults=True):
    system: Text | None = None
    value: Text | None = None
    type: CodeableConcept | None = None


class Reference(msgspec.Struct, frozen=True, omit_defaults=True):
    reference: Text | None = None
    identifier: Identifier | None = None


class Period(msgspec.Struct, frozen=True, omit_defaults=True):
    start: Text | None = None
    end: Text | None = None


class Quantity(msgspec.Struct, frozen=True, omit_defaults=True):
    value: float | None = None
    unit: Text | None = None
    code: Text | None = None


class Extension(msgspec.Struct, frozen=True, omit_defaults=True):
    url: Text
    extension: list[Extension] = []
    valueCoding: Coding | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: Text | None = None


class HumanName(msgspec.Struct, frozen=True, omit_defaults=True):
    use: Text | None = None
    family: Text | None = None
    given: list[Text] = []


class Resource(msgspec.Struct, frozen=True, tag_field="resourceType", omit_defaults=True):
    id: Text | None = None


class Patient(Resource, tag="Patient", frozen=True):
    identifier: list[Identifier] = []
    extension: list[Extension] = []
    name: list[HumanName] = []
    gender: Literal["male", "female", "other", "unknown"] | None = None
    birthDate: Text | None = None
    deceasedDateTime: Text | None = None


class Hospitalization(msgspec.Struct, frozen=True, omit_defaults=True):
    dischargeDisposition: CodeableConcept | None = None


class Encounter(Resource, tag="Encounter", frozen=True):
    status: Text = "finished"
    subject: Reference | None = None
    period: Period | None = None
    hospitalization: Hospitalization | None = None
    serviceProvider: Reference | None = None


class Condition(Resource, tag="Condition", frozen=True):
    code: CodeableConcept | None = None
    subject: Reference | None = None
    encounter: Reference | None = None
    recordedDate: Text | None = None
    onsetDateTime: Text | None = None


class Observation(Resource, tag="Observation", frozen=True):
    status: Text = "final"
    code: CodeableConcept | None = None
    subject: Reference | None = None
    effectiveDateTime: Text | None = None
    valueQuantity: Quantity | None = None


class MedicationDispense(Resource, tag="MedicationDispense", frozen=True):
    medicationCodeableConcept: CodeableConcept | None = None
    subject: Reference | None = None
    whenHandedOver: Text | None = None


class Immunization(Resource, tag="Immunization", frozen=True):
    vaccineCode: CodeableConcept | None = None
    patient: Reference | None = None
    occurrenceDateTime: Text | None = None


AnyResource = Patient | Encounter | Condition | Observation | MedicationDispense | Immunization


class Request(msgspec.Struct, frozen=True, omit_defaults=True):
    method: Text = "POST"
    url: Text | None = None


class Entry(msgspec.Struct, frozen=True, omit_defaults=True):
    resource: AnyResource
    fullUrl: Text | None = None
    request: Request | None = None


class Bundle(msgspec.Struct, frozen=True, tag_field="resourceType", tag="Bundle"):
    type: Literal["transaction", "batch"]
    entry: Annotated[list[Entry], msgspec.Meta(max_length=1000)] = []
    identifier: Identifier | None = None


bundle_decoder = msgspec.json.Decoder(Bundle)
