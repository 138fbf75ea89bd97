"""The engine -> projections seam, pure: a patient's story played through the pathways
decider on a virtual clock, and the events it wrote folded into the projections' cases.

``Played`` is ``given_when_then.Story`` plus time: ``advance(to)`` fires, in time order,
every timer that the written events set (reminders, overdue checks, the end of the
pathway) as the scheduler would; ``record(fact, at)`` moves the clock to ``at`` (default:
the fact's own time) and records the fact there. Every event written (facts included)
becomes an ``Envelope`` with its own id, in order, so ``outcomes()`` judges exactly what
the engine wrote, with the shipped protocol files on both sides.
"""

from __future__ import annotations

import datetime as dt
import uuid

from given_when_then import NOW, Story

from contracts.base import EventPayload
from contracts.events import Actor, Envelope, patient_stream
from contracts.facts import FACT_TYPES, occurred_at
from contracts.indicators import load_protocol_indicators
from pathways.domain import FireTimer, Timer, timers_cancelled_by, timers_for
from projections.domain.cases import Catalog, Outcome, PatientCases, evolve, outcomes

INDICATORS = Catalog(load_protocol_indicators())


class Played:
    def __init__(self, start: dt.datetime = NOW) -> None:
        self.story = Story(now=start)
        self.now = start
        self.patient = uuid.uuid4()
        self.timers: dict[str, Timer] = {}
        self.envelopes: list[Envelope] = []
        self.fact_ids: dict[str, uuid.UUID] = {}

    # --- writing, as the service does -------------------------------------------------------

    def _written(self, since: int) -> None:
        for event_id, event in self.story.history[since:]:
            tag = event.__struct_config__.tag
            at = occurred_at(event) if tag in FACT_TYPES else self.now
            self.envelopes.append(
                Envelope(
                    event_id=event_id or uuid.uuid4(),
                    stream=patient_stream(self.patient),
                    version=len(self.envelopes) + 1,
                    type=tag,
                    occurred_at=at,
                    recorded_at=self.now,
                    cpts="demo",
                    correlation_id="seam",
                    actor=Actor(id="engine", role="service"),
                    data=event,
                )
            )
            for timer in timers_for(event):
                self.timers[timer.key] = timer
            if (task_id := timers_cancelled_by(event)) is not None:
                self.timers = {k: t for k, t in self.timers.items() if t.task_id != task_id}

    def run(self, command: object) -> list[EventPayload]:
        since = len(self.story.history)
        events = self.story.run(command, self.now)
        self._written(since)
        return events

    def advance(self, to: dt.datetime) -> None:
        """Fire every timer due up to ``to`` in time order, as the scheduler would."""
        while True:
            due = sorted(
                (t for t in self.timers.values() if t.fire_at <= to), key=lambda t: t.fire_at
            )
            if not due:
                break
            timer = due[0]
            del self.timers[timer.key]
            self.now = max(self.now, timer.fire_at)
            self.run(FireTimer(timer=timer))
        self.now = max(self.now, to)

    def record(
        self, fact: EventPayload, at: dt.datetime | None = None, name: str | None = None
    ) -> list[EventPayload]:
        self.advance(at or occurred_at(fact))
        since = len(self.story.history)
        events = self.story.record(fact, now=self.now)
        self._written(since)
        if name:
            self.fact_ids[name] = self.story.history[since][0]
        return events

    # --- reading, as the projections do -----------------------------------------------------

    def cases(self) -> PatientCases:
        state = PatientCases(cpts="demo", patient_id=self.patient)
        for envelope in self.envelopes:
            state = evolve(state, envelope)
        return state

    def outcomes(self, enrolment: int = 0) -> dict[str, Outcome]:
        """Code -> outcome for the patient's ``enrolment``-th enrolment (in order)."""
        state = self.cases()
        wanted = state.enrolments[enrolment].enrolment_id
        return {
            code: o
            for enr, code, o in outcomes(state, INDICATORS).values()
            if enr.enrolment_id == wanted
        }

    def read(self, code: str, enrolment: int = 0) -> tuple[str, str | None, int, int]:
        o = self.outcomes(enrolment)[code]
        return o.status, o.reason, o.num, o.den
