"""Synthetic HL7 v2.5 ADT messages in the shape of IHE PAM France (written for these tests).

``adt(...)`` builds one message; each keyword replaces a segment or a field so a
test states only what it is about. The INS is a synthetic valid one under the
test OID; the IPP is an invented local number.
"""

from __future__ import annotations

import asyncio

import hl7
from hl7.mllp import open_hl7_connection

INS = "295109912611193"
INS_OID = "1.2.250.1.213.1.4.10"
FINESS = "750712184"


def pid(
    *,
    ipp: str = "IPP0001",
    ins: str | None = INS,
    status: str = "QUAL",
    died: str = "",
    name: str = "DUPONT^MARIE^MARIE CLAIRE^^^^L",
) -> str:
    ids = [f"{ipp}^^^CHU-TEST&{FINESS}&M^PI"] if ipp else []
    if ins:
        ids.append(f"{ins}^^^ASIP-SANTE-INS-NIR&{INS_OID}&ISO^INS")
    fields = ["PID", "1", "", "~".join(ids), "", name, "", "19520317", "F"]
    fields += [""] * (33 - len(fields))
    fields[11] = "^^^^^^BDL^^75114~1 rue des Lilas^^PARIS^^75014^FRA^H^^75114"
    if died:
        fields[29], fields[30] = died, "Y"
    fields[32] = status
    return "|".join(fields).rstrip("|")


def pv1(*, admitted: str = "20261102090000", discharged: str = "", disposition: str = "") -> str:
    fields = ["PV1", "1", "I", f"CARDIO^^^CHU-TEST&{FINESS}&M"] + [""] * 42
    fields[19] = f"VN0001^^^CHU-TEST&{FINESS}&M^VN"
    fields[36] = disposition
    fields[44], fields[45] = admitted, discharged
    return "|".join(fields).rstrip("|")


def zbe(
    movement: str = "MVT1", at: str = "20261109140000", action: str = "INSERT", shifted=False
) -> str:
    if shifted:  # the action one field later, an end date in ZBE-3 (seen in examples)
        return f"ZBE|{movement}^CHU-TEST|{at}|{at}||{action}|N"
    return f"ZBE|{movement}^CHU-TEST|{at}||{action}|N"


def dg1(code: str, seq: int = 1, system: str = "I10", kind: str = "F", priority: str = "") -> str:
    fields = ["DG1", str(seq), "", f"{code}^label^{system}", "", "", kind] + [""] * 9
    fields[15] = priority
    return "|".join(fields).rstrip("|")


def adt(
    trigger: str = "A03",
    *,
    control: str = "MSG0001",
    version: str = "2.5^FRA^2.11",
    kind: str = "ADT",
    sender: tuple[str, str] = ("GAM", "CHU-TEST"),
    evn: str = "20261109141500",
    pid_segment: str | None = None,
    pv1_segment: str | None = None,
    zbe_segment: str | None = "",
    zfm: str | None = "8",
    diagnoses: tuple[str, ...] = ("I50.1",),
    extra: tuple[str, ...] = (),
) -> str:
    msh = (
        f"MSH|^~\\&|{sender[0]}|{sender[1]}|PARCOURS|CPTS|20261109141500||"
        f"{kind}^{trigger}^{kind}_{trigger}|{control}|P|{version}|||||FRA|UNICODE UTF-8"
    )
    segments = [msh, f"EVN||20261109141500||||{evn}", pid_segment or pid()]
    segments.append(pv1_segment if pv1_segment is not None else pv1(discharged="20261109140000"))
    if zbe_segment is not None:
        segments.append(zbe_segment or zbe())
    segments += [dg1(code, i + 1) for i, code in enumerate(diagnoses)]
    if zfm is not None:
        segments.append(f"ZFM|8|{zfm}|8|")
    segments += list(extra)
    return "\r".join(s for s in segments if s) + "\r"


async def exchange(port: int, *texts: str) -> list[hl7.Message]:
    """Send every message on one connection without waiting (python-hl7's asyncio MLLP
    client), then read the ACKs in order."""
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    try:
        for text in texts:
            writer.writeblock(text.encode())
        await writer.drain()
        return [await asyncio.wait_for(reader.readmessage(), 60) for _ in texts]
    finally:
        writer.close()


def msa(ack: hl7.Message) -> tuple[str, str]:
    """(acknowledgement code, control id answered) of an ACK."""
    return str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])
