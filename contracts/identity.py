"""Patient and professional identifiers: INS, RPPS, FINESS.

The INS (matricule INS: NIR or NIA) is 13 characters plus a 2-digit key, with
key = 97 - (number mod 97). In the departement position, Corsica's ``2A``
counts as 19 and ``2B`` as 18.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

import msgspec

from contracts import shapes

INS_NIR_OID = "1.2.250.1.213.1.4.8"
INS_NIA_OID = "1.2.250.1.213.1.4.9"
INS_TEST_OID = "1.2.250.1.213.1.4.10"
INS_DEMO_OID = "1.2.250.1.213.1.4.11"
INS_OIDS = frozenset({INS_NIR_OID, INS_NIA_OID, INS_TEST_OID, INS_DEMO_OID})

_INS_SHAPE = re.compile(shapes.INS_PATTERN)


def _numeric(number13: str) -> int:
    body = number13.upper()
    corsica = {"2A": "19", "2B": "18"}.get(body[5:7])
    if corsica:
        body = body[:5] + corsica + body[7:]
    return int(body)


def ins_problem(ins: str) -> str | None:
    """Return why ``ins`` is not a valid matricule INS, or None when it is.

    The sentence never repeats the value itself (it is identifying).
    """
    if len(ins) != 15:
        return f"an INS has 15 characters (13 and a 2-digit key), this one has {len(ins)}"
    if not ins.isascii() or not _INS_SHAPE.match(ins):
        return "an INS is digits only, except 2A or 2B in the departement position (6th-7th)"
    if int(ins[13:]) != 97 - (_numeric(ins[:13]) % 97):
        return "the INS key (last 2 digits) does not match 97 - (number mod 97)"
    return None


def ins_key(number13: str) -> str:
    """Compute the 2-digit key of a 13-character INS number (for synthetic data)."""
    return f"{97 - (_numeric(number13) % 97):02d}"


# The types of stored events (an event recorded before the strict shapes of
# ``contracts.shapes`` must still decode); inbound bodies use the strict ones.
Rpps = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{11}$", description="RPPS: 11 digits")]
Finess = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Z]{9}$", description="FINESS: 9 characters")]
Sex = Literal["F", "M", "U"]


class PatientIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """A patient as identified by a sender: INS with its OID and the identity traits.

    This never goes into an event: the pathways service maps it to an internal
    patient id and keeps the traits in its identity table.
    """

    ins: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]  # shape: ``ins_problem``
    oid: shapes.Label = INS_NIR_OID  # type: ignore[valid-type]  # one of INS_OIDS
    birth_name: shapes.Name | None = None  # type: ignore[valid-type]
    first_names: shapes.Name | None = None  # type: ignore[valid-type]
    sex: Sex | None = None
    birth_date: dt.date | None = None  # from 1900 and not in the future
    birthplace: shapes.Label | None = None  # type: ignore[valid-type]
    # INSEE code of the commune of residence (routes pool tasks)
    commune: shapes.InseeCode | None = None

    def __post_init__(self) -> None:
        born = self.birth_date
        if born is not None and not shapes.EARLIEST_BIRTH <= born <= _tomorrow():
            raise shapes.field_error(
                "birth_date",
                f"a birth date is from {shapes.EARLIEST_BIRTH.isoformat()} and not in the future",
            )


def _tomorrow() -> dt.date:
    """The latest plausible birth date: today anywhere on Earth (UTC+14)."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()


class CareTeamMember(msgspec.Struct, frozen=True, kw_only=True):
    """A professional the discharge names for a role (the patient's own GP, nurse...)."""

    role: str
    rpps: Rpps


class CareTeamEntry(CareTeamMember, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A care team member as a client sends it: a professional role and an ASCII RPPS."""

    role: shapes.ProfessionalRole  # type: ignore[valid-type]
    rpps: shapes.Rpps


def synthetic_ins(n: int, sex: int = 2) -> str:
    """A valid, synthetic INS for the n-th simulated patient (test OID only)."""
    order = n % 1000
    commune = (n // 1000) % 1000
    year = (n // 1_000_000) % 100
    number = f"{sex}{year:02d}0199{commune:03d}{order:03d}"
    return number + ins_key(number)
