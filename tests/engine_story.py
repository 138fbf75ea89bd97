"""The engine -> projections seam for tests: a patient's story played through the pathways
decider on a virtual clock, so that projection tests read what the engine writes.

``Played`` keeps one patient's stream: ``record(fact, at)`` moves the clock to ``at``
(default: the fact's own time), firing on the way, in time order, every timer the written
events set (reminders, overdue checks, the end of the pathway) as the scheduler does, then
records the fact there; ``run(command)`` decides a command now; ``advance(to)`` fires the
timers due up to ``to``. Every event written (facts included) becomes an ``Envelope`` with
its own id, in order: ``cases()``/``outcomes()`` fold them as the projections do (pure), and
``take()`` hands the ones not yet taken to an event store as ``NewEvent``s.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from contracts.base import EventPayload
from contracts.events import Actor, Envelope, NewEvent, patient_stream
from contracts.facts import FACT_TYPES, occurred_at
from contracts.indicators import load_protocol_indicators
from pathways.domain import (
    DecideContext,
    FireTimer,
    PatientState,
    ProtocolCatalog,
    RecordFact,
    Timer,
    decide,
    evolve,
    timers_cancelled_by,
    timers_for,
)
from projections.domain.cases import Catalog, Outcome, PatientCases
from projections.domain.cases import evolve as fold_case
from projections.domain.cases import outcomes as judge_cases

PROTOCOLS = Path(__file__).resolve().parents[1] / "services" / "pathways" / "protocols"
CATALOG = ProtocolCatalog.load_dir(PROTOCOLS)
INDICATORS = Catalog(load_protocol_indicators(PROTOCOLS))
ENGINE = Actor(id="engine", role="service")
HOSPITAL = ("hospital-dpi", "discharge-system")


class Played:
    def __init__(
        self,
        start: dt.datetime,
        cpts: str = "demo",
        patient_id: uuid.UUID | None = None,
        zone: str | None = None,
    ) -> None:
        self.now, self.cpts, self.zone = start, cpts, zone
        self.patient = patient_id or uuid.uuid4()
        self.state = PatientState()
        self.timers: dict[str, Timer] = {}
        self.envelopes: list[Envelope] = []
        self.taken = 0

    # --- writing, as the pathways service does ----------------------------------------------

    def _write(self, event: EventPayload, event_id: uuid.UUID | None = None) -> None:
        self.state = evolve(self.state, event, event_id)
        tag = event.__struct_config__.tag
        self.envelopes.append(
            Envelope(
                event_id=event_id or uuid.uuid4(),
                stream=patient_stream(self.patient),
                version=len(self.envelopes) + 1,
                type=tag,
                occurred_at=occurred_at(event) if tag in FACT_TYPES else self.now,
                recorded_at=self.now,
                cpts=self.cpts,
                correlation_id="engine-story",
                actor=ENGINE,
                data=event,
            )
        )
        for timer in timers_for(event):
            self.timers[timer.key] = timer
        if (task_id := timers_cancelled_by(event)) is not None:
            self.timers = {k: t for k, t in self.timers.items() if t.task_id != task_id}

    def run(self, command: object) -> list[EventPayload]:
        ctx = DecideContext(now=self.now, new_id=uuid.uuid4, catalog=CATALOG)
        events = decide(command, self.state, ctx)
        if isinstance(command, RecordFact):
            self._write(command.fact, command.event_id)
        for event in events:
            self._write(event)
        return events

    def advance(self, to: dt.datetime) -> None:
        """Fire every timer due up to ``to`` in time order, as the scheduler would."""
        while due := [t for t in self.timers.values() if t.fire_at <= to]:
            timer = min(due, key=lambda t: t.fire_at)
            del self.timers[timer.key]
            self.now = max(self.now, timer.fire_at)
            self.run(FireTimer(timer=timer))
        self.now = max(self.now, to)

    def record(
        self, fact: EventPayload, at: dt.datetime | None = None, actor=HOSPITAL
    ) -> uuid.UUID:
        """Record ``fact`` at ``at`` (default: its own time); returns the fact's event id."""
        self.advance(at or occurred_at(fact))
        event_id = uuid.uuid4()
        self.run(
            RecordFact(
                event_id=event_id,
                fact=fact,
                zone=self.zone,
                actor_id=actor[0],
                actor_role=actor[1],
            )
        )
        return event_id

    def events(self, cls: type | None = None) -> list[EventPayload]:
        return [e.data for e in self.envelopes if cls is None or isinstance(e.data, cls)]

    @property
    def stream(self) -> str:
        return patient_stream(self.patient)

    def take(self) -> list[NewEvent]:
        """The events written since the last ``take``, for ``EventStore.append``."""
        out = [
            NewEvent(
                event_id=e.event_id,
                data=e.data,
                occurred_at=e.occurred_at,
                correlation_id=e.correlation_id,
                actor=e.actor,
                cpts=e.cpts,
            )
            for e in self.envelopes[self.taken :]
        ]
        self.taken = len(self.envelopes)
        return out

    # --- reading, as the projections do (pure) ----------------------------------------------

    def cases(self) -> PatientCases:
        state = PatientCases(cpts=self.cpts, patient_id=self.patient)
        for envelope in self.envelopes:
            state = fold_case(state, envelope)
        return state

    def outcomes(self, enrolment: int = 0) -> dict[str, Outcome]:
        """Code -> outcome for the patient's ``enrolment``-th enrolment (in order)."""
        state = self.cases()
        wanted = state.enrolments[enrolment].enrolment_id
        judged = judge_cases(state, INDICATORS).values()
        return {code: o for enr, code, o in judged if enr.enrolment_id == wanted}

    def read(self, code: str, enrolment: int = 0) -> tuple[str, str | None, int, int]:
        o = self.outcomes(enrolment)[code]
        return o.status, o.reason, o.num, o.den
