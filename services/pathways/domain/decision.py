"""A decision in progress, and what ``decide`` returns.

Handlers ``emit`` events one at a time; each is folded into ``state`` at once so
that later steps of the same decision see its effect (a task scheduled, then
completed by a fact already in the record). Recording a fact puts the fact
itself first (``record``); what is emitted after it follows from it.
"""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

import msgspec

from contracts.base import EventPayload
from pathways.domain.commands import DecideContext
from pathways.domain.protocol import Protocol
from pathways.domain.state import EnrolmentState, PatientState, evolve


class DecidedEvent(msgspec.Struct, frozen=True, gc=False):
    """One event of a decision.

    ``event_id``: the id the command chose (a reported fact's own id), else None
    (the writer gives it a new one). ``caused_by``: the recorded fact this event
    follows from, else None (the command's actor decided it)."""

    payload: EventPayload
    event_id: UUID | None = None
    caused_by: UUID | None = None


class Decided(NamedTuple):
    """The events of a decision, in order, and the state they lead to."""

    events: list[DecidedEvent]
    state: PatientState

    @property
    def payloads(self) -> list[EventPayload]:
        return [e.payload for e in self.events]


class Decision:
    def __init__(self, state: PatientState, ctx: DecideContext) -> None:
        self.state = state
        self.ctx = ctx
        self.events: list[DecidedEvent] = []
        self.current_fact: UUID | None = None  # the fact being recorded, if any

    def record(self, fact: EventPayload, event_id: UUID) -> None:
        """The command's own fact: stored under its id; what follows is caused by it."""
        self.events.append(DecidedEvent(fact, event_id))
        self.state = evolve(self.state, fact, event_id)
        self.current_fact = event_id

    def emit(self, event: EventPayload) -> None:
        self.events.append(DecidedEvent(event, None, self.current_fact))
        self.state = evolve(self.state, event)

    def new_id(self) -> UUID:
        return self.ctx.new_id()

    def protocol_of(self, enrolment: EnrolmentState) -> Protocol:
        return self.ctx.catalog.get(enrolment.protocol, enrolment.version)
