"""One HL7 message in, one ACK out, after the facts are committed (original mode).

1. The message is written to ``hl7_messages`` before anything else (without
   waiting for the disk: until its ACK is sent, the sender still holds it). A message already answered (same CPTS, MSH-3,
   MSH-4, MSH-10) gets its stored ACK again and nothing is written. The row is
   claimed while it is processed (``message_log.claimed``): the same message given
   to another listener at once waits for the claim, then answers the stored ACK.
2. It is mapped (pure, ``hl7.pam``); AR for what we do not take, AE (and the
   quarantine, replayable) for what cannot be read.
3. The patient: a qualified INS links the hospital's IPP to it; a message
   without one finds the INS its IPP was linked to; a patient known by IPP only
   has its message held until a later message qualifies the identity, then the
   held messages are recorded, in order.
4. Facts go through ``FactRecorder`` (the write path of ``POST /v1/facts``) with
   event ids derived from the message key, so a message processed twice (a
   crash between the commit and the ACK, a re-send) stores its facts once.
5. The outcome and the ACK are written; the ACK is sent.

A failure to reach PostgreSQL answers AR (HL7 original mode: "unable to process
for reasons unrelated to content", error 207) and leaves the message to be sent
again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import structlog

from contracts.events import Actor
from contracts.identity import PatientIdentity
from contracts.roles import Role
from parcours.auth import Principal
from parcours.clock import Clock
from parcours.eventstore import DuplicateEventError
from parcours.problems import Problem
from pathways.interop import message_log as db
from pathways.interop.fact_recorder import FactRecorder, InvalidFactError, inbound_body
from pathways.interop.hl7.ack import build_ack
from pathways.interop.hl7.message import Hl7Message, Hl7ParseError, decode, parse
from pathways.interop.hl7.pam import MappedMessage, map_message
from pathways.interop.hl7.problems import (
    APPLICATION_ERROR,
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    ErrorLocation,
    Hl7Problem,
    MessageInError,
    MessageRejected,
)
from pathways.interop.settings import MllpSettings
from pathways.record_merge import RecordMerge
from pathways.streams import Origin

log = structlog.get_logger("pathways.hl7")
EVENT_IDS = uuid.UUID("5f0b6f5e-2f43-4b8e-9a53-6c1d0f7a9e21")  # namespace of HL7 fact ids
# where a field refused by the fact checks came from, for the ERR segment
FIELD_SOURCES = {
    "discharged_at": ErrorLocation("PV1", 1, 45),
    "admitted_at": ErrorLocation("PV1", 1, 44),
    "died_at": ErrorLocation("PID", 1, 29),
    "finess": ErrorLocation("MSH", 1, 4, 2),
}


class Hl7Intake:
    def __init__(  # type: ignore[no-untyped-def]
        self,
        pool,
        recorder: FactRecorder,
        clock: Clock,
        settings: MllpSettings,
        merge: RecordMerge | None = None,
    ):
        self.pool, self.recorder, self.clock, self.settings = pool, recorder, clock, settings
        self.merge = merge
        # a claim holds a connection while processing takes others: at most half the pool
        self._claims = asyncio.Semaphore(max(1, pool.get_max_size() // 2))

    async def handle(self, data: bytes) -> bytes:
        """The ACK for one message (its MLLP payload); raises only when PostgreSQL fails,
        and then the caller answers ``unavailable``."""
        now = await self.clock.now()
        text = decode(data)
        cpts = self.settings.cpts
        try:
            message = parse(text)
        except Hl7ParseError as exc:
            row, _ = await db.receive(self.pool, db.MessageKey(cpts, "", "", None), None, text)
            where = ErrorLocation(exc.segment, exc.sequence, exc.field)
            problem = MessageRejected(REQUIRED_FIELD_MISSING, exc.reason, where)
            return await self._answer(row, None, problem, now)
        msh = message.msh
        key = db.MessageKey(cpts, msh.value(3), msh.value(4), msh.value(10) or None)
        if key.control_id is None:
            row, _ = await db.receive(self.pool, key, msh.value(9, 2), text)
            problem = MessageRejected(
                REQUIRED_FIELD_MISSING,
                "MSH-10 (message control id) is required",
                ErrorLocation("MSH", 1, 10),
            )
            return await self._answer(row, message, problem, now)
        row, new = await db.receive(self.pool, key, msh.value(9, 2), text)
        if not new and row.ack is not None:
            log.info("hl7.duplicate", message_id=row.id, trigger=row.trigger)
            return row.ack.encode()
        async with self._claims, db.claimed(self.pool, row.id) as current:
            if current.ack is not None:  # answered by another listener while we waited
                log.info("hl7.duplicate", message_id=row.id, trigger=row.trigger)
                return current.ack.encode()
            return await self.process(current, message, now)

    async def replay(self, message_id: int) -> bytes:
        """Map and record a stored message again (quarantined, once its cause is fixed)."""
        row = await db.by_id(self.pool, message_id)
        if row is None or row.content is None:
            raise LookupError(f"message {message_id} is not stored or its content was purged")
        return await self.process(row, parse(row.content), await self.clock.now())

    async def process(self, row: db.StoredMessage, message: Hl7Message, now: dt.datetime) -> bytes:
        profile = self.settings.profile(row.application, row.facility)
        try:
            mapped = map_message(message, profile)
            return await self._apply(row, message, mapped, now)
        except Hl7Problem as problem:
            return await self._answer(row, message, problem, now)

    async def _apply(
        self, row: db.StoredMessage, message: Hl7Message, mapped: MappedMessage, now: dt.datetime
    ) -> bytes:
        cpts, patient = self.settings.cpts, mapped.patient
        ipp = (patient.ipp_authority or row.facility, patient.ipp) if patient.ipp else None
        identity = patient.identity
        note, merged_into = mapped.note, None
        if ipp and mapped.prior_ipp:
            merged_into = await self._relink(cpts, ipp, mapped.prior_ipp, now, identity, row)
            if merged_into is not None:
                note = f"merge: {merged_into[1]}"
        if identity is not None and ipp:
            # messages are held only while an IPP has no link: release them when it gets one
            if await db.linked_ins(self.pool, cpts, *ipp) != (identity.ins, identity.oid):
                await db.link(self.pool, cpts, *ipp, identity.ins, identity.oid)
                for held in await db.held_for(self.pool, cpts, *ipp):
                    if held.id != row.id and held.content:
                        await self._release(held, identity, now)
        elif identity is None and ipp:
            linked = await db.linked_ins(self.pool, cpts, *ipp)
            if linked is not None:
                identity = PatientIdentity(ins=linked[0], oid=linked[1])
        if identity is None and ipp is None and (mapped.facts or mapped.cancels):
            raise MessageInError(
                REQUIRED_FIELD_MISSING,
                "PID-3 needs the IPP (type PI) when the identity is not qualified",
                ErrorLocation("PID", 1, 3),
            )
        if identity is None and (mapped.facts or mapped.cancels):
            reason = "known by IPP only: recorded once a message qualifies the identity (INS)"
            return await self._finish(row, message, "held", reason, now, ipp=ipp)
        if mapped.cancels:
            reason = (
                f"cancel {mapped.cancels} received; Parcours does not retract it automatically: "
                "the coordinator reviews the enrolment"
            )
            stream = await db.patient_stream(self.pool, cpts, identity.ins)
            return await self._finish(
                row, message, "quarantined", reason, now, stream=stream, ipp=ipp
            )
        if identity is None or not mapped.facts:
            stream = merged_into[0] if merged_into else None
            return await self._finish(row, message, "accepted", note, now, stream=stream, ipp=ipp)
        return await self._record(row, mapped, identity, now, mapped.note, message, ipp)

    async def _record(
        self,
        row: db.StoredMessage,
        mapped: MappedMessage,
        identity: PatientIdentity,
        now: dt.datetime,
        note: str,
        message: Hl7Message | None = None,
        ipp: tuple[str, str] | None = None,
    ) -> bytes:
        principal = Principal(
            sub=f"hl7:{row.application}@{row.facility}"[:128],
            role=Role.DISCHARGE_SYSTEM,
            cpts=self.settings.cpts,
        )
        stream = None
        for index, payload in enumerate(mapped.facts):
            event_id = uuid.uuid5(
                EVENT_IDS,
                f"{self.settings.cpts}|{row.application}|{row.facility}|{row.control_id}|{index}",
            )
            try:
                body = inbound_body(payload, identity, event_id)
            except InvalidFactError as exc:
                where = FIELD_SOURCES.get(exc.field.split(".")[0], ErrorLocation())
                raise MessageInError(DATA_TYPE_ERROR, exc.reason, where) from None
            try:
                accepted = await self.recorder.record(principal, body, f"hl7-{row.id}", now)
            except Problem as exc:
                where = FIELD_SOURCES.get((exc.field or "").rsplit(".", 1)[-1], ErrorLocation())
                raise MessageInError(APPLICATION_ERROR, exc.detail, where) from None
            except DuplicateEventError:
                raise MessageInError(
                    APPLICATION_ERROR,
                    "this MSH-10 was already used for a different message from this sender",
                    ErrorLocation("MSH", 1, 10),
                ) from None
            stream = accepted.stream
        parsed = message if message is not None else parse(row.content or "")
        return await self._finish(
            row, parsed, "accepted", note, now, facts=len(mapped.facts), stream=stream, ipp=ipp
        )

    async def _release(
        self, held: db.StoredMessage, identity: PatientIdentity, now: dt.datetime
    ) -> None:
        """Record a message held for its identity; its own problem quarantines it alone."""
        message = parse(held.content or "")
        try:
            later = map_message(message, self.settings.profile(held.application, held.facility))
            await self._record(
                held, later, identity, now, "linked to a qualified identity", message
            )
        except Hl7Problem as problem:
            await self._answer(held, message, problem, now)

    async def _relink(
        self,
        cpts: str,
        ipp: tuple[str, str],
        prior: str,
        now: dt.datetime,
        identity: PatientIdentity | None,
        row: db.StoredMessage,
    ) -> tuple[str, str] | None:
        """A47 / A40: what was known under the prior IPP follows the new one. When the
        prior IPP was another patient record (another INS), its open tasks move to the
        surviving record: (the surviving stream, what moved), else None."""
        authority, current = ipp
        prior_link = await db.linked_ins(self.pool, cpts, authority, prior)
        await db.rename_ipp(self.pool, cpts, authority, prior, current)
        linked = await db.linked_ins(self.pool, cpts, *ipp)
        if linked is None:
            linked = await db.linked_ins(self.pool, cpts, authority, prior)
            if linked is not None:
                await db.link(self.pool, cpts, authority, current, *linked)
        if linked is not None:  # messages held under the prior IPP can be recorded now
            identity = PatientIdentity(ins=linked[0], oid=linked[1])
            for held in await db.held_for(self.pool, cpts, *ipp):
                await self._release(held, identity, now)
        surviving = identity.ins if identity is not None else (linked[0] if linked else None)
        if prior_link is None or surviving is None or prior_link[0] == surviving:
            return None
        return await self._merge_records(cpts, prior_link[0], surviving, row, now)

    async def _merge_records(
        self,
        cpts: str,
        merged_ins: str,
        surviving_ins: str,
        row: db.StoredMessage,
        now: dt.datetime,
    ) -> tuple[str, str] | None:
        merged = await db.patient_stream(self.pool, cpts, merged_ins)
        surviving = await db.patient_stream(self.pool, cpts, surviving_ins)
        if merged is None or surviving is None or self.merge is None:
            return None  # nothing recorded under one of them: no work to move
        origin = Origin(
            cpts=cpts,
            actor=Actor(
                id=f"hl7:{row.application}@{row.facility}"[:128], role=Role.DISCHARGE_SYSTEM
            ),
            correlation_id=f"hl7-{row.id}",
            occurred_at=now,
        )
        done = await self.merge.merge(merged, surviving, origin, now)
        log.info("hl7.merged", message_id=row.id, moved=done.moved, duplicates=done.duplicates)
        return surviving, f"{done.moved} open tasks moved, {done.duplicates} duplicates cancelled"

    async def _finish(
        self,
        row: db.StoredMessage,
        message: Hl7Message | None,
        outcome: str,
        reason: str,
        now: dt.datetime,
        *,
        facts: int = 0,
        stream: str | None = None,
        ipp: tuple[str, str] | None = None,
    ) -> bytes:
        ack = build_ack("AA", answered=message, control_id=f"ACK{row.id}", now=now, text=reason)
        await db.decide(
            self.pool,
            row.id,
            outcome=outcome,
            ack_code="AA",
            ack=ack,
            reason=reason,
            facts=facts,
            stream=stream,
            ipp=ipp,
        )
        log.info(
            "hl7.accepted", message_id=row.id, trigger=row.trigger, outcome=outcome, facts=facts
        )
        return ack.encode()

    async def _answer(
        self,
        row: db.StoredMessage,
        message: Hl7Message | None,
        problem: Hl7Problem,
        now: dt.datetime,
    ) -> bytes:
        code = problem.acknowledgement
        ack = build_ack(code, answered=message, control_id=f"ACK{row.id}", now=now, problem=problem)
        outcome = "rejected" if code == "AR" else "quarantined"
        reason = f"{problem.location}: {problem.reason}"
        await db.decide(self.pool, row.id, outcome=outcome, ack_code=code, ack=ack, reason=reason)
        log.info(
            "hl7.refused",
            message_id=row.id,
            ack=code,
            where=str(problem.location),
            reason=problem.reason,
        )
        return ack.encode()


def unavailable(data: bytes, now: dt.datetime) -> bytes:
    """AR for a message we could not store (PostgreSQL unreachable, shutting down):
    nothing was written; the sender should send it again."""
    try:
        message: Hl7Message | None = parse(decode(data))
    except Hl7ParseError:
        message = None
    problem = MessageRejected(
        APPLICATION_ERROR,
        "Parcours could not record the message now; send it again",
        ErrorLocation(),
    )
    return build_ack("AR", answered=message, control_id="ACK0", now=now, problem=problem).encode()
