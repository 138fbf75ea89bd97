"""Replicated servers lose nothing they acknowledged when one machine dies.

- A 3-node JetStream cluster (``EmbeddedNatsCluster``), a stream at R3: kill -9
  the node leading the stream; every message published before (acknowledged)
  and after (through the surviving nodes) is there, once, in order.
- A PostgreSQL primary with a synchronous streaming standby: kill -9 the primary,
  promote the standby; a client given both hosts with
  ``target_session_attrs=read-write`` writes again without being reconfigured,
  and every committed row is on the new primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js.api import StreamConfig

from parcours.devstack import EmbeddedPostgres
from parcours.devstack.cluster import EmbeddedNatsCluster, multi_host_url
from tests.conftest import _scratch_dir

# 3-node cluster and standby: in `make test-faults` (long form), not in `make test`
pytestmark = [pytest.mark.faults, pytest.mark.cluster]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.1)


@pytest.fixture
def cluster() -> Iterator[EmbeddedNatsCluster]:
    with _scratch_dir("nats-cluster") as home, EmbeddedNatsCluster(home, size=3) as started:
        yield started


async def test_an_r3_stream_keeps_every_acknowledged_message_when_its_leader_is_killed(
    cluster: EmbeddedNatsCluster,
) -> None:
    await cluster.wait_for_jetstream()
    nc = await nats.connect(
        servers=cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    try:
        js = nc.jetstream(timeout=10)

        async def created() -> bool:  # the meta leader may still answer 503 for a moment
            try:
                await js.add_stream(StreamConfig(name="R3", subjects=["r3.>"], num_replicas=3))
            except Exception:
                return False
            return True

        await eventually(created, within=90)
        for n in range(200):
            await js.publish("r3.x", f"{n}".encode(), headers={"Nats-Msg-Id": f"m{n}"})
        leader = (await js.stream_info("R3")).cluster.leader
        victim = next(
            node for node in cluster.nodes if f"n{cluster.nodes.index(node) + 1}" == leader
        )
        victim.kill()

        async def publishes_again() -> bool:
            try:
                await js.publish("r3.x", b"200", headers={"Nats-Msg-Id": "m200"})
            except Exception:
                return False
            return True

        await eventually(
            publishes_again, within=90
        )  # a new stream leader, even on a loaded machine
        for n in range(201, 300):
            await js.publish("r3.x", f"{n}".encode(), headers={"Nats-Msg-Id": f"m{n}"})
        info = await js.stream_info("R3")
        assert info.cluster.leader != leader
        assert info.state.messages == 300
        seen = [(await js.get_msg("R3", seq)).data.decode() for seq in range(1, 301)]
        assert seen == [str(n) for n in range(300)]
    finally:
        await nc.close()
        if victim is not None:
            victim.start()


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[EmbeddedPostgres, EmbeddedPostgres]]:
    with contextlib.ExitStack() as stack:
        home = stack.enter_context(_scratch_dir("pg-ha"))
        primary = stack.enter_context(EmbeddedPostgres(Path(home) / "primary", fast=True))
        standby = EmbeddedPostgres.standby_of(primary, Path(home) / "standby", fast=True)
        stack.enter_context(standby)
        yield primary, standby


async def test_a_promoted_synchronous_standby_has_every_committed_row_and_takes_writes(
    primary_and_standby: tuple[EmbeddedPostgres, EmbeddedPostgres],
) -> None:
    primary, standby = primary_and_standby
    await primary.make_synchronous()
    url = multi_host_url(primary.url, standby.url, dbname="postgres")

    conn = await asyncpg.connect(url)
    try:

        async def standby_is_synchronous() -> bool:
            states = await conn.fetch("SELECT sync_state FROM pg_stat_replication")
            return [row["sync_state"] for row in states] == ["sync"]

        await eventually(standby_is_synchronous, within=90)
        await conn.execute("CREATE TABLE facts (id int PRIMARY KEY)")
        for n in range(100):  # each commit answered only once the standby flushed it
            await conn.execute("INSERT INTO facts VALUES ($1)", n)
        assert await conn.fetchval("SHOW synchronous_standby_names") == "*"
    finally:
        await conn.close()

    primary.kill()
    await standby.promote()

    conn = await asyncpg.connect(url)  # the same URL, no reconfiguration
    try:
        assert not await conn.fetchval("SELECT pg_is_in_recovery()")
        assert await conn.fetchval("SELECT count(*) FROM facts") == 100
        await conn.execute("INSERT INTO facts VALUES (100)")
        assert await conn.fetchval("SELECT count(*) FROM facts") == 101
    finally:
        await conn.close()
