"""The one write path for patient streams.

Every writer of the pathways service (a single fact, the group commit, a batch,
the timers, an enrolment, a task command, a protocol migration) hands
``PatientStreams.write`` the commands it wants decided on one or many streams;
this module does the rest, the same way for all of them:

1. load each stream's state: the cached state (``StateCache``) fast-forwarded
   with the events stored after its version, one query for many streams;
2. decide each command in order with the domain's one entry point
   (``pathways.domain.decide``), each on the state the previous one left;
3. wrap what was decided into ``NewEvent`` envelopes (``wrap``: the only place);
4. append, one statement for one stream or many, each stream at the version
   its decisions were made on;
5. a stream that another writer moved meanwhile (``VersionConflictError``) is
   reloaded from the version it was decided on and decided again, up to
   ``MAX_ATTEMPTS`` times.

A write marked ``isolated`` (the timers') does not fail the others: a stream whose
stored events cannot be folded (``UnfoldableEventError``) or whose commands raise
something other than a refusal is set aside (``set_aside``), nothing is appended
to it, and the other streams are written.

States of committed appends go into the cache, so the next writer of a stream
(the scheduler firing its timers, most often) folds only what is new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from contracts.events import Actor, NewEvent
from parcours.eventstore import (
    AppendRequest,
    AppendResult,
    EventStore,
    EventStoreError,
    VersionConflictError,
)
from pathways.domain import (
    AccessPolicy,
    DecideContext,
    DecidedEvent,
    DomainError,
    PatientState,
    ProtocolCatalog,
    decide,
)
from pathways.fastids import new_uuid4
from pathways.state_cache import EMPTY, StateCache, UnfoldableEventError, fold_rows

SYSTEM = Actor(id="parcours-pathways", role="service")  # the actor of what a fact causes
MAX_ATTEMPTS = 8


class Origin(msgspec.Struct, frozen=True, gc=False):
    """Where the events of one command come from: the envelope they share."""

    cpts: str
    actor: Actor
    correlation_id: str
    occurred_at: dt.datetime
    causation_id: str | None = None


class Outcome(msgspec.Struct):
    """One command's share of a write: its events (from ``offset`` in the stream's
    append), or the domain's refusal."""

    events: list[NewEvent] = []
    offset: int = 0
    refused: DomainError | None = None


class StreamWrite(msgspec.Struct):
    """Commands to decide on one stream, in order, and what became of them.

    ``version``/``state``: what the decisions are made on (``loaded`` once read).
    ``before``: a statement appended with the events (a new patient's identity row).
    After ``PatientStreams.write``: ``outcomes`` (one per command), ``result`` (the
    append's, or the store's refusal; None when nothing was decided), ``after``
    (the state the events lead to), and for an ``isolated`` write that could not be
    folded or decided, ``set_aside`` (the error; nothing decided nor appended)."""

    stream: str
    commands: list[tuple[object, Origin]]
    version: int = 0
    state: PatientState = EMPTY
    loaded: bool = False
    decided: bool = False
    before: tuple[str, Sequence[Any]] | None = None
    outcomes: list[Outcome] = []
    events: list[NewEvent] = []
    after: PatientState | None = None
    result: AppendResult | EventStoreError | None = None
    isolated: bool = False
    set_aside: Exception | None = None

    @property
    def written(self) -> bool:
        return isinstance(self.result, AppendResult) and not self.result.duplicate

    def version_after(self, outcome: Outcome) -> int:
        """The stream version once a command's events are stored."""
        return self.version + outcome.offset + len(outcome.events)

    def only(self) -> list[NewEvent]:
        """The one command's events; its refusal or the store's is raised."""
        outcome = self.outcomes[0]
        if outcome.refused is not None:
            raise outcome.refused
        if isinstance(self.result, EventStoreError):
            raise self.result
        return outcome.events


class PatientStreams:
    """The repository of patient streams (see the module's docstring)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        catalog: ProtocolCatalog,
        cache: StateCache | None = None,
        access_policy: AccessPolicy | None = None,
    ) -> None:
        self.pool, self.catalog, self.access_policy = pool, catalog, access_policy
        self.cache = cache if cache is not None else StateCache()

    def context(self, now: dt.datetime) -> DecideContext:
        return DecideContext(
            now=now, new_id=new_uuid4, catalog=self.catalog, access_policy=self.access_policy
        )

    # -- loading ------------------------------------------------------------------------

    def seed(self, w: StreamWrite, rows: Sequence[asyncpg.Record]) -> None:
        """Load ``w`` from rows already read (its whole stream, by version): the cached
        state is used when it is not ahead of them, and only what follows it is folded."""
        last = rows[-1]["version"] if rows else 0
        cached = self.cache.get(w.stream)
        base = cached if cached[0] <= last else (0, EMPTY)
        w.version, w.state = fold_rows(base, rows)
        w.loaded = True

    async def load(self, writes: Sequence[StreamWrite], conn: Any = None) -> None:
        """Load every write not loaded yet: from its own version (a reload after a
        conflict) or the cached state, plus what is stored after it (one query)."""
        todo = [w for w in writes if not w.loaded]
        if not todo:
            return
        for w in todo:
            if w.version == 0:
                w.version, w.state = self.cache.get(w.stream)
        rows = await EventStore(conn or self.pool).read_streams_after(
            [w.stream for w in todo], [w.version for w in todo], conn=conn
        )
        by_stream: dict[str, list[asyncpg.Record]] = {}
        for r in rows:
            by_stream.setdefault(r["stream"], []).append(r)
        for w in todo:
            try:
                w.version, w.state = fold_rows((w.version, w.state), by_stream.get(w.stream, ()))
            except UnfoldableEventError as exc:
                if not w.isolated:
                    raise
                w.set_aside, w.decided = exc, True  # nothing to decide on
            w.loaded = True

    # -- deciding -----------------------------------------------------------------------

    def wrap(self, decided: Sequence[DecidedEvent], origin: Origin) -> list[NewEvent]:
        """Envelopes for decided events. An event caused by a recorded fact is the
        service's (actor ``SYSTEM``, causation: the fact); the others are the command's."""
        out: list[NewEvent] = []
        cause, cause_text = None, None
        for e in decided:
            if e.caused_by is None:
                actor, causation = origin.actor, origin.causation_id
            else:
                if e.caused_by is not cause:  # the same object for all a fact causes
                    cause, cause_text = e.caused_by, str(e.caused_by)
                actor, causation = SYSTEM, cause_text
            out.append(
                NewEvent(
                    event_id=e.event_id or new_uuid4(),
                    data=e.payload,
                    occurred_at=origin.occurred_at,
                    correlation_id=origin.correlation_id,
                    causation_id=causation,
                    actor=actor,
                    cpts=origin.cpts,
                )
            )
        return out

    def decide(self, w: StreamWrite, ctx: DecideContext) -> None:
        """Decide ``w``'s commands in order, each on the state the previous one left
        (``write`` does it; a bulk writer may decide first to size its appends)."""
        state = w.state
        w.outcomes, w.events, w.result, w.decided = [], [], None, True
        for command, origin in w.commands:
            try:
                decided = decide(command, state, ctx)
            except DomainError as exc:
                w.outcomes.append(Outcome(refused=exc))
                continue
            events = self.wrap(decided.events, origin)
            w.outcomes.append(Outcome(events, len(w.events)))
            w.events += events
            state = decided.state
        w.after = state

    # -- writing ------------------------------------------------------------------------

    async def write(
        self, writes: Sequence[StreamWrite], now: dt.datetime, *, conn: Any = None
    ) -> None:
        """Load, decide, wrap and append ``writes``; a stream another writer moved is
        reloaded and decided again. Each write gets its outcomes and result. Inside a
        caller's transaction (``conn``), each append runs under a savepoint, and the
        caller calls ``remember`` once it has committed."""
        if conn is None:
            async with self.pool.acquire() as own:
                await self._write(writes, now, own)
            self.remember(writes)
        else:
            await self._write(writes, now, conn)
            if not conn.is_in_transaction():
                self.remember(writes)

    async def _write(
        self, writes: Sequence[StreamWrite], now: dt.datetime, conn: asyncpg.Connection
    ) -> None:
        store = EventStore(conn)
        ctx = self.context(now)
        pending = sorted(writes, key=lambda w: w.stream)  # one order: no deadlock cycle
        for _attempt in range(MAX_ATTEMPTS):
            await self.load(pending, conn)
            for w in pending:
                if not w.decided:
                    try:
                        self.decide(w, ctx)
                    except Exception as exc:
                        if not w.isolated:
                            raise
                        w.set_aside, w.events, w.after = exc, [], None
            appending = [w for w in pending if w.events]
            if len(appending) == 1 and len(pending) == 1:
                w = appending[0]
                try:
                    w.result = await store.append(
                        w.stream, w.version, w.events, conn=conn, before=w.before
                    )
                except EventStoreError as exc:
                    w.result = exc
            elif appending:
                if any(w.before is not None for w in appending):
                    raise ValueError("a statement runs with the append of one stream only")
                results = await store.append_many(
                    [AppendRequest(w.stream, w.version, w.events) for w in appending], conn=conn
                )
                for w, result in zip(appending, results, strict=True):
                    w.result = result
            pending = [w for w in appending if isinstance(w.result, VersionConflictError)]
            if not pending:
                return
            for w in pending:  # from the version it was decided on, plus what came since
                w.loaded = w.decided = False

    def remember(self, writes: Sequence[StreamWrite]) -> None:
        """Cache the states of committed writes (and of streams loaded for nothing)."""
        for w in writes:
            if w.written and w.after is not None:
                self.cache.put(w.stream, w.result.version, w.after)  # type: ignore[union-attr]
            elif w.result is None and w.loaded and w.set_aside is None:
                self.cache.put(w.stream, w.version, w.state)

    async def read_state(self, stream: str, *, conn: Any = None) -> PatientState:
        """A stream's current state (cached, fast-forwarded), for reads."""
        w = StreamWrite(stream, [])
        await self.load([w], conn)
        self.cache.put(stream, w.version, w.state)
        return w.state

    async def execute(
        self, stream: str, command: object, origin: Origin, now: dt.datetime
    ) -> list[NewEvent]:
        """One command on a stream known by name (task commands, migrations): its events,
        or the domain's refusal raised."""
        w = StreamWrite(stream, [(command, origin)])
        await self.write([w], now)
        return w.only()
