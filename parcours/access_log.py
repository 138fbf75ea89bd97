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
