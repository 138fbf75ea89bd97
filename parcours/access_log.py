"""The access log every service writes: each read of patient data says who, which
patients, when, through which route, granted or not, and whether break-the-glass let it.

Written before the answer leaves (a read that cannot be logged fails), at the service
clock's instant (virtual in simulations). The access report
(``projections.api.access_report``) reads it. Shared by pathways (identity reads,
patient exports) and projections (timelines, worklists, task searches).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
import msgspec
from litestar import Request

from parcours.auth import Principal


async def record_access(
    db: asyncpg.Pool | asyncpg.Connection,
    request: Request[Any, Any, Any],
    purpose: str,
    patient_ids: Iterable[uuid.UUID],
    *,
    at: dt.datetime | None = None,
    granted: bool = True,
    break_glass: bool = False,
) -> None:
    principal: Principal = request.user
    route = request.scope.get("path_template") or request.url.path
    if at is None:
        at = await request.app.state.resources.clock.now()
    await db.execute(
        """INSERT INTO access_log (at, cpts, sub, role, route, purpose, patient_ids, granted,
                                   break_glass, correlation_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7::uuid[], $8, $9, $10)""",
        at,
        principal.cpts,
        principal.sub,
        principal.role,
        f"{request.method} {route}",
        purpose,
        sorted(set(patient_ids)),
        granted,
        break_glass,
        request.scope.get("state", {}).get("correlation_id"),
    )


class AccessEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One patient of one logged read."""

    at: dt.datetime
    professional: str  # the reader's token subject (an RPPS, or a system or staff id)
    role: str
    patient_id: uuid.UUID
    route: str
    purpose: str
    granted: bool
    break_glass: bool


async def access_entries(
    db: asyncpg.Pool | asyncpg.Connection,
    cpts: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    professional: str | None = None,
    patient: uuid.UUID | None = None,
    limit: int = 10_000,
) -> list[AccessEntry]:
    """The logged reads of a CPTS, one entry per patient read, oldest first (``until``
    excluded)."""
    rows = await db.fetch(
        """SELECT l.at, l.sub AS professional, l.role, p.patient_id, l.route, l.purpose,
                  l.granted, l.break_glass
           FROM access_log l CROSS JOIN LATERAL unnest(l.patient_ids) AS p(patient_id)
           WHERE l.cpts = $1
             AND ($2::timestamptz IS NULL OR l.at >= $2)
             AND ($3::timestamptz IS NULL OR l.at < $3)
             AND ($4::text IS NULL OR l.sub = $4)
             AND ($5::uuid IS NULL OR (l.patient_ids @> ARRAY[$5::uuid] AND p.patient_id = $5))
           ORDER BY l.at, l.id, p.patient_id
           LIMIT $6""",
        cpts,
        since,
        until,
        professional,
        patient,
        limit,
    )
    return [AccessEntry(**dict(r)) for r in rows]
