"""The identity table: INS and traits in, an internal patient id out.

Traits are kept for professionals who need them (fetched with their token and
logged in the access log); they never enter an event or a log line.
"""

from __future__ import annotations

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

    The statements cast it to jsonb, which refuses only ``\\u0000``: the edge's types
    refuse control characters, and this refuses the NUL again before anything is sent,
    so no statement can fail on traits (a jsonb error's context would quote them)."""
    traits = msgspec.structs.asdict(identity)
    for key in ("ins", "oid"):
        traits.pop(key, None)
    present = {k: v for k, v in traits.items() if v is not None}
    if any(isinstance(v, str) and "\x00" in v for v in present.values()):
        raise Problem(422, "Invalid character", "an identity trait holds the NUL character")
    return _traits.encode(present).decode()
