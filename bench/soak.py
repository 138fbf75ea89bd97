"""``parcours bench soak``: a steady rate for a long time; does anything grow?

The three services and the relay run as processes on durable embedded servers (or the
servers named by ``PARCOURS_DATABASE_URL`` / ``PARCOURS_NATS_URL``) with the virtual
clock, and take the simulator's traffic open loop at ``--rate`` facts/s for ``--minutes``
(20 by default). The soak is meant at half the highest rate ``parcours bench load --find``
holds (p99 < 100 ms) on the machine: give ``--rate`` half of what it prints. The default,
50 facts/s, is an estimate for a 2-core machine, not a measurement (on a 2-core machine
shared with other work, 50 facts/s gave a p99 of 670 ms: measure yours first).

Every 5 s it samples each process's resident memory (RSS, from ``/proc``) and the
backlogs: the relay's lag (events committed, not yet on NATS) and each durable
consumer's pending messages (delivered and not acknowledged, or not yet delivered). Each
minute prints accepted/s, p50/p99, errors, the largest backlogs and the RSS of each
process; at the end, each process's RSS growth from the end of the first minute to the
end, the backlog of the first and the last minute, and the spread of p99 over the
minutes. ``soak()`` returns the figures for the short form in the fault suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.environment import bench_settings, relay_process, service_process
from bench.load import Run, Traffic, _clock, one_run
from contracts.subjects import Subjects
from parcours import natsio
from parcours.eventstore import EventStore
from parcours.settings import Settings

SAMPLE_EVERY = 5.0
DEFAULT_RATE = 50.0


@dataclass
class Minute:
    run: Run
    rss_mb: dict[str, float] = field(default_factory=dict)  # at the end of the minute
    relay_lag: int = 0  # the largest seen in the minute
    pending: dict[str, int] = field(default_factory=dict)  # the largest seen, per consumer


@dataclass
class Soak:
    rate: float
    minutes: list[Minute] = field(default_factory=list)
    start_rss_mb: dict[str, float] = field(default_factory=dict)  # before the load
    drained_in: float | None = None  # seconds after the load until every backlog was 0

    def growth_mb(self, since_minute: int = 0) -> dict[str, float]:
        """RSS growth to the end, from before the load (0) or from the end of a minute."""
        if not self.minutes:
            return {}
        first = self.minutes[since_minute - 1].rss_mb if since_minute else self.start_rss_mb
        last = self.minutes[-1].rss_mb
        return {name: last[name] - first[name] for name in last if name in first}

    def backlog(self, minute: Minute) -> int:
        return minute.relay_lag + sum(minute.pending.values())

    @property
    def errors(self) -> int:
        return sum(m.run.errors for m in self.minutes)

    def lines(self) -> list[str]:
        out = [
            f"soak at {self.rate:.0f} facts/s for {len(self.minutes)} min "
            "(RSS in MB at the end of each minute)"
        ]
        for n, m in enumerate(self.minutes, 1):
            rss = "  ".join(f"{k} {v:.0f}" for k, v in sorted(m.rss_mb.items()))
            out.append(
                f"min {n:3d}: {m.run.accepted / m.run.duration:6.1f}/s  p50 {m.run.p(50):6.1f} ms"
                f"  p99 {m.run.p(99):7.1f} ms  errors {m.run.errors}  relay lag ≤ {m.relay_lag}"
                f"  pending ≤ {sum(m.pending.values())}  RSS {rss}"
            )
        if self.minutes:
            p99s = [m.run.p(99) for m in self.minutes]
            start = "  ".join(f"{k} {v:.0f}" for k, v in sorted(self.start_rss_mb.items()))
            out.append(f"RSS before the load (MB): {start}")
            for since in (0, 1) if len(self.minutes) > 1 else (0,):
                growth = self.growth_mb(since)
                text = "  ".join(f"{k} {v:+.1f}" for k, v in sorted(growth.items()))
                origin = f"the end of minute {since}" if since else "before the load"
                out.append(f"RSS growth from {origin} to the end (MB): {text}")
            out.append(
                f"backlog (relay lag + consumer pending, the largest): first minute "
                f"{self.backlog(self.minutes[0])}, last minute {self.backlog(self.minutes[-1])}"
            )
            out.append(f"p99 per minute: {min(p99s):.1f} to {max(p99s):.1f} ms")
            out.append(f"errors: {self.errors}; drained {self.drained_in} s after the load")
        return out


def children() -> dict[str, int]:
    """This process's children that serve Parcours: ``{"pathways": pid, …}``."""
    found: dict[str, int] = {}
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and b"serve" in cmdline:
            found[cmdline[cmdline.index(b"serve") + 1].decode()] = int(entry.name)
    return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Every ``SAMPLE_EVERY`` seconds: RSS of each process, relay lag, consumer pending."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rss: dict[str, float] = {}
        self.relay_lag = 0
        self.pending: dict[str, int] = {}
        self.sampled = asyncio.Event()  # once every process was sampled

    def reset(self) -> None:
        self.relay_lag, self.pending = 0, {}

    async def backlogs(self, conn: asyncpg.Connection, js) -> tuple[int, dict[str, int]]:  # type: ignore[no-untyped-def]
        lag = int(await EventStore(conn).backlog("relay"))
        pending: dict[str, int] = {}
        stream = Subjects(self.settings.nats.prefix).events_stream
        for info in await js.consumers_info(stream):
            name = info.name.rsplit("-t", 1)[0]  # the consumer, whatever its term
            waiting = (info.num_pending or 0) + (info.num_ack_pending or 0)
            pending[name] = pending.get(name, 0) + waiting
        return lag, pending

    async def run(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self.settings.database.url)
        nc = await natsio.connect(self.settings, "bench-soak")
        try:
            while not stop.is_set():
                for name, pid in children().items():
                    with contextlib.suppress(OSError):
                        self.rss[name] = rss_mb(pid)
                lag, pending = await self.backlogs(conn, nc.jetstream())
                self.relay_lag = max(self.relay_lag, lag)
                for name, n in pending.items():
                    self.pending[name] = max(self.pending.get(name, 0), n)
                self.sampled.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
        finally:
            await nc.close()
            await conn.close()

    async def drained(self, within: float = 300.0) -> float | None:
        """Seconds until the relay lag and every consumer's pending are 0 (None: never)."""
        started = time.monotonic()
        conn = await asyncpg.connect(self.settings.database.url)
        nc = await natsio.connect(self.settings, "bench-soak-drain")
        try:
            while time.monotonic() - started < within:
                lag, pending = await self.backlogs(conn, nc.jetstream())
                if lag == 0 and not any(pending.values()):
                    return round(time.monotonic() - started, 1)
                await asyncio.sleep(0.5)
            return None
        finally:
            await nc.close()
            await conn.close()


async def soak_on(settings: Settings, base: str, rate: float, minutes: int, seed: int) -> Soak:
    traffic = Traffic(settings, base, seed)
    await traffic.refill(int(rate * 60 * minutes) + 100, await _clock(traffic))
    result, sampler, stop = Soak(rate), Sampler(settings), asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))
    await asyncio.wait([asyncio.create_task(sampler.sampled.wait()), sampling], timeout=30)
    result.start_rss_mb = dict(sampler.rss)  # the processes before the load
    try:
        for _ in range(minutes):
            sampler.reset()
            run = await one_run(settings, traffic, rate, 60.0)
            minute = Minute(run, dict(sampler.rss), sampler.relay_lag, dict(sampler.pending))
            result.minutes.append(minute)
            print(_minute_line(result), flush=True)
    finally:
        stop.set()
        await sampling
    result.drained_in = await sampler.drained()
    return result


def _minute_line(result: Soak) -> str:
    return result.lines()[len(result.minutes)]


def soak(rate: float = DEFAULT_RATE, minutes: int = 20, seed: int = 1) -> Soak:
    """Start the services on fresh servers and soak them (the short form's entry point)."""
    with bench_settings(durable=True, clock="virtual") as settings:
        ports = settings.http
        with (
            relay_process(settings),
            service_process(
                settings, "parcours.cli", ports.pathways_port, "serve", "pathways"
            ) as base,
            service_process(
                settings, "parcours.cli", ports.notifications_port, "serve", "notifications"
            ),
            service_process(
                settings, "parcours.cli", ports.projections_port, "serve", "projections"
            ),
        ):
            return asyncio.run(soak_on(settings, base, rate, minutes, seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench soak", description=__doc__)
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="facts per second (half the rate held)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = soak(args.rate, args.minutes, args.seed)
    print("\n".join(result.lines()[len(result.minutes) + 1 :]))
    return 0 if result.errors == 0 and result.drained_in is not None else 1
