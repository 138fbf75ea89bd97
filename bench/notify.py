"""``parcours bench notify``: from a discharge posted to the first task message on a phone.

At a steady open-loop rate (100 discharges/s by default), each request posts a
heart-failure discharge of a new patient to ``POST /v1/facts`` (the pathways
service: the engine schedules the protocol's tasks in the same transaction);
a subscribed client (a JetStream consumer on every notification subject of the
CPTS, as ``notifications.appclient`` does) records when the first notification
about that patient arrives. Latency = arrival − the instant the HTTP answer
returned (both on this process's monotonic clock). Prints p50/p95/p99.
Targets: p50 ≤ 20 ms, p99 ≤ 100 ms.

``--mode direct`` measures the notifications pipeline alone: the bench appends
``TaskScheduled`` events to the event store itself (relay → router → outbox →
stream → client), latency from the append's return.

Services run as separate processes (uvicorn/uvloop) on embedded PostgreSQL
(fsync on) and NATS, or on the servers named by ``PARCOURS_DATABASE_URL`` /
``PARCOURS_NATS_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import secrets
import time
import uuid

import asyncpg
import msgspec

from bench.environment import bench_settings, relay_process, service_process
from bench.httpload import Connection, open_loop
from contracts import pathway as ev
from contracts.events import Actor, NewEvent, patient_stream
from contracts.identity import INS_TEST_OID, synthetic_ins
from contracts.subjects import Subjects
from notifications.appclient import AppFeed
from parcours import natsio
from parcours.auth import mint
from parcours.eventstore import NO_STREAM, EventStore
from parcours.leadership import pending
from parcours.settings import Settings

T0 = dt.datetime(2026, 3, 8, 14, tzinfo=dt.UTC)
_accepted = msgspec.json.Decoder(dict)


def discharge_body(n: int, now: dt.datetime) -> bytes:
    """A heart-failure discharge two hours ago (so that no task is already overdue)."""
    return msgspec.json.encode(
        {
            "type": "DischargeReported",
            "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
            "admitted_at": (now - dt.timedelta(days=7)).isoformat(),
            "discharged_at": (now - dt.timedelta(hours=2)).isoformat(),
            "diagnoses": ["I50.1"],
            "finess": "750712184",
        }
    )


class Probe:
    """Which patient each request concerned, when it returned, when its first notification came."""

    def __init__(self) -> None:
        self.sent: dict[uuid.UUID, float] = {}
        self.arrived: dict[uuid.UUID, float] = {}
        self.relayed: dict[uuid.UUID, float] = {}  # the relay's publish, seen on core NATS
        self.published: dict[uuid.UUID, float] = {}  # the outbox's publish, seen on core NATS
        self.errors: dict[str, int] = {}
        self.notifications = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def latencies_ms(self) -> list[float]:
        return self.between(self.sent, self.arrived)

    def between(self, start: dict[uuid.UUID, float], end: dict[uuid.UUID, float]) -> list[float]:
        return sorted((end[p] - start[p]) * 1000 for p in self.sent if p in start and p in end)


async def follow(settings: Settings, probe: Probe) -> tuple[object, AppFeed]:
    nc = await natsio.connect(settings, "bench-app")
    subjects = Subjects(settings.nats.prefix)
    feed = AppFeed(nc, subjects.notifications_stream, [f"{settings.nats.prefix}.demo.>"])

    async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        probe.notifications += 1
        note = msgspec.json.decode(msg.data)
        patient = note.get("patient_id")
        if patient:
            probe.arrived.setdefault(uuid.UUID(patient), now)

    feed._on_msg = on_msg  # type: ignore[method-assign]  # timing only: no decode, no dedup
    await feed.start()

    # The stages, seen as plain subscribers of what the relay and the outbox publish.
    async def on_event(msg) -> None:  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        stream = _stream_of.decode(msg.data).stream
        if stream.startswith("patient-"):
            probe.relayed.setdefault(uuid.UUID(stream.removeprefix("patient-")), now)

    async def on_notification(msg) -> None:  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        if ".events." in msg.subject:
            return
        patient = _patient_of.decode(msg.data).patient_id
        if patient is not None:
            probe.published.setdefault(patient, now)

    await nc.subscribe(subjects.events("demo", "*"), cb=on_event)
    await nc.subscribe(f"{settings.nats.prefix}.demo.>", cb=on_notification)
    return nc, feed


class _Stream(msgspec.Struct):
    stream: str


class _Patient(msgspec.Struct):
    patient_id: uuid.UUID | None = None


_stream_of = msgspec.json.Decoder(_Stream)
_patient_of = msgspec.json.Decoder(_Patient)


async def run_facts(settings: Settings, base: str, args: argparse.Namespace, probe: Probe) -> None:
    host, port = base.removeprefix("http://").split(":")
    token = mint(settings, sub="BENCH-DPI", role="discharge-system", cpts="demo")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    idle: list[Connection] = []
    first = secrets.randbelow(10**6) * 10

    now = dt.datetime.now(dt.UTC)

    async def send(i: int, measured: bool) -> None:
        body = discharge_body(first + i, now)
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more, fresh
            conn = idle.pop() if idle and attempt == 1 else Connection(host, int(port))
            try:
                status, answer, _ = await conn.request("POST", "/v1/facts", body, headers)
                break
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                conn.close()
        else:
            probe.error("connection")
            return
        returned = time.perf_counter()
        idle.append(conn)
        if status != 201:
            probe.error(f"HTTP {status}")
            return
        if measured:
            probe.sent[uuid.UUID(_accepted.decode(answer)["stream"].removeprefix("patient-"))] = (
                returned
            )

    await open_loop(args.rate, args.duration, args.warmup, send)
    for conn in idle:
        conn.close()


async def run_direct(settings: Settings, args: argparse.Namespace, probe: Probe) -> None:
    pool = await asyncpg.create_pool(settings.database.url, min_size=2, max_size=16)
    store = EventStore(pool)
    engine = Actor(id="bench-engine", role="service")

    async def send(i: int, measured: bool) -> None:
        patient, enrolment = uuid.uuid4(), uuid.uuid4()
        tasks = [
            ev.TaskScheduled(
                task_id=uuid.uuid4(),
                enrolment_id=enrolment,
                protocol="bench",
                activity="visit",
                occurrence=n + 1,
                role="nurse",
                earliest=T0,
                due=T0 + dt.timedelta(days=2 + n),
                zone="Z1",
            )
            for n in range(args.tasks)
        ]
        events = [
            NewEvent(event_id=uuid.uuid4(), data=task, occurred_at=T0,
                     correlation_id=f"bench-{i}", actor=engine, cpts="demo")
            for task in tasks
        ]  # fmt: skip
        await store.append(patient_stream(patient), NO_STREAM, events)
        if measured:
            probe.sent[patient] = time.perf_counter()

    try:
        await open_loop(args.rate, args.duration, args.warmup, send)
    finally:
        await pool.close()


async def watch_backlog(settings: Settings, stop: asyncio.Event) -> None:
    """Every second: events not yet relayed, events not yet routed, notifications not yet published."""
    conn = await asyncpg.connect(settings.database.url)
    nc = await natsio.connect(settings, "bench-watch")
    js = nc.jetstream()
    subjects = Subjects(settings.nats.prefix)
    try:
        while not stop.is_set():
            relay = await EventStore(conn).backlog("relay")
            try:
                routing = await pending(js, subjects.events_stream, "notifications-router")
            except Exception:  # noqa: BLE001 - not created yet
                routing = -1
            outbox = await conn.fetchval("SELECT count(*) FROM notification_outbox")
            print(
                f"  backlog: relay {relay:6d}  router {routing:6d}  outbox {outbox:6d}", flush=True
            )
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
    finally:
        await nc.close()
        await conn.close()


async def measure(settings: Settings, base: str, args: argparse.Namespace) -> Probe:
    probe = Probe()
    nc, feed = await follow(settings, probe)
    stop_watch = asyncio.Event()
    watcher = asyncio.create_task(watch_backlog(settings, stop_watch)) if args.trace else None
    try:
        if args.mode == "facts":
            await run_facts(settings, base, args, probe)
        else:
            await run_direct(settings, args, probe)
        deadline = time.perf_counter() + 10
        while len(probe.arrived.keys() & probe.sent.keys()) < len(probe.sent):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        stop_watch.set()
        if watcher is not None:
            await watcher
        await feed.stop()
        await nc.close()  # type: ignore[attr-defined]
    return probe


def percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench notify", description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0, help="discharges per second")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
    parser.add_argument("--mode", choices=["facts", "direct"], default="facts")
    parser.add_argument("--trace", action="store_true", help="print the backlog every second")
    parser.add_argument(
        "--tasks",
        type=int,
        default=20,
        help="direct mode: TaskScheduled per patient (a heart-failure discharge makes ~19)",
    )
    args = parser.parse_args(argv)

    with bench_settings(durable=True) as settings:
        with (
            relay_process(settings),
            service_process(settings, "parcours.cli", settings.http.pathways_port, "serve", "pathways") as base,
            service_process(settings, "parcours.cli", settings.http.notifications_port, "serve", "notifications"),
        ):  # fmt: skip
            probe = asyncio.run(measure(settings, base, args))

    latencies = probe.latencies_ms()
    missing = len(probe.sent) - len(latencies)
    origin = "POST /v1/facts returned" if args.mode == "facts" else "TaskScheduled appended"
    print(f"parcours bench notify  mode={args.mode}  rate={args.rate:.0f}/s  "
          f"duration={args.duration:.0f}s (+{args.warmup:.0f}s warm-up)")  # fmt: skip
    print(f"  measured {len(probe.sent)} requests, {probe.notifications} notifications received, "
          f"{missing} without a notification, errors {probe.errors or 'none'}")  # fmt: skip
    print(f"  {origin} -> first task message at the client:")
    print(f"    p50 {percentile(latencies, 50):7.1f} ms   (target <= 20)")
    print(f"    p95 {percentile(latencies, 95):7.1f} ms")
    print(f"    p99 {percentile(latencies, 99):7.1f} ms   (target <= 100)")
    print(f"    max {latencies[-1] if latencies else float('nan'):7.1f} ms")
    print(
        "  by stage (p50 / p99 ms; core NATS subscribers see the relay's and the outbox's publishes):"
    )
    stages = [
        (f"{origin} -> relay published", probe.sent, probe.relayed),
        ("relay published -> outbox published", probe.relayed, probe.published),
        ("outbox published -> client", probe.published, probe.arrived),
    ]
    for what, start, end in stages:
        ms = probe.between(start, end)
        print(f"    {what:<44} {percentile(ms, 50):7.1f} / {percentile(ms, 99):7.1f}")
    ok = (
        latencies
        and missing == 0
        and percentile(latencies, 50) <= 20
        and percentile(latencies, 99) <= 100
    )
    return 0 if ok else 1
