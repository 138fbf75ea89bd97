"""The identity table: INS and traits in, an internal patient id out.

Traits are kept for professionals who need them (fetched with their token and
logged in the access log); they never enter an event or a log line.
"""

from __future__ import annotations

import uuid

import asyncpg
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


async def resolve_patient(
    db: asyncpg.Pool | asyncpg.Connection, cpts: str, identity: PatientIdentity
) -> tuple[uuid.UUID, str | None]:
    """The patient id for this INS in this CPTS (created on first sight) and their commune."""
    traits = msgspec.structs.asdict(identity)
    traits.pop("ins", None)
    traits.pop("oid", None)
    row = await db.fetchrow(
        """INSERT INTO patient_identities (cpts, ins, ins_oid, patient_id, traits, commune)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6)
           ON CONFLICT (cpts, ins) DO UPDATE
              SET traits = patient_identities.traits || excluded.traits,
                  commune = coalesce(excluded.commune, patient_identities.commune),
                  updated_at = now()
              WHERE excluded.traits <> '{}'::jsonb AND patient_identities.traits IS DISTINCT FROM patient_identities.traits || excluded.traits
           RETURNING patient_id, commune""",
        cpts,
        identity.ins.upper(),
        identity.oid,
        uuid.uuid4(),
        _traits.encode({k: v for k, v in traits.items() if v is not None}).decode(),
        identity.commune,
    )
    if row is None:  # nothing new to record: read the existing row
        row = await db.fetchrow(
            "SELECT patient_id, commune FROM patient_identities WHERE cpts = $1 AND ins = $2",
            cpts,
            identity.ins.upper(),
        )
    return row["patient_id"], row["commune"]
