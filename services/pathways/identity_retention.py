"""The identity retention policy: a patient's identity row is erased N years after the
patient's last event (``PARCOURS_IDENTITY_RETENTION_YEARS``, default 20), judged on the
service clock (virtual in simulations). Erasure is the same as ``DELETE
/v1/patients/identity``: the row goes, the HL7 message log forgets the patient, the
events stay, no longer identifying.

``parcours identities retention [--dry-run]`` runs it (a cron job in production).
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import structlog

from contracts.events import patient_of_stream
from parcours.eventstore import EventStore
from pathways.interop.message_log import erase_patient as erase_hl7_messages

log = structlog.get_logger("pathways.identity")


def retention_limit(now: dt.datetime, years: int) -> dt.datetime:
    """The instant before which a patient's last event makes the identity expire."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


async def erase_expired_identities(
    pool: asyncpg.Pool, now: dt.datetime, years: int, *, dry_run: bool = False
) -> list[tuple[str, uuid.UUID]]:
    """Erase (or, ``dry_run``, list) the identities whose patient's last event is more than
    ``years`` years before ``now``; ``(cpts, patient_id)`` of each."""
    limit = retention_limit(now, years)
    async with pool.acquire() as conn, conn.transaction():
        quiet = await EventStore(conn).streams_quiet_since(limit)
        keys = [(cpts, pid) for cpts, stream, _ in quiet if (pid := patient_of_stream(stream))]
        if not keys:
            return []
        cpts_list, ids = [k[0] for k in keys], [k[1] for k in keys]
        if dry_run:
            rows = await conn.fetch(
                """SELECT cpts, patient_id FROM patient_identities
                   WHERE (cpts, patient_id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))
                   ORDER BY cpts, patient_id""",
                cpts_list,
                ids,
            )
            return [(r["cpts"], r["patient_id"]) for r in rows]
        rows = await conn.fetch(
            """DELETE FROM patient_identities
               WHERE (cpts, patient_id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))
               RETURNING cpts, patient_id, ins""",
            cpts_list,
            ids,
        )
        for r in rows:
            await erase_hl7_messages(conn, r["cpts"], f"patient-{r['patient_id']}", r["ins"])
    log.info("identities erased by the retention policy", count=len(rows), years=years)
    return sorted((r["cpts"], r["patient_id"]) for r in rows)
