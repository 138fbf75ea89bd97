"""The contract of the one write path, run identically against every writer.

Every way of writing to a patient's stream (a single fact, the group commit, a
batch, a timer firing, a task command, an enrolment) goes through
``PatientStreams``. Whatever the writer:

1. it stores exactly what the domain decides for its command on the stream's
   state (the fact first, then what follows from it), once, in order, with
   contiguous versions, and each event says who and what caused it;
2. sending the same thing again stores nothing more;
3. when another writer moves the stream between the read and the append, both
   land: the other writer's event first, then this writer's, decided again on
   the newer state; nothing is lost.

Each writer is given a heart-failure patient discharged home (enrolled, 19
tasks scheduled) and writes one thing through its own route.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import pytest

from contracts.events import Actor, payload_decoder
from contracts.facts import ConsultationReported, LabResultReported
from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.clock import VirtualClock
from parcours.eventstore import EventStore, StoredEvent
from parcours.settings import Settings
from pathways.app import create_app
from pathways.domain import (
    AcceptTask,
    DecideContext,
    EnrolPatient,
    FireTimer,
    PatientState,
    RecordFact,
    Timer,
    decide,
    fold,
)
from pathways.scheduler import Scheduler
from pathways.streams import Origin, PatientStreams
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.hf_facts import DISCHARGE, discharge, gp_visit

NOW = dt.datetime(2026, 3, 9, 18, tzinfo=dt.UTC)  # the virtual clock, after the discharges
GP_RPPS = "10000000002"
CORRELATION = "contract-correlation"
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, NOW)


@dataclass
class Target:
    """A prepared patient and what the writer will send."""

    n: int
    stream: str
    state: PatientState
    data: dict[str, Any] = field(default_factory=dict)


class Harness:
    """The service (its HTTP routes; its runtime lives on the client's own event loop),
    and, on the test's loop, a pool, a repository and a scheduler of the same code."""

    def __init__(self, api: Any, token: Any, pool: asyncpg.Pool, clock: Any) -> None:
        self.api, self.token, self.pool = api, token, pool
        self.runtime = api.app.state.runtime
        self.store = EventStore(pool)
        self.streams = PatientStreams(pool, self.runtime.catalog)
        self.scheduler = Scheduler(self.streams, clock)

    def headers(self, role: str, sub: str) -> dict[str, str]:
        return {**bearer(self.token(role, sub=sub)), "X-Correlation-ID": CORRELATION}

    async def stored(self, stream: str) -> list[StoredEvent]:
        return await self.store.read_stream(stream)

    async def discharged(self, n: int, at: dt.datetime = DISCHARGE) -> Target:
        body = discharge(n)
        body["admitted_at"] = iso(at - dt.timedelta(days=5))
        body["discharged_at"] = iso(at)
        answer = await self.api.post(
            "/v1/facts", headers=self.headers("discharge-system", "CHU-1"), json=body
        )
        assert answer.status_code == 201, answer.text
        stream = answer.json()["stream"]
        return Target(n, stream, state_of(await self.stored(stream)))


def state_of(events: list[StoredEvent]) -> PatientState:
    return fold([(e.event_id, payload_decoder.decode(e.data)) for e in events])


# -- the writers ---------------------------------------------------------------------------


class HttpWriter:
    def streams(self, h: Harness) -> PatientStreams:
        return h.runtime.streams  # the service's own repository


class FactWriter(HttpWriter):
    """A GP consultation two hours after the discharge (completes the GP task)."""

    actor = ("CHU-1", "discharge-system")

    def __init__(self, name: str, route: str, direct_limit: int) -> None:
        self.name, self.route, self.direct_limit = name, route, direct_limit

    async def prepare(self, h: Harness, n: int) -> Target:
        target = await h.discharged(n)
        target.data["event_id"] = uuid.uuid4()
        return target

    def commands(self, target: Target) -> tuple[list[object], dt.datetime]:
        fact = ConsultationReported(
            consulted_at=DISCHARGE + dt.timedelta(hours=2), role="gp", rpps=GP_RPPS
        )
        command = RecordFact(
            actor_id=self.actor[0],
            actor_role=self.actor[1],
            event_id=target.data["event_id"],
            fact=fact,
        )
        return [command], NOW

    async def send(self, h: Harness, target: Target) -> int:
        body = gp_visit(target.n, event_id=str(target.data["event_id"]))
        headers = h.headers("discharge-system", "CHU-1")
        h.runtime.group_commit.direct_limit = self.direct_limit
        if self.route == "batch":
            answer = await h.api.post("/v1/facts:batch", headers=headers, json=[body])
            assert answer.status_code == 200, answer.text
            return answer.json()["results"][0]["status"]
        group_commit = h.runtime.group_commit
        single = group_commit.single
        answer = await h.api.post("/v1/facts", headers=headers, json=body)
        if self.direct_limit == 0 and answer.status_code == 201:
            assert group_commit.single == single, "written by a group, not handed back"
        return answer.status_code


class EnrolmentWriter(HttpWriter):
    """A coordinator enrols the patient in the COPD pathway as well."""

    name = "enrolment"
    actor = ("COORD-1", "coordinator")
    anchor = dt.datetime(2026, 3, 9, 10, tzinfo=dt.UTC)

    async def prepare(self, h: Harness, n: int) -> Target:
        return await h.discharged(n)

    def commands(self, target: Target) -> tuple[list[object], dt.datetime]:
        command = EnrolPatient(
            actor_id=self.actor[0],
            actor_role=self.actor[1],
            protocol="copd-exacerbation",
            anchor_at=self.anchor,
        )
        return [command], NOW

    async def send(self, h: Harness, target: Target) -> int:
        body = {
            "patient": {"ins": synthetic_ins(target.n), "oid": INS_TEST_OID},
            "protocol": "copd-exacerbation",
            "anchor_at": iso(self.anchor),
        }
        answer = await h.api.post(
            "/v1/enrolments", headers=h.headers("coordinator", "COORD-1"), json=body
        )
        return answer.status_code


class TaskWriter(HttpWriter):
    """The GP accepts the GP consultation task from the pool."""

    name = "task command"
    actor = (GP_RPPS, "gp")

    async def prepare(self, h: Harness, n: int) -> Target:
        target = await h.discharged(n)
        [task] = [t for t in target.state.tasks.values() if t.activity == "gp-consultation"]
        target.data["task_id"] = task.task_id
        return target

    def commands(self, target: Target) -> tuple[list[object], dt.datetime]:
        task_id = target.data["task_id"]
        return [AcceptTask(task_id=task_id, actor_id=self.actor[0], actor_role="gp")], NOW

    async def send(self, h: Harness, target: Target) -> int:
        answer = await h.api.post(
            f"/v1/tasks/{target.data['task_id']}/accept", headers=h.headers("gp", GP_RPPS)
        )
        return answer.status_code


class TimerWriter:
    """The scheduler fires the patient's first due timers. The patient is discharged three
    days before the others, so that no other patient of this module has a timer due then."""

    name = "timer firing"
    actor = ("parcours-pathways", "service")

    def streams(self, h: Harness) -> PatientStreams:
        return h.streams

    async def prepare(self, h: Harness, n: int) -> Target:
        target = await h.discharged(n, at=DISCHARGE - dt.timedelta(days=3))
        await h.scheduler.index.catch_up()
        pool = h.pool
        first = await pool.fetchval(
            "SELECT min(fire_at) FROM timers WHERE stream = $1 AND fired_at IS NULL", target.stream
        )
        rows = await pool.fetch(
            """SELECT key, kind, fire_at, task_id, enrolment_id FROM timers
               WHERE fire_at <= $1 AND fired_at IS NULL ORDER BY fire_at, key""",
            first,
        )
        assert rows and {r["key"] for r in rows} == {
            r["key"]
            for r in await pool.fetch(
                "SELECT key FROM timers WHERE stream = $1 AND fire_at <= $2", target.stream, first
            )
        }, "only this patient's timers are due"
        target.data["at"] = first
        target.data["timers"] = [
            Timer(fire_at=r["fire_at"], kind=r["kind"], task_id=r["task_id"],
                  enrolment_id=r["enrolment_id"])
            for r in rows
        ]  # fmt: skip
        return target

    def commands(self, target: Target) -> tuple[list[object], dt.datetime]:
        return [FireTimer(timer=t) for t in target.data["timers"]], target.data["at"]

    async def send(self, h: Harness, target: Target) -> int:
        await h.scheduler.fire_due(target.data["at"])
        return 200


WRITERS = [
    FactWriter("single fact", "facts", direct_limit=1_000),
    FactWriter("group commit", "facts", direct_limit=0),
    FactWriter("batch", "batch", direct_limit=1_000),
    TimerWriter(),
    TaskWriter(),
    EnrolmentWriter(),
]
WRITER_IDS = [w.name for w in WRITERS]
PATIENTS = iter(range(20_000, 30_000))


# -- what the domain decides, as stored events look ----------------------------------------


def decided(writer: Any, target: Target, state: PatientState) -> list[Any]:
    """The domain's events for the writer's commands on ``state``, in order."""
    commands, now = writer.commands(target)
    ctx = DecideContext(now=now, new_id=uuid.uuid4, catalog=CATALOG)
    out = []
    for command in commands:
        events, state = decide(command, state, ctx)
        out += [e.payload for e in events]
    return out


def shape(payloads: list[Any], known: dict[str, str]) -> list[tuple[str, Any]]:
    """Types and payloads, every id replaced by its rank of first appearance (ids chosen
    by the sender, in ``known``, keep their name)."""
    ids = dict(known)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and UUID_TEXT.match(value):
            return ids.setdefault(value, f"#{len(ids)}")
        return value

    return [(p["type"], walk(p)) for p in (msgspec.to_builtins(x) for x in payloads)]


def stored_payloads(events: list[StoredEvent]) -> list[Any]:
    return [payload_decoder.decode(e.data) for e in events]


def known_ids(target: Target) -> dict[str, str]:
    eid = target.data.get("event_id")
    return {str(eid): "#fact"} if eid else {}


def check_envelopes(writer: Any, target: Target, written: list[StoredEvent]) -> None:
    """The command's events carry its actor; what a recorded fact causes is the service's,
    caused by the fact; every event carries the correlation id of what caused it."""
    fact_id = target.data.get("event_id")
    for e in written:
        if fact_id is not None and e.causation_id == str(fact_id):
            assert (e.actor_id, e.actor_role) == ("parcours-pathways", "service")
        else:
            assert (e.actor_id, e.actor_role) == writer.actor
        if isinstance(writer, TimerWriter):
            assert e.correlation_id.startswith("timer:") and e.causation_id == e.correlation_id
        else:
            assert e.correlation_id == CORRELATION
    if fact_id is not None:
        assert written[0].event_id == fact_id and written[0].causation_id is None


CATALOG: Any = None


@pytest.fixture
async def harness(virtual: Settings, token: Any):
    global CATALOG
    pool = await asyncpg.create_pool(virtual.database.url, min_size=1, max_size=4)
    try:
        async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
            h = Harness(api, token, pool, VirtualClock(pool))
            CATALOG = h.runtime.catalog
            yield h
    finally:
        await pool.close()


# -- the contract ----------------------------------------------------------------------------


@pytest.mark.parametrize("writer", WRITERS, ids=WRITER_IDS)
async def test_a_writer_stores_what_the_domain_decides_once_in_order(
    harness: Harness, writer: Any
) -> None:
    target = await writer.prepare(harness, next(PATIENTS))
    before = await harness.stored(target.stream)

    status = await writer.send(harness, target)

    assert status in (200, 201)
    stored = await harness.stored(target.stream)
    written = stored[len(before) :]
    expected = decided(writer, target, target.state)
    assert expected, "the case must decide something"
    assert shape(stored_payloads(written), known_ids(target)) == shape(expected, known_ids(target))
    assert [e.version for e in stored] == list(range(1, len(stored) + 1))
    check_envelopes(writer, target, written)


@pytest.mark.parametrize("writer", WRITERS, ids=WRITER_IDS)
async def test_sending_again_stores_nothing_more(harness: Harness, writer: Any) -> None:
    target = await writer.prepare(harness, next(PATIENTS))
    first = await writer.send(harness, target)
    after_first = await harness.stored(target.stream)

    again = await writer.send(harness, target)

    assert first in (200, 201)
    assert again < 500 and again != 201  # answered (the original, or a refusal), not redone
    assert await harness.stored(target.stream) == after_first


@pytest.mark.parametrize("writer", WRITERS, ids=WRITER_IDS)
async def test_two_writers_on_one_stream_both_land_through_the_conflict_loop(
    harness: Harness, writer: Any
) -> None:
    target = await writer.prepare(harness, next(PATIENTS))
    before = await harness.stored(target.stream)
    streams = writer.streams(harness)
    other = PatientStreams(streams.pool, streams.catalog)  # another process, its own cache
    lab = LabResultReported(collected_at=NOW, loinc="2160-0", value=80.0, unit="umol/L")
    lab_id = uuid.uuid4()
    load = streams.load

    async def another_writer_meanwhile(writes: Any, conn: Any = None) -> None:
        await load(writes, conn)
        if not streams.__dict__.get("moved"):  # once: after this writer read the stream
            streams.__dict__["moved"] = True
            command = RecordFact(actor_id="LAB-1", actor_role="lab", event_id=lab_id, fact=lab)
            origin = Origin("demo", Actor(id="LAB-1", role="lab"), "other", NOW)
            await other.execute(target.stream, command, origin, NOW)

    streams.load = another_writer_meanwhile
    try:
        status = await writer.send(harness, target)
    finally:
        streams.load = load
        streams.__dict__.pop("moved", None)

    assert status in (200, 201)
    stored = await harness.stored(target.stream)
    assert stored[len(before)].event_id == lab_id  # the other writer's fact landed first
    newer = state_of(stored[: len(before) + 1])
    written = stored[len(before) + 1 :]
    expected = decided(writer, target, newer)  # decided again on the newer state
    assert shape(stored_payloads(written), known_ids(target)) == shape(expected, known_ids(target))
    assert [e.version for e in stored] == list(range(1, len(stored) + 1))  # nothing lost
    assert len(stored) == len(before) + 1 + len(expected)
    # the state the writer keeps is the fold of what is stored, the other writer's fact included
    assert streams.cache.get(target.stream) == (len(stored), state_of(stored))
