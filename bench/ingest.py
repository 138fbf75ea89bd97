"""``parcours bench ingest``: how fast facts are durably accepted.

In one run, on one machine, against the same durable PostgreSQL (fsync on):
1. the ceiling: a no-op POST on the same HTTP stack (same auth, same body decoding);
2. durable single-fact ``POST /v1/facts`` with 32 concurrent clients (a lab result for a
   new patient: one event; how many were written by group commit is printed); then heart-failure discharges, each of which enrols the
   patient and schedules ~20 tasks (informative; ``bench engine`` measures that path);
3. the floor: appends in batches of 500 through the event store (by COPY, and by the
   one-statement INSERT smaller batches use) against raw asyncpg ``executemany`` and raw
   binary COPY into an identical table (COPY being the physical limit of an append).
Targets: 2 >= 0.5 x 1, and batched append >= 0.7 x raw COPY.
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
from bench.httpload import Connection, closed_loop
from contracts.events import Actor, NewEvent
from contracts.facts import DischargeReported
from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.auth import mint
from parcours.eventstore import NO_STREAM, EventStore, writes

T0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)


def discharge_body(n: int) -> bytes:
    return msgspec.json.encode(
        {
            "type": "DischargeReported",
            "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
            "admitted_at": "2026-03-01T09:00:00Z",
            "discharged_at": "2026-03-08T14:00:00Z",
            "diagnoses": ["I50.1"],
            "finess": "750712184",
        }
    )


def lab_result_body(n: int) -> bytes:
    """A fact that enrols nobody: one event, no consequences."""
    return msgspec.json.encode(
        {
            "type": "LabResultReported",
            "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
            "collected_at": "2026-03-08T14:00:00Z",
            "loinc": "2160-0",
            "value": 82.0,
            "unit": "umol/L",
        }
    )


def _event(i: int) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        data=DischargeReported(
            admitted_at=T0, discharged_at=T0, diagnoses=["I50.1"], finess="750712184"
        ),
        occurred_at=T0,
        correlation_id=f"bench-{i}",
        actor=Actor(id="BENCH", role="discharge-system"),
        cpts="demo",
    )


async def batched_appends(url: str, batches: int, size: int) -> tuple[float, float, float, float]:
    """events/s through EventStore.append vs raw executemany and raw binary COPY into an
    identical table (same indexes, same trigger), alternating batches."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    await pool.execute(
        """CREATE TABLE events_raw (LIKE events INCLUDING ALL);
           CREATE TRIGGER events_raw_notify AFTER INSERT ON events_raw
               FOR EACH STATEMENT EXECUTE FUNCTION parcours_events_notify();"""
    )
    store = EventStore(pool)
    ours = raw = copied = inserted = 0.0
    insert_raw = """INSERT INTO events_raw (event_id, stream, version, type, cpts, occurred_at,
                    correlation_id, causation_id, actor_id, actor_role, data)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)"""
    for b in range(batches):
        events = [_event(i) for i in range(size)]
        stream = f"bench-{b}"
        rows = [writes.event_record(e, stream, i + 1) for i, e in enumerate(events)]
        start = time.perf_counter()
        async with pool.acquire() as conn:
            await conn.executemany(insert_raw, rows)
        raw += time.perf_counter() - start
        await pool.execute("DELETE FROM events_raw")  # the COPY reuses the same rows
        start = time.perf_counter()
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(
                "events_raw", records=rows, columns=writes.EVENT_COLUMNS
            )
        copied += time.perf_counter() - start
        start = time.perf_counter()
        await store.append(stream, NO_STREAM, events)
        ours += time.perf_counter() - start
        events = [_event(i) for i in range(size)]
        writes.COPY_FROM, copy_from = size + 1, writes.COPY_FROM
        start = time.perf_counter()
        await store.append(f"{stream}-insert", NO_STREAM, events)
        inserted += time.perf_counter() - start
        writes.COPY_FROM = copy_from
    await pool.close()
    total = batches * size
    return total / ours, total / inserted, total / raw, total / copied


async def _group_commit_stats(host: str, port: int, headers: dict[str, str]) -> dict[str, int]:
    conn = Connection(host, port)
    try:
        _, body, _ = await conn.request("GET", "/bench/group-commit", b"", headers)
        return msgspec.json.decode(body)
    finally:
        conn.close()


def _server_choices(text: str) -> list[tuple[str, int]]:
    choices = []
    for part in text.split(","):
        name, _, workers = part.strip().partition(":")
        if name not in ("uvicorn", "granian"):
            raise argparse.ArgumentTypeError(f"unknown HTTP server {name!r}: uvicorn or granian")
        choices.append((name, int(workers or 1)))
    return choices


def _http_phases(settings, headers: dict[str, str], server: tuple[str, int], args) -> None:  # noqa: ANN001
    """The no-op ceiling, durable facts and enrolling discharges on one HTTP server."""
    port, host = settings.http.pathways_port, settings.http.host
    name, workers = server
    base = 10**7
    with service_process(settings, "bench.ingest_server", port, name, str(workers)):
        noop = asyncio.run(
            closed_loop(host, port, path="/bench/noop", make_body=discharge_body,
                        headers=headers, concurrency=args.concurrency, duration=args.duration)
        )  # fmt: skip
        durable = asyncio.run(
            closed_loop(host, port, path="/v1/facts", make_body=lambda n: lab_result_body(base + n),
                        headers=headers, concurrency=args.concurrency, duration=args.duration)
        )  # fmt: skip
        grouping = asyncio.run(_group_commit_stats(host, port, headers))
        enrolling = asyncio.run(
            closed_loop(host, port, path="/v1/facts",
                        make_body=lambda n: discharge_body(base + 5 * 10**6 + n),
                        headers=headers, concurrency=args.concurrency, duration=args.duration)
        )  # fmt: skip
    print(f"-- {name}, {workers} worker{'s' if workers > 1 else ''}")
    print(f"no-op POST (ceiling)      {noop.summary()}")
    print(f"POST /v1/facts (durable)  {durable.summary()}")
    print(f"  ratio durable / no-op   {durable.rate / noop.rate:.2f}  (target >= 0.50)")
    groups, grouped = grouping["groups"], grouping["grouped"]
    print(
        f"  group commit            {grouped} facts in {groups} groups "
        f"({grouped / max(groups, 1):.1f} a group), {grouping['single']} alone"
        + ("  (one worker's)" if workers > 1 else "")
    )
    print(f"enrolling discharges      {enrolling.summary()}")
    print("  (each: the fact + ~20 task and enrolment events, relayed and indexed for timers)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench ingest", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per HTTP phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--server", type=_server_choices, default=[("uvicorn", 1)],
        help="HTTP servers to measure, one after the other: uvicorn:1,granian:2 (name:workers)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    for server in args.server:  # each server on fresh servers: nothing left to catch up
        with bench_settings(durable=True) as settings, relay_process(settings):
            token = mint(settings, sub="BENCH-DPI", role="discharge-system", cpts="demo")
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            _http_phases(settings, headers, server, args)
    with bench_settings(durable=True) as settings:
        ours, inserted, raw, copied = asyncio.run(
            batched_appends(settings.database.url, args.batches, args.batch_size)
        )
    print(
        f"batched append x{args.batch_size}     {ours:9.0f} events/s  (COPY from {writes.COPY_FROM})"
    )
    print(f"  same by one INSERT      {inserted:9.0f} events/s")
    print(f"raw executemany x{args.batch_size}    {raw:9.0f} events/s")
    print(f"raw binary COPY x{args.batch_size}    {copied:9.0f} events/s")
    print(f"  ratio append / executemany {ours / raw:.2f}")
    print(f"  ratio append / raw COPY    {ours / copied:.2f}  (target >= 0.70)")
    return 0
