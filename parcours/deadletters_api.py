"""``GET /v1/admin/dead-letters``: what the pipelines set aside, counted and listed.

An admin sees every CPTS (or one, ``?cpts=``); a coordinator sees their own CPTS
only. Each letter names the consumer, the event, its stream and type, why it was
set aside (never identity), and when; counts are per consumer and CPTS. Mounted by
the pathways service; ``parcours dead-letters replay`` acts on them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from contracts.roles import Role
from parcours.auth import Principal, requires
from parcours.deadletters import Count, DeadLetterRow, listing
from parcours.problems import Problem


class DeadLetters(msgspec.Struct, frozen=True):
    open: int
    counts: list[Count]
    dead_letters: list[DeadLetterRow]


@get(
    "/v1/admin/dead-letters",
    guards=[requires(Role.ADMIN, Role.COORDINATOR)],
    tags=["admin"],
    summary="Events the pipelines could not handle: counts and the latest letters",
)
async def dead_letters(
    request: Request[Any, Any, Any],
    state: State,
    consumer: str | None = None,
    cpts: str | None = None,
    include_replayed: bool = False,
    limit: int = 200,
) -> DeadLetters:
    who: Principal = request.user
    if who.role != Role.ADMIN:
        if cpts not in (None, who.cpts):
            raise Problem(403, "Forbidden", "a coordinator sees their own CPTS only", field="cpts")
        cpts = who.cpts
    if not 1 <= limit <= 1000:
        raise Problem(422, "Invalid limit", "limit is between 1 and 1000", field="limit")
    counts, rows = await listing(
        state.resources.pool,
        cpts=cpts,
        consumer=consumer,
        include_replayed=include_replayed,
        limit=limit,
    )
    return DeadLetters(open=sum(c.open for c in counts), counts=counts, dead_letters=rows)
