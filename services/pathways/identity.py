"""The identity table: INS and traits in, an internal patient id out.

Traits are kept for professionals who need them (fetched with their token and
logged in the access log); they never enter an event or a log line.
"""

from __future__ import annotations

from typing import Any

import msgspec

from contracts.identity import INS_OIDS, PatientIdentity, ins_problem
from parcours.problems import Problem

_traits = msgspec.json.Encoder()


def check_identity(identity: PatientIdentity, field: str = "patient") -> None:
    problem = ins_problem(identity.ins)
    if problem:
        raise Problem(422, "Invalid INS", problem, field=f"{field}.ins")
    if identity.oid not in INS_OIDS:
        raise Problem(
            422,
            "Invalid INS OID",
            f"the INS OID must be one of {', '.join(sorted(INS_OIDS))}",
            field=f"{field}.oid",
        )


def traits_json(identity: PatientIdentity) -> str:
    """The identity traits (everything but the INS and its OID) as JSON, nulls left out.

    The edge's types refuse control characters; this refuses the NUL again, before
    anything is sent (PostgreSQL cannot store it)."""
    traits = msgspec.structs.asdict(identity)
    for key in ("ins", "oid"):
        traits.pop(key, None)
    present = {k: v for k, v in traits.items() if v is not None}
    if any(isinstance(v, str) and "\x00" in v for v in present.values()):
        raise Problem(422, "Invalid character", "an identity trait holds the NUL character")
    return _traits.encode(present).decode()


# The traits go to PostgreSQL as a text array (``trait_values``), never as JSON text that
# the server would parse: a JSON parse error's context quotes the text (into the server
# log and the error), an array parameter's error names the parameter only.
TRAIT_KEYS = ("birth_name", "first_names", "sex", "birth_date", "birthplace", "commune")


def trait_values(traits: dict[str, Any]) -> list[str | None]:
    """The traits (as ``traits_json`` decodes) in ``TRAIT_KEYS`` order, None when absent."""
    return [None if traits.get(k) is None else str(traits[k]) for k in TRAIT_KEYS]


def traits_jsonb(cell: str) -> str:
    """SQL building the traits' jsonb from a text array; ``cell`` names entry ``{k}`` of
    it, e.g. ``($8::text[])[{k}]``, or ``($5::text[])[n.ord][{k}]`` for one row of many."""
    pairs = ", ".join(f"'{key}', {cell.format(k=i)}" for i, key in enumerate(TRAIT_KEYS, 1))
    return f"jsonb_strip_nulls(jsonb_build_object({pairs}))"
