"""The ``hl7_messages`` and ``hl7_patient_links`` tables (see migration 0040).

Every message is written here, committed, before it is mapped; its outcome and
the ACK sent are written after. A message seen again (same CPTS, MSH-3, MSH-4,
MSH-10) with an ACK stored gets that ACK back and nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import msgspec


class MessageKey(msgspec.Struct, frozen=True):
    cpts: str
    application: str
    facility: str
    control_id: str | None


class StoredMessage(msgspec.Struct, frozen=True):
    id: int
    outcome: str
    ack: str | None
    content: str | None
    trigger: str | None
    ipp_authority: str | None
    ipp: str | None
    application: str
    facility: str
    control_id: str | None
    received_at: dt.datetime
    reason: str | None
    stream: str | None = None


_COLUMNS = """id, outcome, ack, content, trigger, ipp_authority, ipp,
    sending_application AS application, sending_facility AS facility, control_id,
    received_at, reason, stream"""


def _stored(row: asyncpg.Record | None) -> StoredMessage | None:
    return None if row is None else StoredMessage(**dict(row))


async def receive(
    pool: asyncpg.Pool, key: MessageKey, trigger: str | None, content: str
) -> tuple[StoredMessage, bool]:
    """The row of this message, and whether it was new (written now).

    The row is committed without waiting for the WAL flush (``synchronous_commit
    off``): it saves one disk flush per message, and losing it in a crash loses
    nothing, since no ACK was sent yet (the sender sends the message again). The
    facts and the outcome that precede an ACK are written durably."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit TO OFF")
        row = await conn.fetchrow(
            f"""INSERT INTO hl7_messages (cpts, sending_application, sending_facility,
                                          control_id, trigger, content)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (cpts, sending_application, sending_facility, control_id) DO NOTHING
                RETURNING {_COLUMNS}""",
            key.cpts,
            key.application,
            key.facility,
            key.control_id,
            trigger,
            content,
        )
        if row is not None:
            return _stored(row), True  # type: ignore[return-value]
        row = await conn.fetchrow(
            f"""SELECT {_COLUMNS} FROM hl7_messages WHERE cpts = $1 AND sending_application = $2
                AND sending_facility = $3 AND control_id = $4""",
            key.cpts,
            key.application,
            key.facility,
            key.control_id,
        )
        return _stored(row), False  # type: ignore[return-value]


CLAIMS = 0x484C37  # the first key of the advisory locks of messages being processed ("HL7")


@contextlib.asynccontextmanager
async def claimed(pool: asyncpg.Pool, message_id: int) -> AsyncIterator[StoredMessage]:
    """Hold the message ``message_id`` while it is processed: another listener given the
    same message (a re-send through another instance, the same message sent twice at
    once) waits here, then finds the stored ACK. The claim is a session advisory lock, so
    a listener that dies while processing lets the next one in at once. Yields the row as
    it is once the claim is held."""
    async with pool.acquire() as conn:
        key = message_id % 2147483647  # the two-int form: keys apart from the leader locks
        await conn.execute("SELECT pg_advisory_lock($1, $2)", CLAIMS, key)
        try:
            yield _stored(
                await conn.fetchrow(  # type: ignore[misc]
                    f"SELECT {_COLUMNS} FROM hl7_messages WHERE id = $1", message_id
                )
            )
        finally:
            try:
                await asyncio.wait_for(
                    conn.execute("SELECT pg_advisory_unlock($1, $2)", CLAIMS, key), 5
                )
            except (Exception, asyncio.CancelledError):
                conn.terminate()  # never back in the pool holding the lock
                raise


async def decide(
    db: asyncpg.Pool | asyncpg.Connection,
    message_id: int,
    *,
    outcome: str,
    ack_code: str,
    ack: str,
    reason: str | None = None,
    facts: int = 0,
    stream: str | None = None,
    ipp: tuple[str, str] | None = None,
) -> None:
    await db.execute(
        """UPDATE hl7_messages SET outcome = $2, ack_code = $3, ack = $4, reason = $5,
               facts = facts + $6, stream = coalesce($7, stream),
               ipp_authority = coalesce($8, ipp_authority), ipp = coalesce($9, ipp),
               decided_at = now()
           WHERE id = $1""",
        message_id,
        outcome,
        ack_code,
        ack,
        reason,
        facts,
        stream,
        ipp[0] if ipp else None,
        ipp[1] if ipp else None,
    )


async def listing(
    db: asyncpg.Pool | asyncpg.Connection, cpts: str, outcome: str, limit: int = 100
) -> list[StoredMessage]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM hl7_messages WHERE cpts = $1 AND outcome = $2 ORDER BY id LIMIT $3",
        cpts,
        outcome,
        limit,
    )
    return [StoredMessage(**dict(r)) for r in rows]


async def by_id(db: asyncpg.Pool | asyncpg.Connection, message_id: int) -> StoredMessage | None:
    return _stored(
        await db.fetchrow(f"SELECT {_COLUMNS} FROM hl7_messages WHERE id = $1", message_id)
    )


async def held_for(
    db: asyncpg.Pool | asyncpg.Connection, cpts: str, authority: str, ipp: str
) -> list[StoredMessage]:
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM hl7_messages WHERE cpts = $1 AND ipp_authority = $2
            AND ipp = $3 AND outcome = 'held' ORDER BY id""",
        cpts,
        authority,
        ipp,
    )
    return [StoredMessage(**dict(r)) for r in rows]


async def linked_ins(
    db: asyncpg.Pool | asyncpg.Connection, cpts: str, authority: str, ipp: str
) -> tuple[str, str] | None:
    row = await db.fetchrow(
        """SELECT ins, ins_oid FROM hl7_patient_links
           WHERE cpts = $1 AND ipp_authority = $2 AND ipp = $3""",
        cpts,
        authority,
        ipp,
    )
    return (row["ins"], row["ins_oid"]) if row else None


async def link(
    db: asyncpg.Pool | asyncpg.Connection, cpts: str, authority: str, ipp: str, ins: str, oid: str
) -> None:
    await db.execute(
        """INSERT INTO hl7_patient_links (cpts, ipp_authority, ipp, ins, ins_oid)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (cpts, ipp_authority, ipp)
           DO UPDATE SET ins = excluded.ins, ins_oid = excluded.ins_oid, linked_at = now()""",
        cpts,
        authority,
        ipp,
        ins,
        oid,
    )


async def rename_ipp(
    db: asyncpg.Pool | asyncpg.Connection, cpts: str, authority: str, old: str, new: str
) -> None:
    """A47 / A40: the messages held under ``old`` now wait under ``new``."""
    await db.execute(
        """UPDATE hl7_messages SET ipp = $4
           WHERE cpts = $1 AND ipp_authority = $2 AND ipp = $3 AND outcome = 'held'""",
        cpts,
        authority,
        old,
        new,
    )


async def purge(db: asyncpg.Pool | asyncpg.Connection, older_than: dt.datetime) -> int:
    """Clear the content of decided messages (accepted, rejected) received before
    ``older_than``; quarantined and held messages keep theirs until replayed."""
    status = await db.execute(
        """UPDATE hl7_messages SET content = NULL
           WHERE content IS NOT NULL AND received_at < $1
             AND outcome IN ('accepted', 'rejected')""",
        older_than,
    )
    return int(status.split()[-1])


async def erase_patient(conn: asyncpg.Connection, cpts: str, stream: str, ins: str) -> None:
    """Identity erasure reaches the message log: the content and IPP of the patient's
    messages are cleared and its IPP links deleted (in the erasure's transaction)."""
    await conn.execute(
        """UPDATE hl7_messages SET content = NULL, ipp = NULL, ipp_authority = NULL
           WHERE cpts = $1 AND (stream = $2 OR (ipp_authority, ipp) IN (
               SELECT ipp_authority, ipp FROM hl7_patient_links WHERE cpts = $1 AND ins = $3))""",
        cpts,
        stream,
        ins,
    )
    await conn.execute("DELETE FROM hl7_patient_links WHERE cpts = $1 AND ins = $2", cpts, ins)


async def patient_stream(db: asyncpg.Pool | asyncpg.Connection, cpts: str, ins: str) -> str | None:
    """The stream of the patient with this INS, when Parcours knows them."""
    patient_id = await db.fetchval(
        "SELECT patient_id FROM patient_identities WHERE cpts = $1 AND ins = $2", cpts, ins
    )
    return f"patient-{patient_id}" if patient_id else None
