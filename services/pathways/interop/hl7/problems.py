"""Why a message is refused, with where: what an ERR segment carries.

``MessageRejected`` (AR): the type, trigger event, version or structure is not
one we take; the sender must change what it sends, re-sending will not help.
``MessageInError`` (AE): the message is an ADT we take, but a field cannot be
read as PAM France says; the reason names the segment, field and component,
never the value (it may identify the patient).

Codes are HL7 table 0357.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_VERSION = "203"
SEGMENT_SEQUENCE_ERROR = "100"
APPLICATION_ERROR = "207"


@dataclass(frozen=True)
class ErrorLocation:
    segment: str = "MSH"
    sequence: int = 1
    field: int = 0
    component: int = 0

    def __str__(self) -> str:
        where = f"{self.segment}-{self.field}" if self.field else self.segment
        return f"{where}.{self.component}" if self.component else where


class Hl7Problem(Exception):
    acknowledgement = "AE"

    def __init__(self, code: str, reason: str, location: ErrorLocation | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason
        self.location = location or ErrorLocation()


class MessageRejected(Hl7Problem):
    acknowledgement = "AR"


class MessageInError(Hl7Problem):
    acknowledgement = "AE"
