"""IHE PAM France ADT messages to Parcours facts (pure: time zone and sender settings in).

=========  =================================  =====================================
trigger    meaning                            what Parcours records
=========  =================================  =====================================
A01, A04   admission, outpatient visit        ``AdmissionReported``
A05, A38   pre-admission (and its cancel)     nothing: a future stay is not a fact
A02, A12   transfer (and its cancel)          nothing: a move inside the hospital
A03        discharge                          ``DischargeReported`` (+ ``DeathReported``)
A11        cancel admission                   quarantined for the coordinator
A13        cancel discharge                   ``DischargeCancelled``: the latest discharge
                                              is retracted (its enrolment cancelled)
A21, A52   leave of absence, its cancel       nothing (kept with its outcome)
A22, A53   return from leave, its cancel      nothing (kept with its outcome)
A08, A28,  patient information, identity      the identity (IPP, qualified INS)
A31
A40        merge (MRG-1: the merged IPP)      a link from the merged IPP
A47        identifier change (MRG-1: old)     a link from the old IPP
=========  =================================  =====================================

Instants: A03's discharge is PV1-45, else ZBE-2, else EVN-6; an admission is
PV1-44, else ZBE-2, else EVN-6. Where the patient went comes from ZFM-2 (PMSI
discharge mode: 6 mutation, 7 transfer, 8 home, 9 death), else PV1-36 (the same
codes, or HL7 table 0112 ``01`` home, ``02`` transfer, ``20`` death), else
``unknown``; only ``home`` anchors a home pathway. Death also comes from
PID-29/PID-30.

ZBE (movement): ZBE-1 movement id, ZBE-2 its date, ZBE-4 the action (INSERT,
UPDATE, CANCEL). Some senders shift the action to ZBE-5 (with an end date in
ZBE-3): the first of ZBE-4, ZBE-5, ZBE-3 that is an action is taken. An UPDATE
of a movement records no new fact (the first report stands; the update is kept
with its outcome). A CANCEL goes with A11/A12/A13.

A13 cancels the patient's latest discharge (PAM: the cancel undoes the last
movement); its instant is EVN-6, else ZBE-2. The decider retracts what that
discharge started (``pathways.domain.retraction``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from contracts.base import EventPayload
from contracts.facts import (
    AdmissionReported,
    DeathReported,
    DischargeCancelled,
    DischargeReported,
)
from pathways.interop.hl7.identity import QUALIFIED_STATUSES, PatientRef, patient_ref
from pathways.interop.hl7.message import Hl7Message, Segment
from pathways.interop.hl7.problems import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_VERSION,
    ErrorLocation,
    MessageInError,
    MessageRejected,
)
from pathways.interop.hl7.timestamps import TimestampError, parse_instant

PARIS = ZoneInfo("Europe/Paris")
SUPPORTED_VERSIONS = ("2.5", "2.5.1")
ADMISSIONS = frozenset({"A01", "A04"})
NO_FACT = {
    "A02": "transfer inside the hospital",
    "A05": "pre-admission: a future stay is not a fact yet",
    "A06": "change of patient class",
    "A07": "change of patient class",
    "A12": "cancel transfer",
    "A21": "leave of absence",
    "A22": "return from leave of absence",
    "A38": "cancel pre-admission",
    "A52": "cancel leave of absence",
    "A53": "cancel return from leave of absence",
    "A54": "change of attending doctor",
    "A55": "cancel change of attending doctor",
}
IDENTITY = frozenset({"A08", "A28", "A31"})
LINKS = frozenset({"A40", "A47"})
CANCELS = {"A11": "admission", "A13": "discharge"}  # A13 is recorded; A11 waits for a person
SUPPORTED = frozenset({*ADMISSIONS, "A03", *NO_FACT, *IDENTITY, *LINKS, *CANCELS})
ACTIONS = frozenset({"INSERT", "UPDATE", "CANCEL"})
DISCHARGE_MODES = {"6": "mutation", "7": "transfer", "8": "home", "9": "death"}
HL7_DISPOSITIONS = {"01": "home", "02": "transfer", "20": "death"}
ICD10_SYSTEMS = frozenset({"", "I10", "ICD10", "CIM10", "CIM-10", "I10P", "ICD-10"})
DIAGNOSIS_TYPES = {"F": 0, "W": 1, "A": 2}
_ICD10 = re.compile(r"^([A-Z][0-9]{2})\.?([0-9]{0,2})")


class SenderProfile(msgspec.Struct, frozen=True, kw_only=True):
    """Per-sender settings: its time zone, its FINESS, the PID-32 statuses it qualifies."""

    zone: str = "Europe/Paris"
    finess: str | None = None
    qualified_statuses: frozenset[str] = QUALIFIED_STATUSES


class Movement(msgspec.Struct, frozen=True):
    id: str
    action: Literal["INSERT", "UPDATE", "CANCEL"]
    at: dt.datetime | None


class MappedMessage(msgspec.Struct, frozen=True, kw_only=True):
    trigger: str
    patient: PatientRef
    facts: list[EventPayload] = []
    movement: Movement | None = None
    cancels: str | None = None  # "admission" (A11): quarantined for the coordinator
    prior_ipp: str | None = None  # MRG-1 of A40 / A47
    note: str = ""


def header(message: Hl7Message) -> tuple[str, str]:
    """(message type, trigger event) once MSH says it is an ADT of a version we take."""
    msh = message.msh
    kind, trigger = msh.value(9, 1), msh.value(9, 2)
    version = msh.value(12, 1)
    if version not in SUPPORTED_VERSIONS:
        raise MessageRejected(
            UNSUPPORTED_VERSION,
            f"HL7 version {version or '(none)'} is not supported; PAM France uses 2.5",
            ErrorLocation("MSH", 1, 12),
        )
    if kind != "ADT":
        raise MessageRejected(
            UNSUPPORTED_MESSAGE_TYPE,
            f"message type {kind or '(none)'} is not supported; send ADT (IHE PAM France)",
            ErrorLocation("MSH", 1, 9, 1),
        )
    if trigger not in SUPPORTED:
        raise MessageRejected(
            UNSUPPORTED_EVENT_CODE,
            f"trigger event {trigger or '(none)'} is not supported",
            ErrorLocation("MSH", 1, 9, 2),
        )
    return kind, trigger


def map_message(message: Hl7Message, profile: SenderProfile = SenderProfile()) -> MappedMessage:
    """The facts an ADT message reports, or ``MessageRejected`` / ``MessageInError``."""
    _kind, trigger = header(message)
    zone = ZoneInfo(profile.zone)
    patient = patient_ref(message, zone, profile.qualified_statuses)
    movement = _movement(message, zone)
    base = {"trigger": trigger, "patient": patient, "movement": movement}
    if movement is not None and movement.action == "UPDATE" and trigger not in CANCELS:
        return MappedMessage(**base, note="movement update: the first report stands")
    if trigger in ADMISSIONS:
        admitted = _instant(message, zone, ("PV1", 44), movement)
        fact = AdmissionReported(
            admitted_at=admitted, finess=_finess(message, profile), diagnoses=_diagnoses(message)
        )
        return MappedMessage(**base, facts=_with_death(patient, [fact]), note="admission")
    if trigger == "A03":
        return MappedMessage(**base, facts=_discharge(message, profile, zone, patient, movement))
    if trigger == "A13":
        at = _instant(message, zone, ("EVN", 6), movement)
        fact = DischargeCancelled(cancelled_at=at)
        return MappedMessage(**base, facts=[fact], note="cancel discharge")
    if trigger in CANCELS:
        return MappedMessage(**base, cancels=CANCELS[trigger], note=f"cancel {CANCELS[trigger]}")
    if trigger in LINKS:
        mrg = message.first("MRG")
        prior = mrg.value(1) if mrg is not None else ""
        if not prior:
            raise MessageInError(
                REQUIRED_FIELD_MISSING,
                f"{trigger} needs MRG-1, the patient identifier that is replaced",
                ErrorLocation("MRG", 1, 1),
            )
        return MappedMessage(**base, prior_ipp=prior, note="merge" if trigger == "A40" else "id")
    if trigger in IDENTITY:
        return MappedMessage(**base, facts=_with_death(patient, []), note="identity")
    return MappedMessage(**base, note=NO_FACT[trigger])


def _discharge(
    message: Hl7Message,
    profile: SenderProfile,
    zone: ZoneInfo,
    patient: PatientRef,
    movement: Movement | None,
) -> list[EventPayload]:
    discharged = _instant(message, zone, ("PV1", 45), movement)
    pv1 = message.first("PV1")
    admitted = discharged
    if pv1 is not None and pv1.value(44):
        admitted = _read_instant(pv1, 44, zone)
    destination = _destination(message)
    facts: list[EventPayload] = [
        DischargeReported(
            admitted_at=admitted,
            discharged_at=discharged,
            diagnoses=_diagnoses(message),
            finess=_finess(message, profile),
            destination=destination,
        )
    ]
    if destination == "death" and patient.died_at is None:
        facts.append(DeathReported(died_at=discharged))
    return _with_death(patient, facts)


def _with_death(patient: PatientRef, facts: list[EventPayload]) -> list[EventPayload]:
    if patient.died_at is not None:
        facts.append(DeathReported(died_at=patient.died_at))
    return facts


def _destination(message: Hl7Message) -> str:
    zfm = message.first("ZFM")
    if zfm is not None and zfm.value(2) in DISCHARGE_MODES:
        return DISCHARGE_MODES[zfm.value(2)]
    pv1 = message.first("PV1")
    code = pv1.value(36) if pv1 is not None else ""
    return DISCHARGE_MODES.get(code) or HL7_DISPOSITIONS.get(code) or "unknown"


def _movement(message: Hl7Message, zone: ZoneInfo) -> Movement | None:
    zbe = message.first("ZBE")
    if zbe is None:
        return None
    action = next((zbe.value(n) for n in (4, 5, 3) if zbe.value(n) in ACTIONS), None)
    if action is None:
        raise MessageInError(
            REQUIRED_FIELD_MISSING,
            "ZBE-4 must be INSERT, UPDATE or CANCEL",
            ErrorLocation("ZBE", 1, 4),
        )
    at = _read_instant(zbe, 2, zone) if zbe.value(2) else None
    return Movement(zbe.value(1), action, at)  # type: ignore[arg-type]


def _instant(
    message: Hl7Message, zone: ZoneInfo, first: tuple[str, int], movement: Movement | None
) -> dt.datetime:
    seg = message.first(first[0])
    if seg is not None and seg.value(first[1]):
        return _read_instant(seg, first[1], zone)
    if movement is not None and movement.at is not None:
        return movement.at
    evn = message.first("EVN")
    if evn is not None and evn.value(6):
        return _read_instant(evn, 6, zone)
    raise MessageInError(
        REQUIRED_FIELD_MISSING,
        f"no instant for the movement: {first[0]}-{first[1]}, ZBE-2 and EVN-6 are all empty",
        ErrorLocation(first[0], 1, first[1]),
    )


def _read_instant(seg: Segment, field: int, zone: ZoneInfo) -> dt.datetime:
    try:
        return parse_instant(seg.value(field), zone)
    except TimestampError as exc:
        raise MessageInError(
            DATA_TYPE_ERROR, str(exc), ErrorLocation(seg.name, seg.sequence, field)
        ) from None


def _finess(message: Hl7Message, profile: SenderProfile) -> str:
    if profile.finess:
        return profile.finess
    pv1 = message.first("PV1")
    candidates = [message.msh.value(4, 2)]
    if pv1 is not None:
        candidates += [pv1.value(3, 4, 2), pv1.value(19, 4, 2)]
    for value in candidates:
        if len(value) == 9 and value.isalnum() and value.upper() == value:
            return value
    raise MessageInError(
        REQUIRED_FIELD_MISSING,
        "no FINESS: set one for this sender, or send it in MSH-4.2 or PV1-3.4.2",
        ErrorLocation("MSH", 1, 4, 2),
    )


def _diagnoses(message: Hl7Message) -> list[str]:
    """ICD-10 codes of DG1, main first: DG1-15 priority 1, else by DG1-6 type (F final,
    W working, A admitting), then in message order. Codes of another coding system
    are left out; an ICD-10 code that cannot be read is an error."""
    found: list[tuple[tuple[bool, int, int], str]] = []
    for dg1 in message.all("DG1"):
        system = dg1.value(3, 3).upper()
        code = dg1.value(3, 1).strip().upper()
        if not code or system not in ICD10_SYSTEMS:
            continue
        m = _ICD10.match(code)
        if not m or len(code.replace(".", "")) > 5:
            raise MessageInError(
                DATA_TYPE_ERROR,
                "DG1-3.1 is not an ICD-10 code (letter, two digits, up to two more)",
                ErrorLocation("DG1", dg1.sequence, 3, 1),
            )
        rank = (dg1.value(15) != "1", DIAGNOSIS_TYPES.get(dg1.value(6).upper(), 1), dg1.sequence)
        found.append((rank, m.group(1) + (f".{m.group(2)}" if m.group(2) else "")))
    return list(dict.fromkeys(code for _rank, code in sorted(found)))
