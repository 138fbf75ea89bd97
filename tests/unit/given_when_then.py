"""A tiny given/when/then harness for the pure pathway decider.

Fixed clock, deterministic ids (``UUID(int=n)`` from a counter), the real
protocol files. ``Story`` plays commands as the service would: it appends what
``decide`` returned (for a recorded fact: the fact, then what follows from it).

    given(*events).when(command).then(*expected_events)
    story = Story(); story.record(discharge(...)); story.run(AcceptTask(...))
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.base import EventPayload
from contracts.identity import CareTeamMember
from pathways.domain import (
    DecideContext,
    PatientState,
    ProtocolCatalog,
    RecordFact,
    decide,
    evolve,
)
from pathways.domain.state import TaskState

PROTOCOLS = Path(__file__).resolve().parents[2] / "services" / "pathways" / "protocols"
CATALOG = ProtocolCatalog.load_dir(PROTOCOLS)
PARIS = ZoneInfo("Europe/Paris")
# D0: Monday 2 March 2026, discharge at 14:00 Paris time (summer time starts on D+27).
D0 = datetime(2026, 3, 2, 14, 0, tzinfo=PARIS)
NOW = D0.astimezone(UTC)
HOSPITAL = ("hospital-dpi", "discharge-system")
COORDINATOR = ("coord-1", "coordinator")


def day(n: int, hour: int = 10, minute: int = 0, base: datetime = D0) -> datetime:
    """Local time ``hour:minute`` on day D0+n, as a UTC instant."""
    local = datetime.combine(base.date() + timedelta(days=n), datetime.min.time(), PARIS)
    return local.replace(hour=hour, minute=minute).astimezone(UTC)


def start_of(n: int, base: datetime = D0) -> datetime:
    return day(n, 0, 0, base)


def end_of(n: int, base: datetime = D0) -> datetime:
    return day(n, 23, 59, base) + timedelta(seconds=59)


def counter(start: int) -> Callable[[], UUID]:
    numbers = itertools.count(start)
    return lambda: UUID(int=next(numbers))


def team(**members: str) -> list[CareTeamMember]:
    return [CareTeamMember(role=role, rpps=rpps) for role, rpps in members.items()]


class Outcome:
    def __init__(self, events: list[EventPayload] | None, error: Exception | None) -> None:
        self.events, self.error = events, error

    def then(self, *expected: EventPayload) -> list[EventPayload]:
        if self.error is not None:
            raise AssertionError(f"expected events, got {self.error!r}") from self.error
        assert self.events == list(expected)
        return self.events

    def then_nothing(self) -> None:
        self.then()

    def then_raises(self, error: type[Exception]) -> Exception:
        assert isinstance(self.error, error), (
            f"expected {error.__name__}, got {self.error or self.events!r}"
        )
        return self.error

    def of_type(self, cls: type) -> list:
        assert self.error is None, self.error
        return [e for e in self.events or [] if isinstance(e, cls)]


class Story:
    """A patient's stream and the state folded from it."""

    def __init__(self, catalog: ProtocolCatalog = CATALOG, now: datetime = NOW) -> None:
        self.catalog, self.now = catalog, now
        self.history: list[tuple[UUID | None, EventPayload]] = []
        self.state = PatientState()
        self.new_id = counter(1)
        self.fact_id = counter(1_000_001)

    def append(self, event: EventPayload, event_id: UUID | None = None) -> None:
        self.history.append((event_id, event))
        self.state = evolve(self.state, event, event_id)

    def ctx(self, now: datetime | None = None) -> DecideContext:
        return DecideContext(now=now or self.now, new_id=self.new_id, catalog=self.catalog)

    def fact_command(
        self, fact: EventPayload, zone: str | None = None, actor=HOSPITAL
    ) -> RecordFact:
        return RecordFact(
            event_id=self.fact_id(), fact=fact, zone=zone, actor_id=actor[0], actor_role=actor[1]
        )

    def run(self, command: object, now: datetime | None = None) -> list[EventPayload]:
        """Decide and append; returned: the events that follow (for a fact: its consequences)."""
        decided = decide(command, self.state, self.ctx(now))
        for e in decided.events:
            self.append(e.payload, e.event_id)
        assert self.state == decided.state  # what decide says the events lead to
        return [e.payload for e in decided.events if e.event_id is None]

    def record(
        self,
        fact: EventPayload,
        zone: str | None = None,
        now: datetime | None = None,
        actor=HOSPITAL,
    ) -> list[EventPayload]:
        return self.run(self.fact_command(fact, zone, actor), now)

    def when(self, command: object, now: datetime | None = None) -> Outcome:
        try:
            return Outcome(decide(command, self.state, self.ctx(now)).payloads, None)
        except Exception as exc:  # noqa: BLE001 - the outcome carries it
            return Outcome(None, exc)

    def when_recorded(
        self, fact: EventPayload, zone: str | None = None, now: datetime | None = None
    ) -> Outcome:
        return self.when(self.fact_command(fact, zone), now)

    def events(self, cls: type | None = None) -> list[EventPayload]:
        return [e for _, e in self.history if cls is None or isinstance(e, cls)]

    def tasks(self, activity: str | None = None, status: str | None = None) -> list[TaskState]:
        return [
            t
            for t in self.state.tasks.values()
            if (activity is None or t.activity == activity)
            and (status is None or t.status == status)
        ]

    def task(self, activity: str, occurrence: int = 1) -> TaskState:
        matching = [t for t in self.tasks(activity) if t.occurrence == occurrence]
        return matching[-1]


def given(
    *events: EventPayload | tuple[UUID, EventPayload], catalog: ProtocolCatalog = CATALOG
) -> Story:
    story = Story(catalog)
    for item in events:
        event_id, event = item if isinstance(item, tuple) else (None, item)
        story.append(event, event_id)
    return story


# --- facts, as hospitals and professionals report them (no patient inside) --------------------

FINESS = "750000001"
GP, NURSE, NURSE_2, CARDIO = "10000000001", "10000000002", "10000000003", "10000000004"


def discharge(
    at: datetime = NOW, *diagnoses: str, destination: str = "home", care_team=()
) -> EventPayload:
    from contracts.facts import DischargeReported

    return DischargeReported(
        admitted_at=at - timedelta(days=6),
        discharged_at=at,
        diagnoses=list(diagnoses or ["I50.1"]),
        finess=FINESS,
        destination=destination,
        care_team=list(care_team),
    )


def readmission(at: datetime) -> EventPayload:
    from contracts.facts import ReadmissionReported

    return ReadmissionReported(admitted_at=at, finess=FINESS)


def death(at: datetime) -> EventPayload:
    from contracts.facts import DeathReported

    return DeathReported(died_at=at)


def consultation(
    at: datetime, role: str = "gp", rpps: str = GP, specialty: str | None = None
) -> EventPayload:
    from contracts.facts import ConsultationReported

    return ConsultationReported(consulted_at=at, role=role, rpps=rpps, specialty=specialty)


def lab(at: datetime, loinc: str, value: float = 1.0, unit: str = "mmol/L") -> EventPayload:
    from contracts.facts import LabResultReported

    return LabResultReported(collected_at=at, loinc=loinc, value=value, unit=unit)


def visit(
    at: datetime, weight: float | None = None, education: bool = False, rpps: str = NURSE
) -> EventPayload:
    from contracts.facts import NursingVisitReported

    return NursingVisitReported(visited_at=at, rpps=rpps, weight_kg=weight, education=education)


def diagnosis(at: datetime, code: str = "O24.4", expected_delivery=None) -> EventPayload:
    from contracts.facts import DiagnosisReported

    return DiagnosisReported(diagnosed_at=at, code=code, expected_delivery=expected_delivery)


def ogtt(
    at: datetime, fasting: float, one_hour=None, two_hour=None, expected_delivery=None
) -> EventPayload:
    from contracts.facts import GlucoseToleranceTestReported

    return GlucoseToleranceTestReported(
        tested_at=at,
        fasting_g_l=fasting,
        one_hour_g_l=one_hour,
        two_hour_g_l=two_hour,
        expected_delivery=expected_delivery,
    )


def delivery(at: datetime) -> EventPayload:
    from contracts.facts import DeliveryReported

    return DeliveryReported(delivered_at=at)


def self_monitoring(first_day: int, last_day: int, readings: int, above: int) -> EventPayload:
    from contracts.facts import SelfMonitoringReported

    return SelfMonitoringReported(
        period_start=D0.date() + timedelta(days=first_day),
        period_end=D0.date() + timedelta(days=last_day),
        readings=readings,
        above_target=above,
    )


def joined(rpps: str, role: str, source: str = "task") -> EventPayload:
    """The care circle event when ``rpps`` joins the patient's circle (``CareCircleChanged``)."""
    from contracts.pathway import CareCircleChanged

    return CareCircleChanged(rpps=rpps, role=role, change="added", source=source)
