"""``parcours bench engine``: how fast the pathway engine enrols and fires timers.

On fresh embedded servers (durable PostgreSQL, fsync on), with the pathways
service in its own process (virtual clock, starting before the discharges):

1. enrol ``--facts`` heart-failure discharges (default 10,000) through
   ``POST /v1/facts:batch`` (``--batch-size`` facts a request, ``--concurrency``
   requests in flight); each discharge is recorded with its enrolment and its
   19 ``TaskScheduled`` events. Printed: facts/s until every batch answered,
   then facts/s until the timer index has also stored every task's timers;
2. fire ``--timers`` timers (default 100,000) with the virtual clock: one
   ``POST /v1/admin/clock/advance`` to the instant of the N-th pending timer,
   which fires every timer due on the way, in order. Timers fired are counted
   from the ``timers`` table. Printed: timers/s.

Targets: >= 5,000 facts/s enrolled with their tasks scheduled, >= 10,000 timers/s.
``parcours bench engine --facts 1000 --timers 5000`` runs small.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import uuid

import asyncpg
import msgspec

from bench.environment import bench_settings, relay_process, service_process
from bench.httpload import Connection
from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.auth import mint
from parcours.eventstore import EventStore

T0 = dt.datetime(2026, 3, 2, 13, tzinfo=dt.UTC)  # the first discharge


def discharge(n: int) -> dict:
    at = T0 + dt.timedelta(minutes=n % 1380)  # spread over 23 hours (facts are not dated ahead)
    return {
        "type": "DischargeReported",
        "event_id": str(uuid.uuid4()),
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID, "commune": "75114"},
        "admitted_at": (at - dt.timedelta(days=6)).isoformat(),
        "discharged_at": at.isoformat(),
        "diagnoses": ["I50.1"],
        "finess": "750712184",
    }


async def enrol(
    host: str, port: int, token: str, facts: int, batch_size: int, concurrency: int
) -> tuple[float, dict[int, int]]:
    bodies = [
        b"\n".join(msgspec.json.encode(discharge(n)) for n in range(s, min(s + batch_size, facts)))
        for s in range(0, facts, batch_size)
    ]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    statuses: dict[int, int] = {}
    queue = list(reversed(bodies))

    async def client() -> None:
        conn = Connection(host, port)
        try:
            while queue:
                body = queue.pop()
                status, payload, _ = await conn.request("POST", "/v1/facts:batch", body, headers)
                if status != 200:
                    raise RuntimeError(f"batch answered {status}: {payload[:300]!r}")
                for r in msgspec.json.decode(payload)["results"]:
                    statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, statuses


async def wait_for_timer_index(url: str, limit_seconds: float = 600) -> None:
    """Until the timer index has read every event (its checkpoint is at the store's head)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            caught_up = await EventStore(conn).caught_up("pathways-timers", ["TaskScheduled"])
            if caught_up:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the timer index did not catch up")
    finally:
        await conn.close()


async def fire(host: str, port: int, token: str, url: str, timers: int) -> tuple[float, int, int]:
    conn = await asyncpg.connect(url)
    try:
        pending = await conn.fetchval("SELECT count(*) FROM timers WHERE fired_at IS NULL")
        target = await conn.fetchval(
            "SELECT fire_at FROM timers WHERE fired_at IS NULL ORDER BY fire_at, key "
            "OFFSET $1 LIMIT 1",
            min(timers, pending) - 1,
        )
        body = msgspec.json.encode({"to": target.isoformat()})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        http = Connection(host, port)
        start = time.perf_counter()
        status, payload, _ = await http.request("POST", "/v1/admin/clock/advance", body, headers)
        elapsed = time.perf_counter() - start
        http.close()
        if status != 200:
            raise RuntimeError(f"advance answered {status}: {payload[:300]!r}")
        fired = await conn.fetchval("SELECT count(*) FROM timers WHERE fired_at IS NOT NULL")
        events = await EventStore(conn).count(
            ["TaskOverdue", "EscalationRaised", "ReminderDue", "EnrolmentClosed", "TaskCancelled"]
        )
        return elapsed, fired, events
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench engine", description=__doc__)
    parser.add_argument("--facts", type=int, default=10_000)
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)

    with bench_settings(
        durable=True, clock="virtual", clock_start=T0 - dt.timedelta(hours=1)
    ) as settings:
        port, host = settings.http.pathways_port, settings.http.host
        with (
            relay_process(settings),
            service_process(settings, "parcours.cli", port, "serve", "pathways"),
        ):
            facts_token = mint(settings, sub="BENCH-DPI", role="discharge-system", cpts="demo")
            admin = mint(settings, sub="BENCH-ADMIN", role="admin", cpts="demo")
            start = time.perf_counter()
            answered, statuses = asyncio.run(
                enrol(host, port, facts_token, args.facts, args.batch_size, args.concurrency)
            )
            asyncio.run(wait_for_timer_index(settings.database.url))
            indexed = time.perf_counter() - start
            elapsed, fired, events = asyncio.run(
                fire(host, port, admin, settings.database.url, args.timers)
            )
            scheduled = asyncio.run(_count(settings.database.url))

    print(
        f"facts posted             {args.facts} in batches of {args.batch_size} x{args.concurrency}"
    )
    print(f"  item statuses          {dict(sorted(statuses.items()))}")
    print(f"  tasks scheduled        {scheduled[0]} TaskScheduled, {scheduled[1]} timers")
    print(f"  enrolled (committed)   {args.facts / answered:9.0f} facts/s  ({answered:.2f} s)")
    print(
        f"  + timers indexed       {args.facts / indexed:9.0f} facts/s  ({indexed:.2f} s)  (target >= 5000)"
    )
    print(f"timers fired             {fired} in {elapsed:.2f} s ({events} events decided)")
    print(f"  rate                   {fired / elapsed:9.0f} timers/s  (target >= 10000)")
    return 0


async def _count(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        tasks = await EventStore(conn).count(["TaskScheduled"])
        timers = await conn.fetchval("SELECT count(*) FROM timers")
        return tasks, timers
    finally:
        await conn.close()
