"""Every change of a directory entry is also recorded as a ``ProfessionalListed`` event on
the CPTS's ``directory-<cpts>`` stream, in the transaction of the change: the relay
carries it, and the projections keep their own copy of the zones (pool access) from it."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from contracts.directory import ProfessionalListed, directory_stream
from contracts.events import Actor, NewEvent
from notifications.directory import Professional
from parcours.auth import Principal
from parcours.eventstore import ANY, EventStore


async def record_listing(
    conn: asyncpg.Connection,
    entry: Professional,
    by: Principal,
    at: dt.datetime,
    correlation_id: str,
) -> None:
    event = NewEvent(
        event_id=uuid.uuid4(),
        data=ProfessionalListed(
            rpps=entry.rpps,
            role=entry.role,
            specialty=entry.specialty,
            zones=list(entry.zones),
            active=entry.active,
        ),
        occurred_at=at,
        correlation_id=correlation_id,
        actor=Actor(id=by.sub, role=by.role),
        cpts=entry.cpts,
    )
    await EventStore(conn).append(directory_stream(entry.cpts), ANY, [event], conn=conn)
