"""Need-to-know on the read side: who may read a patient's data, from the projections'
copy of the care circle (``proj_care_circle``, ``proj_break_glass``).

Coordinators and admins of the CPTS read every patient of it; a professional reads a
patient whose care circle she is in, or for whom she holds an unexpired break-the-glass
grant. Anyone else gets 403 "not in this patient's care circle" (and a patient of
another CPTS is a 404 before that). The rule of membership is the pathways decider's:
this module only looks the copy up.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg

from contracts.roles import Role
from parcours.auth import Principal
from parcours.problems import Problem

STAFF = frozenset({Role.COORDINATOR, Role.ADMIN})


def not_in_circle() -> Problem:
    return Problem(
        403,
        "Not in the care circle",
        "not in this patient's care circle: the professionals of the patient's tasks, the "
        "declared GP and the care team read it; ask a coordinator, or ask for break-the-glass "
        "access with a reason (POST /v1/patients/{id}/break-glass)",
    )


async def reader_access(
    db: asyncpg.Pool | asyncpg.Connection, who: Principal, patient_id: uuid.UUID, now: dt.datetime
) -> str | None:
    """``"staff"``, ``"circle"`` or ``"break-glass"``: why ``who`` may read; None: refused."""
    if who.role in STAFF:
        return "staff"
    row = await db.fetchrow(
        """SELECT EXISTS (SELECT 1 FROM proj_care_circle
                          WHERE cpts = $1 AND patient_id = $2 AND rpps = $3) AS member,
                  EXISTS (SELECT 1 FROM proj_break_glass
                          WHERE cpts = $1 AND patient_id = $2 AND rpps = $3
                            AND granted_at <= $4 AND expires_at > $4) AS glass,
                  EXISTS (SELECT 1 FROM proj_sharing_opposed
                          WHERE cpts = $1 AND patient_id = $2 AND rpps = $3) AS opposed""",
        who.cpts,
        patient_id,
        who.sub,
        now,
    )
    if row["opposed"]:
        return None
    if row["member"]:
        return "circle"
    return "break-glass" if row["glass"] else None


async def readable_patients(
    db: asyncpg.Pool | asyncpg.Connection,
    who: Principal,
    patient_ids: Sequence[uuid.UUID],
    now: dt.datetime,
) -> set[uuid.UUID]:
    """Which of these patients ``who`` may read now (worklist entries are filtered by it)."""
    if who.role in STAFF:
        return set(patient_ids)
    rows = await db.fetch(
        """SELECT patient_id FROM proj_care_circle
           WHERE cpts = $1 AND rpps = $2 AND patient_id = ANY($3::uuid[])
           UNION
           SELECT patient_id FROM proj_break_glass
           WHERE cpts = $1 AND rpps = $2 AND patient_id = ANY($3::uuid[])
             AND granted_at <= $4 AND expires_at > $4
           EXCEPT
           SELECT patient_id FROM proj_sharing_opposed WHERE cpts = $1 AND rpps = $2""",
        who.cpts,
        who.sub,
        list(set(patient_ids)),
        now,
    )
    return {r["patient_id"] for r in rows}


async def professional_zones(db: asyncpg.Pool | asyncpg.Connection, who: Principal) -> set[str]:
    """The zones whose pools a professional may look into: the directory's (the
    projections' copy, ``proj_directory``), else her token's claim for a professional not
    in the directory (as the notifications do). No zone: no pool."""
    row = await db.fetchrow(
        "SELECT zones, active FROM proj_directory WHERE cpts = $1 AND rpps = $2",
        who.cpts,
        who.sub,
    )
    if row is not None:
        return set(row["zones"]) if row["active"] else set()
    return set(who.zones)


async def opposed_patients(
    db: asyncpg.Pool | asyncpg.Connection, who: Principal, patient_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these patients opposed sharing with ``who`` (their pool tasks are hidden)."""
    rows = await db.fetch(
        """SELECT patient_id FROM proj_sharing_opposed
           WHERE cpts = $1 AND rpps = $2 AND patient_id = ANY($3::uuid[])""",
        who.cpts,
        who.sub,
        list(set(patient_ids)),
    )
    return {r["patient_id"] for r in rows}
