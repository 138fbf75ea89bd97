"""A decision in progress: the events decided so far and the state they lead to.

Handlers ``emit`` events one at a time; each is folded into ``state`` at once so
that later steps of the same decision see its effect (a task scheduled, then
completed by a fact already in the record).
"""

from __future__ import annotations

from uuid import UUID

from contracts.base import EventPayload
from pathways.domain.commands import DecideContext
from pathways.domain.protocol import Protocol
from pathways.domain.state import EnrolmentState, PatientState, evolve


class Decision:
    def __init__(self, state: PatientState, ctx: DecideContext) -> None:
        self.state = state
        self.ctx = ctx
        self.events: list[EventPayload] = []
        self.current_fact: UUID | None = None  # the fact being recorded, if any

    def emit(self, event: EventPayload) -> None:
        self.events.append(event)
        self.state = evolve(self.state, event)

    def new_id(self) -> UUID:
        return self.ctx.new_id()

    def protocol_of(self, enrolment: EnrolmentState) -> Protocol:
        return self.ctx.catalog.get(enrolment.protocol, enrolment.version)
