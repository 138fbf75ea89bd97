"""Declarations of professionals on their own stream, ``professional-<cpts>-<rpps>``.

A GP's capacity (``GPCapacityDeclared``) and a professional's unscheduled-care slots
(``SNPSlotsDeclared``) are declarations, not decisions on a patient: no patient
stream is written, so they are appended here through the event store (optimistic, at
the version read; a conflict reads again). Slots are also kept in ``snp_slots``, in
the same transaction, for the SNP request's edge to read whom to offer it to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request

from contracts.access import SNPSlotsDeclared
from contracts.base import EventPayload
from contracts.events import NewEvent
from parcours.eventstore import EventStore, VersionConflictError
from pathways.api.origin import request_origin
from pathways.fastids import new_uuid4

ATTEMPTS = 5
_UPSERT_SLOTS = """INSERT INTO snp_slots (cpts, professional, day, zone, role, slots)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (cpts, day, zone, professional) DO UPDATE SET slots = EXCLUDED.slots,
    role = EXCLUDED.role"""


def professional_stream(cpts: str, rpps: str) -> str:
    return f"professional-{cpts}-{rpps}"


async def append_declaration(
    runtime: Any, request: Request[Any, Any, Any], rpps: str, event: EventPayload, now: dt.datetime
) -> tuple[str, int]:
    origin = request_origin(request, now)
    stream = professional_stream(origin.cpts, rpps)
    new = NewEvent(
        event_id=new_uuid4(),
        data=event,
        occurred_at=now,
        correlation_id=origin.correlation_id,
        actor=origin.actor,
        cpts=origin.cpts,
    )
    async with runtime.resources.pool.acquire() as conn:
        store = EventStore(conn)
        for attempt in range(ATTEMPTS):
            try:
                async with conn.transaction():
                    version = await store.stream_version(stream, conn=conn)
                    result = await store.append(stream, version, [new], conn=conn)
                    if isinstance(event, SNPSlotsDeclared):
                        await conn.execute(
                            _UPSERT_SLOTS,
                            origin.cpts,
                            event.professional,
                            event.day,
                            event.zone,
                            event.role,
                            event.slots,
                        )
                return stream, result.version
            except VersionConflictError:
                if attempt == ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")
