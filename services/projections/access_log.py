"""The access log: every read of identifying data (patient ids) says who, what, when, why.

Written before the answer leaves, in its own statement: a read that cannot be
logged fails.
"""

from __future__ import annotations

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
) -> None:
    principal: Principal = request.user
    route = request.scope.get("path_template") or request.url.path
    await db.execute(
        """INSERT INTO proj_access_log (cpts, sub, role, route, purpose, patient_ids, correlation_id)
           VALUES ($1, $2, $3, $4, $5, $6::uuid[], $7)""",
        principal.cpts,
        principal.sub,
        principal.role,
        f"{request.method} {route}",
        purpose,
        sorted(set(patient_ids)),
        request.scope.get("state", {}).get("correlation_id"),
    )
