"""``parcours bench scale [--enrolments N | --sizes 10000,100000,1000000]``: territory-scale data.

Per size, on fresh embedded servers (durable PostgreSQL unless ``--fast``):

1. load: N enrolments of synthetic history (``bench.scale_history``: stories played
   through the real decider, re-stamped) over 1,000 CPTS and 3 years, by COPY
   (``parcours.eventstore.bulk.load_history``: indexes built once at the end);
2. rebuild each view (``parcours projections rebuild --view …``'s code path): events/s;
3. catch-up: a tail of fresh enrolments (the last 30 days' worth of anchors) is COPYed
   on top (indexes live), relayed to JetStream, then (a) a bare pull+ack consumer
   reads it (the physical limit of NATS for a consumer) and (b) the live view
   consumer applies it to the three views: stream events/s (each event counted once);
4. queries through the projections HTTP API, the service as its own process, one
   request at a time: indicator list and detail, case list, patient timeline, pool
   worklist and coordinator worklist (p50/p95), next to the no-op ``GET /health/live``;
5. disk per enrolment: ``events`` (heap+TOAST, indexes), each view's tables.

A table is printed per size, and with ``--svg PATH`` the plot of cost against size.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import time
import uuid
from pathlib import Path

from bench.environment import bench_settings, service_process
from bench.httpload import Connection
from bench.nats_limit import nats_pull_ack
from bench.scale_history import Territory, build_templates, cpts_code, history_rows, zone_code
from bench.scale_plot import Panel, svg
from parcours.eventstore.bulk import load_history, relation_disk

VIEWS = ("timeline", "care", "indicators")
TARGET_P95_MS = 20.0
TARGET_REBUILD = 30_000
TARGET_CATCH_UP = 15_000


def say(text: str) -> None:
    print(text, flush=True)


class Timed:
    """An iterator whose own time (generating rows) is counted apart from the COPY's."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.seconds = inner, 0.0

    def __iter__(self):  # type: ignore[no-untyped-def]
        return self

    def __next__(self):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return next(self.inner)
        finally:
            self.seconds += time.perf_counter() - t


def _catalog(settings):  # type: ignore[no-untyped-def]
    from pathways.domain import ProtocolCatalog

    folder = (
        settings.protocols_dir
        or Path(__file__).resolve().parents[1] / "services" / "pathways" / "protocols"
    )
    return ProtocolCatalog.load_dir(folder)


async def load(pool, templates, n, end, seed, days=None, sample=None, chunk=2000):  # type: ignore[no-untyped-def]
    rows = Timed(
        history_rows(*templates, n, end, Territory(), seed, chunk, days=days, sample=sample)
    )
    async with pool.acquire() as conn:
        result = await load_history(conn, rows)
    return result, rows.seconds


async def disk(pool, views) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    out = {}
    async with pool.acquire() as conn:
        d = await relation_disk(conn, "events")
        out["events"] = (d.table, d.indexes)
        for name, view in views.items():
            parts = [await relation_disk(conn, t) for t in view.tables]
            out[name] = (sum(p.table for p in parts), sum(p.indexes for p in parts))
    return out


async def read_limit(pool) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """A rebuild's physical limit: its own read of every event (the same cursor, pages and
    payload decoding), applying nothing. Returns (events, seconds)."""
    from parcours.eventstore import Checkpoint, stream_visible_events

    done, started = 0, time.perf_counter()
    async for items in stream_visible_events(pool, Checkpoint(), 5000):
        done += len(items)
    return done, time.perf_counter() - started


async def store_latency(pool, streams: list[str], rounds: int) -> dict:  # type: ignore[no-untyped-def]
    """The write path's own reads and writes at this size, one at a time: a patient's whole
    stream (the fold before deciding), and one durable append of one event to a stream."""
    from contracts.events import Actor, NewEvent
    from contracts.facts import ConsultationReported
    from parcours.eventstore import ANY, EventStore

    store, rng = EventStore(pool), random.Random(5)
    picked = [rng.choice(streams) for _ in range(rounds + 10)]
    out: dict[str, tuple[float, float, float]] = {}
    samples, sizes = [], []
    for i, stream in enumerate(picked):
        t = time.perf_counter()
        events = await store.read_stream(stream)
        if i >= 10:
            samples.append((time.perf_counter() - t) * 1000)
            sizes.append(len(events))
    out["read a patient stream"] = _percentiles(samples, sizes)
    samples = []
    at = dt.datetime.now(dt.UTC)
    for i, stream in enumerate(picked):
        event = NewEvent(
            event_id=uuid.uuid4(),
            data=ConsultationReported(consulted_at=at, role="gp", rpps="10000000009"),
            occurred_at=at,
            correlation_id="bench-scale",
            actor=Actor(id="bench", role="service"),
            cpts="cpts-0001",
        )
        t = time.perf_counter()
        await store.append(stream, ANY, [event])
        if i >= 10:
            samples.append((time.perf_counter() - t) * 1000)
    out["append one event (durable)"] = _percentiles(samples, [0])
    return out


def _percentiles(samples: list[float], sizes: list[int]) -> tuple[float, float, float]:
    samples = sorted(samples)
    return (
        samples[len(samples) // 2],
        samples[int(0.95 * (len(samples) - 1))],
        sum(sizes) / len(sizes),
    )


async def catch_up(settings, resources, views, templates, tail: int, end: dt.date, seed: int):  # type: ignore[no-untyped-def]
    from bench.projections import catch_up as run_consumers
    from bench.projections import relay_all
    from parcours.eventstore import EventStore

    store = EventStore(resources.pool)
    await store.save_checkpoint("relay", await store.head())  # relay the tail only
    # small transactions, as live appends make them: the consumers look up each event's
    # transaction's latest recorded_at, a scan of the whole transaction (a 2,000-enrolment
    # COPY is ~96,000 rows: at 100,000 enrolments every 5,000-event batch then outran the
    # pool's 30 s command timeout, and the catch-up never finished)
    result, _ = await load(resources.pool, templates, tail, end, seed + 1, days=30, chunk=20)
    relay_s = await relay_all(settings, resources.pool, result.rows)
    pull_s = await nats_pull_ack(resources, result.rows)
    head = await store.head()
    seconds = await run_consumers(resources, views, (head.txid, head.position))
    return result, relay_s, pull_s, seconds


async def queries(settings, pool, catalog, rounds: int, end: dt.date, seed: int) -> dict:  # type: ignore[no-untyped-def]
    from parcours.auth import mint
    from projections.app import load_catalog

    rng = random.Random(seed)
    indicators = load_catalog(settings)
    protocols = [p for p in indicators.newest.values() if p.indicators]
    n = rounds + 10
    patients = await pool.fetch(
        "SELECT patient_id, cpts FROM proj_enrolments ORDER BY random() LIMIT $1", n
    )
    cpts = [cpts_code(rng.randrange(1000)) for _ in range(n)]
    months = [(end - dt.timedelta(days=rng.randrange(3 * 365))) for _ in range(n)]

    def indicator_urls(kind: str) -> list[tuple[str, str]]:
        out = []
        for c, day in zip(cpts, months, strict=True):
            p = rng.choice(protocols)
            code = rng.choice(p.indicators).code
            month = f"{day.year}-{day.month:02d}"
            quarter = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
            url = {
                "indicator list": f"/v1/indicators?protocol={p.id}&period={quarter}",
                "indicator detail": f"/v1/indicators/{code}?period={month}",
                "case list": f"/v1/indicators/{code}/cases?period={quarter}",
            }[kind]
            out.append((c, url))
        return out

    host, port = settings.http.host, settings.http.projections_port
    conn = Connection(host, port)
    out: dict[str, tuple[float, float]] = {}
    try:
        out["no-op /health/live"] = await _several(conn, [("/health/live", None)] * n)
        for kind in ("indicator list", "indicator detail", "case list"):
            samples = []
            for c, url in indicator_urls(kind):  # one token per CPTS: the queries are per tenant
                samples.append((url, mint(settings, sub="AUDIT-BENCH", role="auditor", cpts=c)))
            out[kind] = await _several(conn, samples)
        timeline = [
            (
                f"/v1/patients/{r['patient_id']}/timeline",
                mint(settings, sub="COORD-BENCH", role="coordinator", cpts=r["cpts"]),
            )
            for r in patients
        ]
        out["patient timeline"] = await _several(conn, timeline)
        pages = await pool.fetchrow(
            """SELECT avg(pages) AS pages, avg(n) AS n FROM (
                 SELECT count(DISTINCT (t.ctid::text::point)[0]) AS pages, count(*) AS n
                 FROM timeline t JOIN unnest($1::text[], $2::uuid[]) AS s(cpts, patient_id)
                   ON t.cpts = s.cpts AND t.patient_id = s.patient_id
                 GROUP BY t.cpts, t.patient_id) per_patient""",
            [r["cpts"] for r in patients],
            [r["patient_id"] for r in patients],
        )
        locality = (float(pages["pages"]), float(pages["n"]))
        pool_urls = []
        for c in cpts:
            index = int(c.split("-")[1]) - 1
            zone = zone_code(index, rng.randrange(Territory().zones))
            token = mint(settings, sub="COORD-BENCH", role="coordinator", cpts=c)
            pool_urls.append((f"/v1/worklists/pool/gp/{zone}", token))
        out["pool worklist"] = await _several(conn, pool_urls)
        coordinator = [
            (
                "/v1/worklists/coordinator",
                mint(settings, sub="COORD-BENCH", role="coordinator", cpts=c),
            )
            for c in cpts
        ]
        out["coordinator worklist"] = await _several(conn, coordinator)
    finally:
        conn.close()
    return out, locality


async def _several(
    conn: Connection, requests: list[tuple[str, str | None]]
) -> tuple[float, float, float]:
    """p50 and p95 (ms) of these requests, one at a time on one kept-alive connection
    (the first 10 are a warm-up), and the mean answer size (bytes)."""
    samples, sizes = [], []
    for i, (url, token) in enumerate(requests):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        t = time.perf_counter()
        status, body, _ = await conn.request("GET", url, b"", headers)
        elapsed = (time.perf_counter() - t) * 1000
        if status != 200:
            raise RuntimeError(f"GET {url.split('?')[0]} answered {status}: {body[:200]!r}")
        if i >= 10:
            samples.append(elapsed)
            sizes.append(len(body))
    return _percentiles(samples, sizes)


async def one_size(args: argparse.Namespace, settings, n: int) -> dict:  # type: ignore[no-untyped-def]
    """Every figure of one size, printed as it is measured (a run stopped early keeps them)."""
    from parcours.service import open_resources
    from projections.app import load_catalog
    from projections.cli import rebuild_views
    from projections.views import build_views

    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    fig: dict = {"enrolments": n}
    catalog = _catalog(settings)
    templates = build_templates(catalog, per_protocol=8)
    views = build_views(settings.auth.pseudonym_secret, load_catalog(settings))
    async with open_resources(settings, "bench-scale") as resources:
        pool = resources.pool
        memory = await pool.fetch(
            "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name IN "
            "('shared_buffers', 'effective_cache_size', 'work_mem', 'max_wal_size') ORDER BY 1"
        )
        say(f"[{n:,}] PostgreSQL: " + ", ".join(f"{r['name']}={r['value']}" for r in memory))
        streams: list[str] = []
        result, gen_s = await load(pool, templates, n, end, args.seed, sample=streams)
        copy_s = result.copy_seconds - gen_s
        fig.update(events=result.rows, copy_s=copy_s, gen_s=gen_s, index_s=result.index_seconds)
        say(
            f"[{n:,}] loaded {result.rows:,} events ({result.rows / n:.1f}/enrolment): "
            f"COPY {result.rows / copy_s:,.0f} rows/s ({copy_s:.1f}s, rows generated apart "
            f"in {gen_s:.1f}s), indexes built in {result.index_seconds:.1f}s"
        )
        fig["disk"] = await disk(pool, views)
        ev_t, ev_i = fig["disk"]["events"]
        say(f"[{n:,}] events on disk: {ev_t / n:,.0f} B/enrolment heap, {ev_i / n:,.0f} B indexes")
        if args.store_only:
            fig["store"] = await store_latency(pool, streams, args.queries)
            _say_latencies(n, fig["store"])
            return fig
        read, read_s = await read_limit(pool)
        fig["read_limit"] = read / read_s
        say(
            f"[{n:,}] rebuild read limit: {read / read_s:,.0f} events/s read and decoded, none applied"
        )
        for r in await rebuild_views(
            settings, list(VIEWS), batch=5000, show_progress=args.progress
        ):
            fig[f"rebuild {r.view}"] = (r.seconds, r.rate)
            say(
                f"[{n:,}] rebuild {r.view}: {r.events:,} events in {r.seconds:.1f}s: "
                f"{r.rate:,.0f} events/s [target >= {TARGET_REBUILD:,} at 100k]"
            )
        await pool.execute("VACUUM ANALYZE")
        fig["disk"] = await disk(pool, views)
        tail = max(10, min(n // 20, args.tail))
        loaded, relay_s, pull_s, cu_s = await catch_up(
            settings, resources, views, templates, tail, end, args.seed
        )
        fig.update(
            tail_events=loaded.rows, pull_rate=loaded.rows / pull_s, catch_up=loaded.rows / cu_s
        )
        say(
            f"[{n:,}] catch-up: {loaded.rows:,} new events ({tail:,} enrolments) on top, "
            f"relayed in {relay_s:.1f}s; NATS pull+ack {loaded.rows / pull_s:,.0f} msg/s "
            f"(limit); three views {loaded.rows / cu_s:,.0f} stream events/s "
            f"= {loaded.rows / cu_s / (loaded.rows / pull_s):.2f} of the limit "
            f"[target >= {TARGET_CATCH_UP:,}]"
        )
        await pool.execute("VACUUM ANALYZE")
        port = settings.http.projections_port
        with service_process(settings, "parcours.cli", port, "serve", "projections"):
            fig["queries"], fig["timeline_pages"] = await queries(
                settings, pool, catalog, args.queries, end, args.seed
            )
        _say_latencies(n, fig["queries"], "B answers")
        pages, rows = fig["timeline_pages"]
        say(f"[{n:,}] timeline locality: a patient's {rows:.1f} rows on {pages:.1f} heap pages")
        fig["store"] = await store_latency(pool, streams, args.queries)  # last: it appends
        _say_latencies(n, fig["store"], "events read")
    return fig


def _say_latencies(n: int, figures: dict, unit: str = "events read") -> None:
    for name, (p50, p95, size) in figures.items():
        say(f"[{n:,}] {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({size:,.0f} {unit})")


def table(fig: dict) -> str:
    n = fig["enrolments"]
    lines = [
        f"== scale: {n:,} enrolments, {fig['events']:,} events, 1,000 CPTS, 3 years ==",
        f"{'load (COPY)':<28}{fig['events'] / fig['copy_s']:>12,.0f} rows/s"
        f"   (+ index build {fig['index_s']:.1f} s)",
    ]
    if "read_limit" in fig:
        lines.append(
            f"{'rebuild read limit':<28}{fig['read_limit']:>12,.0f} events/s (nothing applied)"
        )
    for v in VIEWS:
        if f"rebuild {v}" in fig:
            seconds, rate = fig[f"rebuild {v}"]
            share = f" ({rate / fig['read_limit']:.2f} of the limit)" if "read_limit" in fig else ""
            lines.append(f"{'rebuild ' + v:<28}{rate:>12,.0f} events/s {seconds:8.1f} s{share}")
    if "catch_up" in fig:
        lines.append(f"{'NATS pull+ack (limit)':<28}{fig['pull_rate']:>12,.0f} msg/s")
        lines.append(
            f"{'catch-up, 3 views':<28}{fig['catch_up']:>12,.0f} stream events/s "
            f"({fig['catch_up'] / fig['pull_rate']:.2f} of the limit)"
        )
    lines.append(f"{'one at a time':<28}{'p50 ms':>12}{'p95 ms':>10}{'size':>10}")
    for name, (p50, p95, size) in {**fig.get("queries", {}), **fig.get("store", {})}.items():
        lines.append(f"  {name:<26}{p50:>12.1f}{p95:>10.1f}{size:>10,.0f}")
    if "timeline_pages" in fig:
        pages, rows = fig["timeline_pages"]
        lines.append(f"{'timeline heap pages':<28}{pages:>12.1f} per patient ({rows:.1f} rows)")
    lines.append(f"{'disk per enrolment':<28}{'table B':>12}{'indexes B':>10}")
    for name, (t, i) in fig["disk"].items():
        lines.append(f"  {name:<26}{t / n:>12,.0f}{i / n:>10,.0f}")
    return "\n".join(lines)


def plot(figs: list[dict], caption: str) -> str:
    q = Panel("p95, one request at a time", "ms")
    r = Panel("full rebuild time", "seconds")
    d = Panel("disk per enrolment (table + indexes)", "bytes")
    for fig in sorted(figs, key=lambda f: f["enrolments"]):
        n = fig["enrolments"]
        for name, (_, p95, _) in {**fig.get("queries", {}), **fig.get("store", {})}.items():
            if not name.startswith("no-op"):
                q.series.setdefault(name, []).append((n, p95))
        for v in VIEWS:
            if f"rebuild {v}" in fig:
                r.series.setdefault(v, []).append((n, fig[f"rebuild {v}"][0]))
        for name, (t, i) in fig["disk"].items():
            d.series.setdefault(name, []).append((n, (t + i) / n))
    return svg([q, r, d], caption)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="parcours bench scale", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--enrolments", type=int, default=1_000_000)
    parser.add_argument("--sizes", default=None, help="comma-separated sizes, run in turn")
    parser.add_argument("--queries", type=int, default=200, help="requests per query kind")
    parser.add_argument("--tail", type=int, default=5000, help="enrolments of the catch-up tail")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--svg", default=None, help="write the plot of cost against size here")
    parser.add_argument(
        "--results",
        default=None,
        help="JSON lines file: each size's figures are appended; --svg then draws them all",
    )
    parser.add_argument("--fast", action="store_true", help="PostgreSQL without fsync")
    parser.add_argument(
        "--plot-only", action="store_true", help="draw --svg from --results, measure nothing"
    )
    parser.add_argument(
        "--store-only",
        action="store_true",
        help="load and measure the event store only (no views: for sizes whose views do not fit)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.enrolments]
    if args.plot_only:  # draw what --results holds, run nothing
        sizes = []
    figs: list[dict] = []
    for n in sizes:
        with bench_settings(durable=not args.fast) as settings:
            figs.append(asyncio.run(one_size(args, settings, n)))
        say(table(figs[-1]))
        if args.results:  # after each size: a run stopped later keeps the sizes done
            with open(args.results, "a") as out:
                out.write(json.dumps(figs[-1]) + "\n")
        if args.svg:
            _draw(args, figs)
    if args.plot_only and args.svg and args.results:
        _draw(args, figs)
    return 0


def _draw(args: argparse.Namespace, figs: list[dict]) -> None:
    drawn = figs
    if args.results:
        drawn = [json.loads(line) for line in Path(args.results).read_text().splitlines()]
    caption = f"parcours bench scale, {time.strftime('%Y-%m-%d')}, 2 shared cores (loaded)"
    Path(args.svg).write_text(plot(drawn, caption))


if __name__ == "__main__":
    sys.exit(main())
