"""Group commit for ``POST /v1/facts``: concurrent single facts written together.

Under load, each single fact costs its own identity read, history read, INSERT
and commit. The ``GroupCommit`` of a process lets the first few requests in
flight take that path (``direct_limit``: the lowest latency when the service is
quiet); a request that arrives while that many are being written waits in a
queue instead, and one writer records everything queued with the bulk
machinery of ``POST /v1/facts:batch`` (``batch.record_items``, on the one write
path): one identity resolution with the histories, one multi-stream append, one
commit, for the whole group. While a group is being written the next one gathers, so the group
size follows the load.

Each request keeps its own answer. Items of one patient are decided in arrival
order, each on the state the previous one left, as sequential requests would
be. A fact the group records answers 201 exactly as the single path would
(position of the fact, stream version after its consequences). Anything else
(a re-sent event id, a refusal of the decider, a conflict) is handed back to
the request, which goes through the single path and so gets exactly today's
answer (200, 409, 422 and their problem details); these are rare.

The group is bounded (``max_group``) and a failure of the group (PostgreSQL
unavailable) is every waiting request's failure, mapped to 503 as on the
single path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import msgspec

from contracts.events import NewEvent
from contracts.identity import PatientIdentity
from parcours.auth import Principal
from pathways.batch import ItemResult, record_items
from pathways.batch_body import Item
from pathways.ingest import FactAccepted, append_fact, checked_fact
from pathways.streams import PatientStreams

_SINGLE_PATH = None  # a waiting request's answer meaning: record me through the single path


@dataclass(slots=True)
class _Waiting:
    cpts: str
    identity: PatientIdentity
    fact: NewEvent
    sent_id: bool
    now: dt.datetime
    answer: asyncio.Future[FactAccepted | None]


@dataclass(slots=True)
class _Writer:
    patients: set[tuple[str, str]]  # (cpts, INS) of the facts in its group
    task: asyncio.Task[None] | None = None


class GroupCommit:
    def __init__(
        self,
        streams: PatientStreams,
        *,
        direct_limit: int = 2,
        in_flight: int = 2,
        max_group: int = 2000,
    ) -> None:
        self.streams = streams
        self.direct_limit, self.in_flight, self.max_group = direct_limit, in_flight, max_group
        self.writing = 0  # facts being written: single path, and the group in progress
        self.groups = 0  # groups written, and the facts they held (for tests and benchmarks)
        self.grouped = 0
        self.single = 0  # facts written through the single path
        self._queue: list[_Waiting] = []
        self._writers: list[_Writer] = []

    async def record(
        self, principal: Principal, body: msgspec.Struct, correlation_id: str, now: dt.datetime
    ) -> FactAccepted:
        """Check and record one fact (as ``ingest.record_fact``), alone or in a group."""
        identity, fact = checked_fact(principal, body, correlation_id, now)
        if self.writing < self.direct_limit and not self._queue:
            return await self._single(principal.cpts, identity, fact, now)
        waiting = _Waiting(
            principal.cpts,
            identity,
            fact,
            body.event_id is not None,  # type: ignore[attr-defined]
            now,
            asyncio.get_running_loop().create_future(),
        )
        self._queue.append(waiting)
        self._dispatch()
        accepted = await waiting.answer
        if accepted is _SINGLE_PATH:
            return await self._single(principal.cpts, identity, fact, now)
        return accepted

    async def _single(
        self, cpts: str, identity: PatientIdentity, fact: NewEvent, now: dt.datetime
    ) -> FactAccepted:
        self.writing += 1
        self.single += 1
        try:
            async with self.streams.pool.acquire() as conn:
                return await append_fact(self.streams, conn, cpts, identity, fact, now)
        finally:
            self.writing -= 1

    def _dispatch(self) -> None:
        """Start writing groups from the queue, up to ``in_flight`` at once. A patient with
        facts in a group being written keeps its queued facts for a later group (their
        decisions need the state that group leaves)."""
        while self._queue and len(self._writers) < self.in_flight:
            busy = {key for writer in self._writers for key in writer.patients}
            group: list[_Waiting] = []
            kept: list[_Waiting] = []
            for w in self._queue:
                key = (w.cpts, w.identity.ins.upper())
                if key in busy or len(group) >= self.max_group:
                    kept.append(w)
                else:
                    group.append(w)
            if not group:
                return
            self._queue = kept
            writer = _Writer({(w.cpts, w.identity.ins.upper()) for w in group})
            self._writers.append(writer)
            self.writing += len(group)
            writer.task = asyncio.create_task(self._write_group(group, writer))

    async def _write_group(self, group: list[_Waiting], writer: _Writer) -> None:
        try:
            await self._write(group)
        except BaseException as exc:
            for w in group:
                if not w.answer.done():
                    w.answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.writing -= len(group)
            self.groups += 1
            self.grouped += len(group)
            self._writers.remove(writer)
            self._dispatch()

    async def _write(self, group: list[_Waiting]) -> None:
        by_cpts: dict[str, list[_Waiting]] = {}
        for w in group:
            by_cpts.setdefault(w.cpts, []).append(w)
        for cpts, waiting in by_cpts.items():
            items = [
                Item(index, w.identity.ins.upper(), w.identity, w.fact, w.sent_id)
                for index, w in enumerate(waiting)
            ]
            results: dict[int, ItemResult] = {}
            now = max(w.now for w in waiting)
            versions = await record_items(self.streams, cpts, items, results, now)
            for index, w in enumerate(waiting):
                if w.answer.done():  # the client went away; the fact is recorded all the same
                    continue
                r = results.get(index)
                if r is not None and r.status == 201 and index in versions:
                    w.answer.set_result(
                        FactAccepted(
                            event_id=w.fact.event_id,
                            stream=r.stream or "",
                            position=r.position or 0,
                            version=versions[index],
                            consequences=r.consequences or 0,
                        )
                    )
                else:
                    w.answer.set_result(_SINGLE_PATH)
