"""Who a fact is about: the identity table (INS and traits in, a patient id out).

Shared by the single-fact path and the batch. A patient found by INS comes with
the events of their stream, read in the same round trip (``find_patient``,
``find_patients``); a first fact for an INS gets a new patient id, and its
identity row is written by the same statement as the append
(``new_identity_statement``), or, for a batch, by one statement for every new
INS (``find_patients``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from contracts.events import patient_stream
from contracts.identity import PatientIdentity
from parcours.eventstore import EventStore
from pathways.fastids import new_uuid4
from pathways.identity import trait_values, traits_json, traits_jsonb


@dataclass(slots=True)
class Patient:
    ins: str
    patient_id: uuid.UUID
    known: bool  # False: the identity row is still to be written
    commune: str | None
    traits: dict[str, Any]  # as stored
    rows: list[asyncpg.Record] = field(default_factory=list)  # the stream's events, by version

    @property
    def stream(self) -> str:
        return patient_stream(self.patient_id)


# One primary-key lookup per INS, whatever the statistics say (on a table that grew fast
# since its last ANALYZE, ``ins = ANY($2)`` was planned as a scan of the whole CPTS;
# OFFSET 0 keeps the planner from flattening the lookup back into that).
_KNOWN = """SELECT p.ins, p.patient_id, p.commune, p.traits::text AS traits,
       'patient-' || p.patient_id::text AS stream
FROM unnest($2::text[]) AS k(ins),
     LATERAL (SELECT * FROM patient_identities i WHERE i.cpts = $1 AND i.ins = k.ins OFFSET 0) AS p"""

# Traits travel as text arrays built into jsonb by the statement (``traits_jsonb``), never
# as JSON text PostgreSQL would parse: a parse error's context would quote the traits into
# the server log. One row of trait values per patient ($5 and $3: text[][]).
_NEW_ONE = f"""INSERT INTO patient_identities (cpts, ins, ins_oid, patient_id, traits, commune)
VALUES ($4, $5, $6, $7, {traits_jsonb("($8::text[])[{k}]")}, $9)  -- after the append's $1..$3
ON CONFLICT (cpts, ins) DO NOTHING
RETURNING 1"""

_NEW_MANY = f"""INSERT INTO patient_identities (cpts, ins, ins_oid, patient_id, traits, commune)
SELECT $1, n.ins, n.oid, n.patient_id, {traits_jsonb("($5::text[])[n.ord][{k}]")}, n.commune
FROM unnest($2::text[], $3::text[], $4::uuid[], $6::text[]) WITH ORDINALITY
     AS n(ins, oid, patient_id, commune, ord)
ON CONFLICT (cpts, ins) DO NOTHING
RETURNING ins"""

_TRAITS = f"""UPDATE patient_identities p
SET traits = p.traits || {traits_jsonb("($3::text[])[u.ord][{k}]")},
    commune = coalesce(u.commune, p.commune), updated_at = now()
FROM unnest($2::text[], $4::text[]) WITH ORDINALITY AS u(ins, commune, ord)
WHERE p.cpts = $1 AND p.ins = u.ins"""


def traits_of(identities: Sequence[PatientIdentity]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for identity in identities:
        merged.update(msgspec.json.decode(traits_json(identity)))
    return merged


def commune_of(identities: Sequence[PatientIdentity]) -> str | None:
    return next((i.commune for i in identities if i.commune), None)


def _known(rows: Sequence[asyncpg.Record]) -> dict[str, Patient]:
    patients: dict[str, Patient] = {}
    for r in rows:
        p = patients.get(r["ins"])
        if p is None:
            p = patients[r["ins"]] = Patient(
                ins=r["ins"],
                patient_id=r["patient_id"],
                known=True,
                commune=r["commune"],
                traits=msgspec.json.decode(r["traits"]),
            )
        if r["version"] is not None:
            p.rows.append(r)
    return patients


async def find_patients(
    conn: asyncpg.Connection,
    cpts: str,
    by_ins: dict[str, list[PatientIdentity]],
    *,
    create: bool = True,
) -> dict[str, Patient]:
    """Every INS's patient with their stream's events (one round trip), the new ones
    written in one statement; when a concurrent writer recorded an INS first, theirs is
    the patient id (read again)."""
    store = EventStore(conn)
    patients = _known(await store.read_streams_of(_KNOWN, cpts, list(by_ins)))
    new = [ins for ins in by_ins if ins not in patients]
    if not new or not create:
        return patients
    ids = {ins: new_uuid4() for ins in new}
    traits = {ins: traits_of(by_ins[ins]) for ins in new}
    won = await conn.fetch(
        _NEW_MANY,
        cpts,
        new,
        [by_ins[ins][0].oid for ins in new],
        [ids[ins] for ins in new],
        [trait_values(traits[ins]) for ins in new],
        [commune_of(by_ins[ins]) for ins in new],
    )
    for r in won:
        ins = r["ins"]
        patients[ins] = Patient(ins, ids[ins], False, commune_of(by_ins[ins]), traits[ins])
    losers = [ins for ins in new if ins not in patients]
    if losers:
        patients.update(_known(await store.read_streams_of(_KNOWN, cpts, losers)))
    return patients


async def find_patient(conn: asyncpg.Connection, cpts: str, identity: PatientIdentity) -> Patient:
    """The patient of an INS with their stream's events (one round trip), or a new patient
    (``known`` False) whose row ``new_identity_statement`` writes with the first append."""
    ins = identity.ins.upper()
    found = await find_patients(conn, cpts, {ins: [identity]}, create=False)
    if ins in found:
        return found[ins]
    return Patient(ins, new_uuid4(), False, identity.commune, {})


def new_identity_statement(
    cpts: str, identity: PatientIdentity, patient_id: uuid.UUID
) -> tuple[str, Sequence[object]]:
    """The ``before`` statement of a new patient's first append (its identity row)."""
    args = (
        cpts,
        identity.ins.upper(),
        identity.oid,
        patient_id,
        trait_values(msgspec.json.decode(traits_json(identity))),
        identity.commune,
    )
    return _NEW_ONE, args


def fresh_traits(
    patient: Patient, identities: Sequence[PatientIdentity]
) -> tuple[str, list[str | None], str | None] | None:
    """(INS, trait values, commune) when facts bring traits a known patient's row
    lacks, else None."""
    if not patient.known:
        return None
    fresh = traits_of(identities)
    if not fresh.items() - patient.traits.items():
        return None
    return patient.ins, trait_values(fresh), commune_of(identities)


async def update_traits(
    conn: asyncpg.Connection, cpts: str, rows: Sequence[tuple[str, list[str | None], str | None]]
) -> None:
    if rows:
        await conn.execute(_TRAITS, cpts, *([r[i] for r in rows] for i in range(3)))
