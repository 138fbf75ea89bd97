"""Identity vigilance (RNIV) for PAM France: which identifiers of PID may be used.

PID-3 repeats the patient's identifiers. The hospital's IPP (type ``PI``, with
its assigning authority) is always kept: it is the local identifier under which
the hospital knows the patient. The INS is the repetition whose assigning
authority carries one of the INS OIDs (1.2.250.1.213.1.4.8 NIR, .9 NIA, .10
test, .11 demo) or whose type is ``INS``; it is used only when the identity
status (PID-32) says the identity is qualified.

PID-32 (identity reliability code) across versions:

=============  ==========================  ==================================
PAM FR <= 2.9  PAM FR >= 2.10 (RNIV 2021)  what we do with the INS
=============  ==========================  ==================================
``VIDE``       --                          dropped (no status yet)
``PROV``       ``PROV`` provisoire         dropped
--             ``RECUP`` récupérée         dropped (INSi answered, identity not
                                           checked on a document)
``VALI``       ``VALI`` validée            dropped by default: in RNIV terms the
                                           identity was checked on a document
                                           but the INS not verified by INSi.
                                           A sender still on the pre-2021
                                           meaning (VALI = the best status) can
                                           list it in ``qualified_statuses``.
--             ``QUAL`` qualifiée          **used**
``DOUTE``      ``DOUTE``/``DOUB`` douteuse  dropped, whatever the status
``FICT``       ``FICT``/``FICTI`` fictive   dropped, whatever the status
=============  ==========================  ==================================

PAM FR 2.10+ repeats PID-32: the first repetition is the status, the others are
attributes (doubtful, fictitious, homonym); any doubtful or fictitious
attribute drops the INS. An absent PID-32 drops it too. Dropping the INS never
refuses the message: the patient is then known by IPP alone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import msgspec

from contracts.identity import INS_OIDS, PatientIdentity, ins_problem
from pathways.interop.hl7.message import Hl7Message, Segment, component_of
from pathways.interop.hl7.problems import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    ErrorLocation,
    MessageInError,
)
from pathways.interop.hl7.timestamps import TimestampError, parse_date, parse_instant

QUALIFIED_STATUSES = frozenset({"QUAL"})
DISQUALIFYING_ATTRIBUTES = frozenset({"DOUTE", "DOUB", "FICT", "FICTI"})
_SEX = {"F": "F", "M": "M"}


class PatientRef(msgspec.Struct, frozen=True, kw_only=True):
    """Who a message is about. ``identity`` is set only for a qualified INS."""

    ipp: str | None
    ipp_authority: str | None
    identity: PatientIdentity | None
    status: str  # PID-32 first repetition, '' when absent
    ins_dropped: str | None = None  # why an INS present was not used (never its value)
    died_at: dt.datetime | None = None


def _authority(cx: str, pid: Segment) -> str:
    enc = pid.encoding
    return component_of(cx, enc, 4, 2) or component_of(cx, enc, 4, 1)


def ins_drop_reason(statuses: list[str], qualified: frozenset[str]) -> str | None:
    status = statuses[0] if statuses else ""
    if not status:
        return "PID-32 carries no identity status: the INS is used only for a qualified identity"
    if DISQUALIFYING_ATTRIBUTES & set(statuses):
        return "PID-32 marks the identity doubtful or fictitious"
    if status not in qualified:
        return f"PID-32 status {status} is not a qualified identity"
    return None


def patient_ref(
    message: Hl7Message,
    zone: ZoneInfo,
    qualified_statuses: frozenset[str] = QUALIFIED_STATUSES,
) -> PatientRef:
    pid = message.first("PID")
    if pid is None:
        raise MessageInError(
            REQUIRED_FIELD_MISSING,
            "the message has no PID segment",
            ErrorLocation("PID", 1, 0),
        )
    enc = pid.encoding
    ipp = authority = ins = oid = None
    for cx in pid.repetitions(3):
        value, kind = component_of(cx, enc, 1), component_of(cx, enc, 5)
        auth = _authority(cx, pid)
        if auth in INS_OIDS or kind in ("INS", "INS-NIR", "INS-NIA"):
            ins, oid = ins or value, oid or (auth if auth in INS_OIDS else None)
        elif kind == "PI" and ipp is None and value:
            ipp, authority = value, auth or component_of(cx, enc, 4, 1) or None
    if ipp is None and ins is None:
        raise MessageInError(
            REQUIRED_FIELD_MISSING,
            "PID-3 holds neither an IPP (type PI) nor an INS",
            ErrorLocation("PID", 1, 3),
        )
    statuses = [component_of(r, enc).upper() for r in pid.repetitions(32)]
    dropped = None
    identity = None
    if ins:
        dropped = ins_drop_reason(statuses, qualified_statuses)
        if dropped is None and oid is None:
            dropped = "the INS in PID-3 names no INS OID in its assigning authority"
        if dropped is None and (problem := ins_problem(ins)) is not None:
            dropped = problem
        if dropped is None:
            identity = PatientIdentity(ins=ins.upper(), oid=oid or "", **_traits(pid, zone))
    return PatientRef(
        ipp=ipp,
        ipp_authority=authority,
        identity=identity,
        status=statuses[0] if statuses else "",
        ins_dropped=dropped,
        died_at=_death(pid, zone),
    )


def _traits(pid: Segment, zone: ZoneInfo) -> dict[str, object]:
    enc = pid.encoding
    traits: dict[str, object] = {}
    for xpn in pid.repetitions(5):
        if component_of(xpn, enc, 7) in ("L", ""):
            traits["birth_name"] = component_of(xpn, enc, 1, 1) or None
            traits["first_names"] = component_of(xpn, enc, 3) or component_of(xpn, enc, 2) or None
            break
    if birth := pid.value(7):
        try:
            traits["birth_date"] = parse_date(birth)
        except TimestampError as exc:
            raise MessageInError(DATA_TYPE_ERROR, str(exc), ErrorLocation("PID", 1, 7)) from None
    traits["sex"] = _SEX.get(pid.value(8), "U") if pid.value(8) else None
    for xad in pid.repetitions(11):
        kind, insee = component_of(xad, enc, 7), component_of(xad, enc, 9)
        if kind == "BDL" and insee:
            traits["birthplace"] = insee
        elif kind == "H" and insee and len(insee) == 5:
            traits["commune"] = insee
    return traits


def _death(pid: Segment, zone: ZoneInfo) -> dt.datetime | None:
    if pid.value(30).upper() != "Y":
        return None
    if not pid.value(29):
        raise MessageInError(
            REQUIRED_FIELD_MISSING,
            "PID-30 says the patient died but PID-29 gives no date of death",
            ErrorLocation("PID", 1, 29),
        )
    try:
        return parse_instant(pid.value(29), zone)
    except TimestampError as exc:
        raise MessageInError(DATA_TYPE_ERROR, str(exc), ErrorLocation("PID", 1, 29)) from None
