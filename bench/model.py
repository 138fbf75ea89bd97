"""``parcours bench model``: one event per planned occurrence, or one event per plan?

Measures the event-model choice of issue 16 before making it. One heart-failure
discharge decided by the real pure decider gives what the engine writes today: the fact,
``PatientEnrolled``, the care-circle and GP-access events and one ``TaskScheduled`` per
planned occurrence (about 21 events). The alternative keeps every field of every task
(its id, activity, occurrence, role, window, assignee: per-task auditability is the
same) but carries the plan's occurrences in ONE ``TasksScheduled`` event (a bench-local
payload; nothing in the services reads it). For each model, on fresh servers (durable
PostgreSQL, fsync on) and the same discharges:

1. **write**: ``--patients`` new patients appended the engine's way (``append_many``,
   one request per patient stream, ``--batch`` patients a statement);
2. **relay**: the relay process (``parcours serve relay``) started on the full store,
   timed from its start (included, printed) until its checkpoint reaches the head (read in commit order, published to
   JetStream, acknowledged);
3. the physical limit of that write, measured in the same run: raw binary COPY of the
   same rows into a copy of ``events``.

Printed: events/s and discharges/s for each phase and model, and the event model's
share. Targets (issue 16): >= 5,000 discharges enrolled/s; a discharge's events must fit
what the relay can carry at that rate.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import uuid
from types import SimpleNamespace

import asyncpg
import msgspec

from bench.environment import bench_settings, relay_process
from bench.scale import _catalog
from contracts import facts as f
from contracts import pathway as ev
from contracts.events import Actor, EventPayload, NewEvent
from parcours.eventstore import NO_STREAM, AppendRequest, AppendResult, EventStore
from parcours.eventstore.writes import EVENT_COLUMNS, event_record
from pathways.domain import DecideContext, PatientState, RecordFact, decide
from pathways.relay import CHECKPOINT

AT = dt.datetime(2026, 3, 2, 13, tzinfo=dt.UTC)
SYSTEM = Actor(id="parcours-pathways", role="service")
HOSPITAL = Actor(id="BENCH-DPI", role="discharge-system")


class TasksScheduled(EventPayload, frozen=True, tag="TasksScheduled"):
    """The alternative model: a plan's occurrences in one event, each task whole."""

    enrolment_id: uuid.UUID
    tasks: list[ev.TaskScheduled]


def one_discharge() -> list[tuple[object, bool]]:
    """The decider's events for one HF discharge: (payload, caused by the fact)."""
    fact = f.DischargeReported(
        admitted_at=AT - dt.timedelta(days=6), discharged_at=AT, diagnoses=["I50.1"],
        finess="750712184", nyha_class=3,
    )  # fmt: skip
    command = RecordFact(
        event_id=uuid.uuid4(), fact=fact, zone="75114", actor_id=HOSPITAL.id,
        actor_role=HOSPITAL.role,
    )  # fmt: skip
    ctx = DecideContext(
        now=AT, new_id=uuid.uuid4, catalog=_catalog(SimpleNamespace(protocols_dir=None))
    )
    decided = decide(command, PatientState(), ctx)
    return [(e.payload, e.caused_by is not None) for e in decided.events]


def per_plan(events: list[tuple[object, bool]]) -> list[tuple[object, bool]]:
    tasks = [p for p, _ in events if isinstance(p, ev.TaskScheduled)]
    others = [(p, c) for p, c in events if not isinstance(p, ev.TaskScheduled)]
    return [*others, (TasksScheduled(enrolment_id=tasks[0].enrolment_id, tasks=tasks), True)]


def _fresh(payload: object) -> object:
    """The same payload for another patient: new task ids (the ids a real plan gets)."""
    if isinstance(payload, ev.TaskScheduled):
        return msgspec.structs.replace(payload, task_id=uuid.uuid4())
    if isinstance(payload, TasksScheduled):
        return msgspec.structs.replace(payload, tasks=[_fresh(t) for t in payload.tasks])
    return payload


def requests_for(shape: list[tuple[object, bool]], patients: int) -> list[AppendRequest]:
    out = []
    for n in range(patients):
        corr = f"bench-model-{n}"
        events = [
            NewEvent(
                event_id=uuid.uuid4(),
                data=_fresh(p),
                occurred_at=AT,
                correlation_id=corr,
                causation_id=corr if caused else None,
                actor=SYSTEM if caused else HOSPITAL,
                cpts="demo",
            )  # fmt: skip
            for p, caused in shape
        ]
        out.append(AppendRequest(stream=f"patient-{uuid.uuid4()}", expected_version=NO_STREAM,
                                 events=events))  # fmt: skip
    return out


async def write(url: str, requests: list[AppendRequest], batch: int) -> tuple[float, float]:
    """Seconds through ``append_many`` (the engine's write) and by raw COPY of the same
    rows into an identical table (the limit), batch by batch."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    await pool.execute("CREATE TABLE events_raw (LIKE events INCLUDING ALL)")
    store = EventStore(pool)
    ours = raw = 0.0
    for s in range(0, len(requests), batch):
        chunk = requests[s : s + batch]
        rows = [
            event_record(e, r.stream, v) for r in chunk for v, e in enumerate(r.events, start=1)
        ]
        start = time.perf_counter()
        results = await store.append_many(chunk)
        ours += time.perf_counter() - start
        if any(not isinstance(x, AppendResult) for x in results):
            raise RuntimeError(f"an append failed: {results[0]!r}")
        start = time.perf_counter()
        async with pool.acquire() as conn:
            await conn.copy_records_to_table("events_raw", records=rows, columns=EVENT_COLUMNS)
        raw += time.perf_counter() - start
    await pool.close()
    return ours, raw


async def _relayed(url: str, limit: float = 900) -> float:
    conn = await asyncpg.connect(url)
    try:
        start, deadline = time.perf_counter(), time.monotonic() + limit
        while time.monotonic() < deadline:
            if await EventStore(conn).caught_up(CHECKPOINT):
                return time.perf_counter() - start
            await asyncio.sleep(0.02)
        raise RuntimeError("the relay did not reach the head")
    finally:
        await conn.close()


def measure(shape: list[tuple[object, bool]], patients: int, batch: int) -> dict[str, float]:
    requests = requests_for(shape, patients)
    events = sum(len(r.events) for r in requests)
    with bench_settings(durable=True) as settings:
        ours, raw = asyncio.run(write(settings.database.url, requests, batch))
        start = time.perf_counter()
        with relay_process(settings):  # ready: connected, leader elected (it may have begun)
            ready = time.perf_counter() - start
            relayed = ready + asyncio.run(_relayed(settings.database.url))
    return {"events": events, "write": ours, "raw": raw, "relay": relayed, "ready": ready}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench model", description=__doc__)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2_000, help="patients a statement")
    args = parser.parse_args(argv)
    today = one_discharge()
    models = {
        f"one event per occurrence ({len(today)} a discharge)": today,
        f"one event per plan ({len(per_plan(today))} a discharge)": per_plan(today),
    }
    n = args.patients
    print(f"{n} HF discharges, {args.batch} a statement; durable PostgreSQL, fresh per model")
    print(f"{'':42} {'append_many':>24} {'raw COPY (limit)':>24} {'relay to JetStream':>24}")
    for name, shape in models.items():
        m = measure(shape, n, args.batch)
        ev_s = [m["events"] / m[k] for k in ("write", "raw", "relay")]
        print(
            f"{name:42} "
            + " ".join(f"{e:9.0f} ev/s {n / m[k]:6.0f} d/s" for e, k in zip(ev_s, ("write", "raw", "relay"), strict=True))
        )  # fmt: skip
        print(
            f"{'':42} append / raw COPY {m['raw'] / m['write']:.2f}; "
            f"relay time counts its start ({m['ready']:.1f} s to ready)"
        )
    print("d/s: discharges a second (target >= 5,000 enrolled; the relay must carry as many)")
    return 0
