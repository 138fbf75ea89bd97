"""The exact shape of every identifier and the bounds of every value a client may send.

Defined once here and used by every edge: API bodies, token claims, the
directory, task commands and the NATS configuration. Identifiers are ASCII
only: Python's ``\\d`` matches every Unicode digit (Arabic-Indic, fullwidth...),
so the patterns spell ``[0-9]``, and ``ascii_identifier`` is the check for code
that holds a plain ``str``.

Free text is bounded (the maxima below are the documented limits) and never
holds control characters other than tab and line breaks: the NUL character
cannot be stored by PostgreSQL, and a statement that fails on it could print
the text into the server log. Patterns end with ``$(?!\\n)``: Python's ``$``
alone also matches before a final line break.

Stored events keep their original, looser types: a reader must still decode an
event recorded before these rules. Only what comes in is held to them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

import msgspec

from contracts.roles import PROFESSIONAL_ROLES, SPECIALTIES, Role

# -- identifiers --------------------------------------------------------------------------

RPPS_PATTERN = r"^[0-9]{11}$(?!\n)"
Rpps = Annotated[str, msgspec.Meta(pattern=RPPS_PATTERN, description="RPPS: 11 ASCII digits")]
Finess = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(?:[0-9]{2}|2A|2B)[0-9]{7}$(?!\n)",
        description="FINESS: 9 characters, the departement (2 digits, 2A or 2B) then 7 digits",
    ),
]
INS_PATTERN = r"^[12378][0-9]{4}(?:[0-9]{2}|2[AaBb])[0-9]{8}$(?!\n)"
Ins = Annotated[
    str,
    msgspec.Meta(
        min_length=15,
        max_length=15,
        description="matricule INS: 13 characters (2A or 2B in the 6th-7th) and a 2-digit key",
    ),
]
CPTS_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$(?!\n)"
CptsSlug = Annotated[
    str,
    msgspec.Meta(
        pattern=CPTS_PATTERN,
        description="CPTS slug: 1-64 lower-case ASCII letters, digits and inner '-'",
    ),
]
SUBJECT_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$(?!\n)"
SubjectId = Annotated[
    str,
    msgspec.Meta(
        pattern=SUBJECT_PATTERN,
        description="who calls: an RPPS or a system id, 1-64 ASCII letters, digits, '-', '_'",
    ),
]
ZONE_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9])?$(?!\n)"
ZoneCode = Annotated[
    str,
    msgspec.Meta(
        pattern=ZONE_PATTERN,
        description="zone (sector or INSEE code): 1-64 ASCII letters, digits, ' ', '.', '-', '_'",
    ),
]
InseeCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(?:[0-9]{2}|2A|2B)[0-9]{3}$(?!\n)",
        description="INSEE code of a commune: 5 characters (2A/2B for Corsica)",
    ),
]
Loinc = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9]{1,7}-[0-9]$(?!\n)", description="LOINC code, e.g. 2160-0")
]
Atc = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?$(?!\n)",
        description="ATC code, level 1 to 5, e.g. C03CA01",
    ),
]
Icd10 = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z][0-9]{2}(?:\.?[0-9]{1,2})?$(?!\n)", description="ICD-10 code, e.g. I50.1"
    ),
]
ProfessionalRole = Literal[tuple(sorted(str(r) for r in PROFESSIONAL_ROLES))]  # type: ignore[valid-type]
RoleName = Literal[tuple(str(r) for r in Role)]  # type: ignore[valid-type]
Specialty = Literal[tuple(sorted(str(s) for s in SPECIALTIES))]  # type: ignore[valid-type]
ProtocolId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$(?!\n)")]

# -- free text ----------------------------------------------------------------------------

_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tab, LF and CR allowed
NAME_MAX = 100  # a birth name or first names (the INS referential allows 100)
LABEL_MAX = 200  # a unit, a vaccine, a specialty, a destination, a kind
NOTE_MAX = 4000  # notes, findings, reasons
CORRELATION_MAX = 128


def _text(max_length: int, description: str) -> object:
    return Annotated[
        str, msgspec.Meta(max_length=max_length, pattern=_NO_CONTROL, description=description)
    ]


Name = _text(NAME_MAX, f"a name: at most {NAME_MAX} characters, no control character")
Label = _text(LABEL_MAX, f"a short label: at most {LABEL_MAX} characters")
Note = _text(NOTE_MAX, f"free text: at most {NOTE_MAX} characters")
CorrelationId = _text(CORRELATION_MAX, f"at most {CORRELATION_MAX} characters")

# -- bounded lists ------------------------------------------------------------------------

ZONES_MAX = 50  # zones of one professional (directory, token claim)
DIAGNOSES_MAX = 20
CARE_TEAM_MAX = 20
Zones = Annotated[list[ZoneCode], msgspec.Meta(max_length=ZONES_MAX)]  # type: ignore[valid-type]
Diagnoses = Annotated[list[Icd10], msgspec.Meta(max_length=DIAGNOSES_MAX)]

# -- clinical numbers ---------------------------------------------------------------------

NyhaClass = Annotated[int, msgspec.Meta(ge=1, le=4, description="NYHA class, 1 to 4")]
WeightKg = Annotated[float, msgspec.Meta(gt=0, le=400, description="kg, above 0 and at most 400")]
SystolicMmHg = Annotated[int, msgspec.Meta(ge=40, le=300, description="mmHg, 40 to 300")]
DiastolicMmHg = Annotated[int, msgspec.Meta(ge=20, le=200, description="mmHg, 20 to 200")]
HeartRateBpm = Annotated[int, msgspec.Meta(ge=20, le=300, description="beats/min, 20 to 300")]
GlucoseGL = Annotated[float, msgspec.Meta(ge=0, le=10, description="glucose in g/L, 0 to 10")]
LabValue = Annotated[
    float, msgspec.Meta(ge=-1e6, le=1e6, description="a result value, -1e6 to 1e6")
]
Readings = Annotated[
    int, msgspec.Meta(ge=0, le=10_000, description="glucose readings in the period, 0 to 10,000")
]

# -- dates --------------------------------------------------------------------------------

EARLIEST_BIRTH = dt.date(1900, 1, 1)
# a clinical fact is dated at most this long before the clock (backfills included)
FACT_PAST_HORIZON = dt.timedelta(days=30 * 366)


def field_error(field: str, sentence: str) -> ValueError:
    """An error raised while decoding (``__post_init__``) that names its field: the
    problem renderer puts ``field`` after the struct's path."""
    return ValueError(f"`{field}`: {sentence}")


def ascii_identifier(value: str, pattern: str) -> bool:
    """Does ``value`` have the ASCII shape ``pattern`` (one of the ``*_PATTERN`` above)?"""
    return value.isascii() and re.fullmatch(pattern, value) is not None
