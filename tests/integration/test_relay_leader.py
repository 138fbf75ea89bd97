"""Several relays: one leads (PostgreSQL advisory lock), the others stand by and take over
within seconds when the leader dies; every event is on the stream once, in commit order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request

import asyncpg

from contracts.subjects import Subjects
from parcours import natsio
from parcours.devstack import free_port
from parcours.eventstore import EventStore
from parcours.settings import Settings
from pathways.app import create_relay_app
from pathways.relay import Relay
from pathways.relay_leader import RELAY_LOCK_ID, RelayLeadership
from tests.integration.conftest import eventually, serving
from tests.integration.steady_load import SteadyLoad
from tests.integration.test_relay import pool

__all__ = ["pool"]  # the fixture, shared with the relay's tests
TAKEOVER_LIMIT = 10.0  # seconds; the election retries every second

_HOLDER = """SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
             WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()
               AND (l.classid::bigint << 32) + l.objid::bigint = $1"""


async def test_the_standby_takes_over_when_the_leader_dies_and_nothing_is_lost_or_doubled(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    subjects = Subjects(settings.nats.prefix)
    conns = [await natsio.connect(settings, f"relay-{n}") for n in range(3)]
    js = conns[2].jetstream(timeout=10)
    await natsio.provision(js, settings)
    await js.purge_stream(subjects.events_stream)
    url = settings.database.url

    def elected(nc) -> RelayLeadership:
        return RelayLeadership(
            url, lambda: Relay(pool=pool, nc=nc, subjects=subjects, database_url=url)
        )

    first, second = elected(conns[0]), elected(conns[1])
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    load = SteadyLoad(EventStore(pool))

    async def published() -> int:
        return await load.published(js, subjects.events_stream)

    leading = asyncio.create_task(first.run(stop_first))
    await eventually(lambda: _true(first.role == "leader"))
    standing_by = asyncio.create_task(second.run(stop_second))
    await eventually(lambda: _true(second.role != "starting"))
    load.start()
    try:
        await eventually(lambda: _ge(published, 60), timeout=30)
        assert second.role == "standby" and second.terms == 0 and second.published == 0
        holder = await pool.fetchval(_HOLDER, RELAY_LOCK_ID)
        assert holder is not None

        # the leader dies mid-stream: its session ends (the lock goes), its task with it
        await pool.execute("SELECT pg_terminate_backend($1)", holder)
        leading.cancel()
        died = time.monotonic()
        await eventually(lambda: _true(second.role == "leader"), timeout=TAKEOVER_LIMIT)
        took_over = time.monotonic() - died
        print(f"\nrelay takeover: {took_over:.2f} s after the leader's session ended")
        assert took_over < TAKEOVER_LIMIT

        after = len(load.written)
        await eventually(lambda: _ge(published, after + 60), timeout=30)
        await load.stream_holds_each_once_in_order(js, subjects.events_stream)
        assert first.terms == 1 and second.terms == 1  # the later events: the standby's
    finally:
        await load.stop()
        stop_first.set()
        stop_second.set()
        for task in (leading, standing_by):
            task.cancel()
        await asyncio.gather(leading, standing_by, return_exceptions=True)
        for nc in conns:
            await nc.close()


async def test_health_shows_leader_and_standby_and_a_graceful_stop_hands_over(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async def role(client) -> str:
        answer = await client.get("/health/ready")
        assert answer.status_code == 200, answer.text  # a standby is ready too
        return answer.json()["roles"]["relay"]

    async with contextlib.AsyncExitStack() as stack:
        async with serving(create_relay_app(settings)) as one:
            await eventually(lambda: _is(role(one), "leader"))
            two = await stack.enter_async_context(serving(create_relay_app(settings)))
            await eventually(lambda: _not(role(two), "starting"))  # it tried the lock
            assert await role(two) == "standby"
            assert await role(one) == "leader"
        stopped = time.monotonic()  # the leader shut down gracefully: leadership released
        await eventually(lambda: _is(role(two), "leader"), timeout=TAKEOVER_LIMIT)
        print(f"\nrelay handover on graceful stop: {time.monotonic() - stopped:.2f} s")


async def test_kill_9_of_the_leading_relay_process_under_load(
    settings: Settings, pool: asyncpg.Pool, tmp_path
) -> None:
    """``parcours serve relay`` twice; kill -9 the leader while events are appended."""
    subjects = Subjects(settings.nats.prefix)
    nc = await natsio.connect(settings, "relay-check")
    js = nc.jetstream(timeout=10)
    await natsio.provision(js, settings)
    await js.purge_stream(subjects.events_stream)
    env = {**os.environ, **settings.env()}
    ports = [free_port(), free_port()]
    procs = [_serve_relay(env, port, tmp_path) for port in ports]
    load = SteadyLoad(EventStore(pool))

    async def role(port: int) -> str:
        def get() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
                return json.loads(r.read())["roles"]["relay"]

        try:
            return await asyncio.to_thread(get)
        except OSError:
            return "unreachable"

    async def published() -> int:
        return await load.published(js, subjects.events_stream)

    load.start()
    try:
        roles = await eventually(
            lambda: _roles(role, ports, {"leader", "standby"}), timeout=60, interval=0.2
        )
        leader = roles.index("leader")
        await eventually(lambda: _ge(published, 40), timeout=30)
        procs[leader].kill()  # SIGKILL mid-stream
        procs[leader].wait(10)
        died = time.monotonic()
        standby = ports[1 - leader]
        await eventually(lambda: _is(role(standby), "leader"), timeout=TAKEOVER_LIMIT)
        took_over = time.monotonic() - died
        print(f"\nrelay takeover after kill -9 of the leading process: {took_over:.2f} s")
        after = len(load.written)
        await eventually(lambda: _ge(published, after + 40), timeout=30)
        await load.stream_holds_each_once_in_order(js, subjects.events_stream)
    finally:
        await load.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        await nc.close()


def _serve_relay(env: dict[str, str], port: int, logs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    with open(logs / f"relay-{port}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "parcours.cli", "serve", "relay", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def _roles(role, ports: list[int], wanted: set[str]):  # type: ignore[no-untyped-def]
    roles = [await role(port) for port in ports]
    return roles if set(roles) == wanted else None


async def _true(value: bool) -> bool:
    return value


async def _ge(count, at_least: int) -> bool:  # type: ignore[no-untyped-def]
    return await count() >= at_least


async def _is(awaitable, expected: str) -> bool:  # type: ignore[no-untyped-def]
    return await awaitable == expected


async def _not(awaitable, unexpected: str) -> bool:  # type: ignore[no-untyped-def]
    return await awaitable != unexpected
