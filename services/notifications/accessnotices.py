"""The IO around ``notifications.domain.access``: what an access event's notices need.

The offer of an unscheduled-care request is read back from the patient's stream (the
request and any earlier accept are there, committed before the relay carried this event),
and the role of each offered professional from the CPTS directory.
"""

from __future__ import annotations

import asyncpg
import structlog

from contracts.access import UnscheduledCareAccepted, UnscheduledCareEscalated
from contracts.events import Envelope
from contracts.subjects import Subjects
from notifications.domain.access import Notices, Offer, access_notices, concerned, offer_before
from notifications.domain.audience import task_role
from parcours.eventstore import EventStore

log = structlog.get_logger("notifications.access")


async def offer_of(conn: asyncpg.Connection, env: Envelope) -> Offer | None:
    if not isinstance(env.data, UnscheduledCareAccepted | UnscheduledCareEscalated):
        return None
    stored = await EventStore(conn).read_stream(env.stream, conn=conn)
    return offer_before((e.envelope() for e in stored), env.data.request_id, env.event_id)


async def directory_roles(conn: asyncpg.Connection, cpts: str, rpps: list[str]) -> dict[str, str]:
    """RPPS -> the role her subject carries, for the active professionals among ``rpps``."""
    if not rpps:
        return {}
    rows = await conn.fetch(
        """SELECT rpps, role, specialty FROM directory_professionals
           WHERE cpts = $1 AND rpps = ANY($2::text[]) AND active""",
        cpts,
        rpps,
    )
    return {r["rpps"]: task_role(r["role"], r["specialty"]) for r in rows}


async def notices(conn: asyncpg.Connection, env: Envelope, subjects: Subjects) -> Notices:
    offer = await offer_of(conn, env)
    if isinstance(env.data, UnscheduledCareAccepted) and offer is None:
        log.warning("accept of an unknown unscheduled-care request", event_id=str(env.event_id))
    roles = await directory_roles(conn, env.cpts, concerned(env, offer))
    found = access_notices(env, offer, roles, subjects)
    if found.not_in_directory:  # counted, never named
        log.warning(
            "offered professionals not in the directory",
            event_id=str(env.event_id),
            type=env.type,
            count=found.not_in_directory,
        )
    return found
