"""Acknowledgements (original mode): MSH + MSA, and ERR when something is wrong.

AA: the facts are committed. AE: a field of an ADT we take cannot be read (ERR
says where and why, never the value). AR: type, trigger, version or structure
we do not take. The ACK swaps sender and receiver of the message it answers and
echoes its control id (MSA-2), processing id and version.
"""

from __future__ import annotations

import datetime as dt

from pathways.interop.hl7.message import Encoding, Hl7Message
from pathways.interop.hl7.problems import ErrorLocation, Hl7Problem

RECEIVER = ("PARCOURS", "CPTS")
_ENC = Encoding()


def _clean(text: str) -> str:
    """Text safe in one field: separators escaped, no segment break."""
    e = _ENC
    text = text.replace(e.escape, f"{e.escape}E{e.escape}")
    for char, code in ((e.field, "F"), (e.component, "S"), (e.repetition, "R")):
        text = text.replace(char, f"{e.escape}{code}{e.escape}")
    text = text.replace(e.subcomponent, f"{e.escape}T{e.escape}")
    return text.replace("\r", " ").replace("\n", " ")[:200]


def build_ack(
    code: str,
    *,
    answered: Hl7Message | None,
    control_id: str,
    now: dt.datetime,
    text: str = "",
    problem: Hl7Problem | None = None,
) -> str:
    """The ACK message (segments joined by CR). ``answered`` is None when the message
    could not be parsed at all: then MSH fields of our own are used."""
    msh = answered.msh if answered is not None else None

    def field(n: int, comp: int = 1) -> str:
        return _clean(msh.value(n, comp)) if msh is not None else ""

    trigger = field(9, 2)
    version = field(12) or "2.5"
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                RECEIVER[0],
                RECEIVER[1],
                field(3),
                field(4),
                stamp,
                "",
                f"ACK^{trigger}^ACK" if trigger else "ACK",
                control_id,
                field(11) or "P",
                version,
            ]
        ),
        "|".join(["MSA", code, _clean(field(10)), _clean(text)]),
    ]
    if problem is not None:
        segments.append(err_segment(problem.code, problem.reason, problem.location))
    return "\r".join(segments) + "\r"


def err_segment(code: str, reason: str, where: ErrorLocation) -> str:
    location = f"{where.segment}^{where.sequence}^{where.field or ''}^^{where.component or ''}"
    return "|".join(["ERR", "", location, f"{code}^^HL70357", "E", "", "", "", _clean(reason)])
