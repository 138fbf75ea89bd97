"""The professional directory of each CPTS, as the service reads it (PostgreSQL).

``directory_professionals``: RPPS, role, specialty, zones (the pools a
professional hears), active or not. The directory gives a professional's zones
to the feeds and digests (a token's ``zones`` claim stands in for
professionals not in it), lists digest recipients, and is what
``parcours notifications nats-config`` turns into NATS users. Coordinators
manage it over HTTP (``notifications.api.directory``).

Staff (coordinators, auditors, admins) are listed too, so that a sign-in through
the OpenID provider finds their role (``parcours.directory_identity`` reads this
table for every service); they hear no pool, get no digest and no NATS user.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from contracts.roles import Role
from notifications.domain.audience import heard_zones, task_role
from parcours.auth import Principal

STAFF_ROLES = frozenset({Role.COORDINATOR, Role.AUDITOR, Role.ADMIN, Role.DPO})


class Professional(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    rpps: str
    role: str
    specialty: str | None
    zones: list[str]
    active: bool

    @property
    def task_role(self) -> str:
        """The role the professional's tasks carry (a specialist's specialty)."""
        return task_role(self.role, self.specialty)


def row_to_professional(row: asyncpg.Record) -> Professional:
    return Professional(
        cpts=row["cpts"],
        rpps=row["rpps"],
        role=row["role"],
        specialty=row["specialty"],
        zones=list(row["zones"]),
        active=row["active"],
    )


SELECT_PROFESSIONALS = (
    "SELECT cpts, rpps, role, specialty, zones, active FROM directory_professionals"
)


async def find(db: Any, cpts: str, rpps: str) -> Professional | None:
    row = await db.fetchrow(f"{SELECT_PROFESSIONALS} WHERE cpts = $1 AND rpps = $2", cpts, rpps)
    return row_to_professional(row) if row else None


async def caller_zones(db: Any, principal: Principal) -> tuple[str, ...]:
    """The zones whose pools a caller hears: the directory's, else the token's claim."""
    known = await find(db, principal.cpts, principal.sub)
    return heard_zones(known.zones if known is not None and known.active else principal.zones)


async def active_professionals(db: Any) -> list[Professional]:
    rows = await db.fetch(f"{SELECT_PROFESSIONALS} WHERE active ORDER BY cpts, rpps")
    return [row_to_professional(r) for r in rows if r["role"] not in STAFF_ROLES]


async def all_professionals(db: Any, cpts: str | None = None) -> list[Professional]:
    """Every professional (not staff) of the directory, active or not."""
    if cpts is None:
        rows = await db.fetch(f"{SELECT_PROFESSIONALS} ORDER BY cpts, rpps")
    else:
        rows = await db.fetch(f"{SELECT_PROFESSIONALS} WHERE cpts = $1 ORDER BY rpps", cpts)
    return [row_to_professional(r) for r in rows if r["role"] not in STAFF_ROLES]
