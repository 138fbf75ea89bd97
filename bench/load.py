"""``parcours bench load``: the simulator's traffic, open loop, at a fixed rate.

The three services run as processes on durable embedded servers (or the
servers named by ``PARCOURS_DATABASE_URL`` / ``PARCOURS_NATS_URL``) with the
virtual clock. Facts come from the simulator, in time order. Every request leaves at
its scheduled instant whatever the previous ones are doing (open loop).

(The clock is moved past the facts of each run before it starts, so the tasks
they schedule fall due during the run: the scheduler's deadlines are part of
the load.) Prints accepted/s, latency p50/p95/p99, errors by status, and the backlogs of
the relay (events not yet on NATS) and of the projections (events on NATS not
yet applied). ``--find`` searches the highest rate held with p99 < 100 ms and
no error, confirms it for 60 s, then checks that twice that rate is shed with
503 + Retry-After (no time-outs) and that the service recovers when the rate
drops back.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import time
from dataclasses import dataclass, field

import asyncpg
import httpx
import msgspec

from bench.environment import bench_settings, relay_process, service_process
from bench.httpload import ConnectionPool, open_loop
from parcours.auth import mint
from parcours.eventstore import EventStore
from parcours.settings import Settings
from simulator.behaviour import Fact, simulate
from simulator.territory import make_territory

SERVICES = ("pathways", "notifications", "projections")


@dataclass
class Run:
    rate: float
    duration: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    retry_after: int = 0
    backlog_max: dict[str, int] = field(default_factory=dict)
    backlog_end: dict[str, int] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def errors(self) -> int:
        return self.transport_errors + sum(n for s, n in self.statuses.items() if s >= 400)

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return (
            ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000
            if ordered
            else float("nan")
        )

    def holds(self) -> bool:
        return self.errors == 0 and self.p(99) < 100

    def line(self) -> str:
        return (
            f"rate {self.rate:6.0f}/s for {self.duration:.0f}s: accepted {self.accepted / self.duration:7.1f}/s  "
            f"p50 {self.p(50):6.1f} ms  p95 {self.p(95):6.1f} ms  p99 {self.p(99):7.1f} ms  "
            f"errors {self.errors} {dict(sorted(self.statuses.items()))} transport {self.transport_errors}  "
            f"backlog max {self.backlog_max} end {self.backlog_end}"
        )


class Traffic:
    """The simulator's facts, handed out in time order, with the clock kept in step."""

    def __init__(self, settings: Settings, base: str, seed: int) -> None:
        self.settings, self.base, self.seed = settings, base, seed
        self.facts: list[Fact] = []
        self.next = 0
        self.patients = 0
        self.admin = {
            "Authorization": f"Bearer {mint(settings, sub='LOAD-ADMIN', role='admin', cpts='demo')}"
        }

    async def refill(self, count: int, start: dt.datetime) -> None:
        territory = make_territory("demo", 150_000, random.Random(self.seed))
        patients = max(50, count // 9)
        facts = simulate(
            territory, patients=patients, start=start, days=120, seed=self.seed + self.patients,
            first_patient=self.patients,
        )  # fmt: skip
        self.patients += patients  # new patients at every refill
        self.facts, self.next = facts[:count], 0
        # the clock goes past the last fact: every fact is in the past when sent, and the
        # deadlines of the tasks it schedules fall due while the load runs (the scheduler
        # fires them alongside): months of a territory compressed into the run
        async with httpx.AsyncClient(base_url=self.base, headers=self.admin, timeout=300) as client:
            await client.post(
                "/v1/admin/clock/advance",
                json={"to": (self.facts[-1].at + dt.timedelta(minutes=1)).isoformat()},
            )

    def take(self) -> bytes:
        fact = self.facts[self.next % len(self.facts)]
        self.next += 1
        return msgspec.json.encode(fact.body)


async def watch_backlogs(settings: Settings, run: Run, stop: asyncio.Event) -> None:
    conn = await asyncpg.connect(settings.database.url)
    try:
        while True:
            store = EventStore(conn)
            relay = await store.backlog("relay")
            relayed = await store.count() - relay
            applied = await conn.fetchval(
                "SELECT coalesce(min(stream_seq), 0) FROM consumer_checkpoints WHERE name LIKE '%projections%'"
            )
            now = {"relay": int(relay), "projections": max(0, int(relayed) - int(applied))}
            for key, value in now.items():
                run.backlog_max[key] = max(run.backlog_max.get(key, 0), value)
            run.backlog_end = now
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
    finally:
        await conn.close()


async def one_run(settings: Settings, traffic: Traffic, rate: float, duration: float) -> Run:
    run = Run(rate, duration)
    host, port = traffic.base.removeprefix("http://").split(":")
    pool = ConnectionPool(host, int(port))
    token = mint(settings, sub="LOAD-HUB", role="discharge-system", cpts="demo", ttl_seconds=86400)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def send(i: int, measured: bool) -> None:
        body = traffic.take()
        started = time.perf_counter()
        try:
            status, _, answer_headers = await asyncio.wait_for(
                pool.request("POST", "/v1/facts", body, headers), 10
            )
        except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            run.transport_errors += 1
            return
        if measured:
            run.latencies.append(time.perf_counter() - started)
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if status in (429, 503) and "retry-after" in answer_headers:
                run.retry_after += 1

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_backlogs(settings, run, stop))
    try:
        await open_loop(rate, duration, min(2.0, duration / 5), send)
    finally:
        stop.set()
        await watcher
        pool.close()
    return run


async def find(settings: Settings, traffic: Traffic, step: float, confirm: float) -> list[Run]:
    runs: list[Run] = []

    async def attempt(rate: float, duration: float) -> Run:
        await traffic.refill(
            int(rate * (duration + 2)) + 100,
            traffic.facts[-1].at if traffic.facts else await _clock(traffic),
        )
        run = await one_run(settings, traffic, rate, duration)
        print(run.line(), flush=True)
        runs.append(run)
        await asyncio.sleep(3)  # let backlogs drain between runs
        return run

    low, high = 0.0, 100.0
    while (await attempt(high, step)).holds():
        low, high = high, high * 2
    for _ in range(4):
        mid = (low + high) / 2
        if (await attempt(mid, step)).holds():
            low = mid
        else:
            high = mid
    best = await attempt(low, confirm)
    print(
        f"highest rate held: {low:.0f} facts/s ({'held' if best.holds() else 'NOT held'} for {confirm:.0f}s)"
    )
    overload = await attempt(low * 2, step)
    print(
        f"at twice that rate: {overload.retry_after} answers shed with Retry-After, {overload.transport_errors} time-outs or resets"
    )
    recovered = await attempt(low, step)
    print(f"back to {low:.0f}/s: {'recovered' if recovered.holds() else 'NOT recovered'}")
    return runs


async def _clock(traffic: Traffic) -> dt.datetime:
    async with httpx.AsyncClient(base_url=traffic.base, headers=traffic.admin) as client:
        now = dt.datetime.fromisoformat((await client.get("/v1/admin/clock")).json()["now"])
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)


async def drive(settings: Settings, base: str, args: argparse.Namespace) -> None:
    traffic = Traffic(settings, base, args.seed)
    if args.find:
        await find(settings, traffic, args.step, args.duration)
    else:
        await traffic.refill(int(args.rate * (args.duration + 2)) + 100, await _clock(traffic))
        print((await one_run(settings, traffic, args.rate, args.duration)).line())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench load", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="facts per second")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds (the confirmation run with --find)"
    )
    parser.add_argument("--find", action="store_true", help="search the highest rate held")
    parser.add_argument("--step", type=float, default=15.0, help="seconds per search step")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with bench_settings(durable=True, clock="virtual") as settings:
        env_ports = {"pathways": settings.http.pathways_port, "notifications": settings.http.notifications_port,
                     "projections": settings.http.projections_port}  # fmt: skip
        with (
            relay_process(settings),
            service_process(
                settings, "parcours.cli", env_ports["pathways"], "serve", "pathways"
            ) as base,
            service_process(
                settings, "parcours.cli", env_ports["notifications"], "serve", "notifications"
            ),
            service_process(
                settings, "parcours.cli", env_ports["projections"], "serve", "projections"
            ),
        ):
            asyncio.run(drive(settings, base, args))
    return 0
