"""``parcours bench peer``: our event store against the ``eventsourcing`` library's.

The same events are appended by both, in one process, on the same durable
PostgreSQL (``bench_settings(durable=True)``: fsync on, ``synchronous_commit``
on; both are read back from each connection and printed), in alternating
rounds so that drift of the machine hits both alike:

- the peer: ``eventsourcing.postgres.PostgresApplicationRecorder.insert_events``
  (psycopg 3, its own table ``peer_events``); each event's ``state`` is the
  same JSON bytes our store keeps in ``events.data``, so payload sizes match;
  its serialisation (msgspec) is inside the timed section as ours is;
- Parcours: ``EventStore.append`` (one stream per call) and
  ``EventStore.append_many`` (many streams per call).

Shapes (each appends ``--events`` events, 50,000 by default, per store):
- ``10/call``: one aggregate append of 10 events per call (a fact and its
  consequences), 5 successive appends per stream, each at its expected version;
- ``500/call``: 500 events of one stream per call;
- ``50x10/call``: 50 streams x 10 events per call (append_many; the peer
  inserts the mixed originators in one ``insert_events``);
- ``10/call xN``: the first shape with N concurrent writers (``--writers``);
  the peer takes a table lock per insert (it keeps its notification ids gap
  free that way), our store does not (see ``parcours/eventstore/``).
Target: Parcours >= 3 x the peer.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import asyncpg
import msgspec

from bench.environment import bench_settings
from contracts.events import Actor, NewEvent
from contracts.facts import DischargeReported
from parcours.eventstore import AppendRequest, EventStore

T0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
TOPIC = "contracts.facts:DischargeReported"
_json = msgspec.json.Encoder()

# one call: (stream index, expected version, events)
Call = tuple[int, int, list[NewEvent]]


def _event(n: int) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        data=DischargeReported(
            admitted_at=T0,
            discharged_at=T0 + dt.timedelta(days=n % 9),
            diagnoses=["I50.1", "E11.9"],
            finess="750712184",
            nyha_class=2 + n % 2,
        ),
        occurred_at=T0,
        correlation_id=f"bench-{n}",
        actor=Actor(id="BENCH", role="discharge-system"),
        cpts="demo",
    )


@dataclass
class Shape:
    """A batch shape: the calls to make, as groups of (stream, expected version, events)."""

    name: str
    calls: list[list[Call]]  # each call: one or more streams' shares
    writers: int = 1
    streams: list[uuid.UUID] = field(default_factory=list)


def make_shape(name: str, total: int, per_stream_call: int, streams_per_call: int,
               appends_per_stream: int, writers: int = 1) -> Shape:  # fmt: skip
    """``total`` events: calls of ``streams_per_call`` x ``per_stream_call`` events; each
    stream gets ``appends_per_stream`` successive appends (so the version check runs)."""
    per_call = per_stream_call * streams_per_call
    n_calls = total // per_call
    n_streams = max(streams_per_call, n_calls * streams_per_call // appends_per_stream)
    shape = Shape(name=name, calls=[], writers=writers,
                  streams=[uuid.uuid4() for _ in range(n_streams)])  # fmt: skip
    version = [0] * n_streams
    n = 0
    for c in range(n_calls):
        call: list[Call] = []
        for s in range(streams_per_call):
            idx = (c * streams_per_call + s) % n_streams
            events = [_event(n + i) for i in range(per_stream_call)]
            n += per_stream_call
            call.append((idx, version[idx], events))
            version[idx] += per_stream_call
        shape.calls.append(call)
    return shape


# --------------------------------------------------------------------------- the peer
class Peer:
    def __init__(self, url: str, pool_size: int) -> None:
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        u = urllib.parse.urlsplit(url)
        self.datastore = PostgresDatastore(
            dbname=u.path.lstrip("/"),
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
            user=urllib.parse.unquote(u.username or "postgres"),
            password=urllib.parse.unquote(u.password or ""),
            pool_size=pool_size,
        )
        self.recorder = PostgresApplicationRecorder(self.datastore, events_table_name="peer_events")
        self.recorder.create_table()

    def settings(self) -> tuple[str, str]:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute("SHOW fsync")
            fsync = next(iter(cur.fetchone().values()))
            cur.execute("SHOW synchronous_commit")
            sync = next(iter(cur.fetchone().values()))
        return fsync, sync

    def append(self, shape: Shape, call: list[Call]) -> None:
        from eventsourcing.persistence import StoredEvent as PeerEvent

        stored = [
            PeerEvent(
                originator_id=shape.streams[idx],
                originator_version=expected + i,
                topic=TOPIC,
                state=_json.encode(e.data),
            )
            for idx, expected, events in call
            for i, e in enumerate(events, start=1)
        ]
        self.recorder.insert_events(stored)

    def count(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM peer_events")
            return cur.fetchone()["n"]

    def close(self) -> None:
        self.datastore.close()


# --------------------------------------------------------------------------- Parcours
class Ours:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.store = EventStore(pool)

    async def append(self, shape: Shape, call: list[Call]) -> None:
        if len(call) == 1:
            idx, expected, events = call[0]
            await self.store.append(f"patient-{shape.streams[idx]}", expected, events)
            return
        results = await self.store.append_many(
            [
                AppendRequest(f"patient-{shape.streams[idx]}", expected, events)
                for idx, expected, events in call
            ]  # fmt: skip
        )
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise failed[0]


def _split(calls: Sequence[list[Call]], parts: int) -> list[list[list[Call]]]:
    """Calls in ``parts`` lanes; a stream's calls stay in one lane, in order."""
    lanes: list[list[list[Call]]] = [[] for _ in range(parts)]
    for call in calls:
        lanes[call[0][0] % parts].append(call)
    return lanes


def run_peer(peer: Peer, shape: Shape, calls: Sequence[list[Call]]) -> float:
    start = time.perf_counter()
    if shape.writers == 1:
        for call in calls:
            peer.append(shape, call)
    else:

        def lane(mine: list[list[Call]]) -> None:
            for call in mine:
                peer.append(shape, call)

        with ThreadPoolExecutor(shape.writers) as pool:
            for f in [pool.submit(lane, m) for m in _split(calls, shape.writers)]:
                f.result()
    return time.perf_counter() - start


async def run_ours(ours: Ours, shape: Shape, calls: Sequence[list[Call]]) -> float:
    start = time.perf_counter()
    if shape.writers == 1:
        for call in calls:
            await ours.append(shape, call)
    else:

        async def lane(mine: list[list[Call]]) -> None:
            for call in mine:
                await ours.append(shape, call)

        await asyncio.gather(*(lane(m) for m in _split(calls, shape.writers)))
    return time.perf_counter() - start


@dataclass
class Result:
    shape: Shape
    events: int
    peer_s: float
    ours_s: float

    @property
    def peer_rate(self) -> float:
        return self.events / self.peer_s

    @property
    def ours_rate(self) -> float:
        return self.events / self.ours_s

    @property
    def ratio(self) -> float:
        return self.ours_rate / self.peer_rate


def measure(shape: Shape, peer: Peer, ours: Ours, loop: asyncio.AbstractEventLoop,
            rounds: int) -> Result:  # fmt: skip
    """Both stores append every call of ``shape``, in ``rounds`` alternating slices."""
    # a round holds whole "generations" of appends so each stream's versions stay in order
    per_round = -(-len(shape.calls) // rounds)
    peer_s = ours_s = 0.0
    for r in range(rounds):
        calls = shape.calls[r * per_round : (r + 1) * per_round]
        if not calls:
            break
        order: list[Callable[[], float]] = [
            lambda calls=calls: run_peer(peer, shape, calls),
            lambda calls=calls: loop.run_until_complete(run_ours(ours, shape, calls)),
        ]
        if r % 2:
            order.reverse()
        first, second = order[0](), order[1]()
        if r % 2:
            ours_s, peer_s = ours_s + first, peer_s + second
        else:
            peer_s, ours_s = peer_s + first, ours_s + second
    events = sum(len(ev) for call in shape.calls for _, _, ev in call)
    return Result(shape, events, peer_s, ours_s)


async def _pool(url: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(url, min_size=size, max_size=size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench peer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--events", type=int, default=50_000, help="events per store per shape")
    parser.add_argument("--rounds", type=int, default=10, help="alternating slices per shape")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (0: skip)")
    args = parser.parse_args(argv)

    shapes = [
        make_shape("10/call", args.events, 10, 1, appends_per_stream=5),
        make_shape("500/call", args.events, 500, 1, appends_per_stream=1),
        make_shape("50x10/call", args.events, 10, 50, appends_per_stream=1),
    ]
    if args.writers > 1:
        shapes.append(
            make_shape(
                f"10/call x{args.writers}",
                args.events,
                10,
                1,
                appends_per_stream=5,
                writers=args.writers,
            )  # fmt: skip
        )
    payload = len(_json.encode(shapes[0].calls[0][0][2][0].data))

    with bench_settings(durable=True) as settings:
        url = settings.database.url
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        size = max(1, args.writers)
        pool = loop.run_until_complete(_pool(url, size))
        peer = Peer(url, pool_size=max(1, args.writers))
        ours = Ours(pool)
        try:
            ours_fsync = loop.run_until_complete(pool.fetchval("SHOW fsync"))
            ours_sync = loop.run_until_complete(pool.fetchval("SHOW synchronous_commit"))
            peer_fsync, peer_sync = peer.settings()
            print(f"PostgreSQL {url.rsplit('@', 1)[-1]}")
            print(f"  parcours (asyncpg): fsync={ours_fsync} synchronous_commit={ours_sync}")
            print(f"  peer     (psycopg): fsync={peer_fsync} synchronous_commit={peer_sync}")
            print(f"  payload: {payload} bytes of JSON per event, the same bytes in both stores")
            # warm-up on streams of their own (connections, prepared statements, caches)
            warm = make_shape("warm-up", 1000, 10, 1, appends_per_stream=1)
            measure(warm, peer, ours, loop, rounds=2)
            results = []
            for shape in shapes:
                result = measure(shape, peer, ours, loop, args.rounds)
                results.append(result)
                print(
                    f"{shape.name:<14} peer {result.peer_rate:9.0f} events/s   "
                    f"parcours {result.ours_rate:9.0f} events/s   "
                    f"ratio {result.ratio:5.2f}  (target >= 3.00)",
                    flush=True,
                )
            total = sum(r.events for r in results) + 1000
            stored_ours = loop.run_until_complete(EventStore(pool).count())
            stored_peer = peer.count()
            if stored_ours != total or stored_peer != total:
                print(f"MISMATCH: expected {total} rows each, parcours {stored_ours}, "
                      f"peer {stored_peer}")  # fmt: skip
                return 1
            print(f"rows stored: parcours {stored_ours}, peer {stored_peer} (both complete)")
        finally:
            peer.close()
            loop.run_until_complete(pool.close())
            asyncio.set_event_loop(None)
            loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
