"""The embedded servers behave like real ones: they keep data, survive crashes, isolate tests."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

import asyncpg
import nats
import pytest

from contracts.subjects import Subjects
from parcours.devstack import (
    PG_SERVER_USER,
    DevstackError,
    EmbeddedPostgres,
    create_database,
    drop_database,
)


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM kept")
    finally:
        await conn.close()


async def create_kept_row(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE kept (note text)")
        await conn.execute("INSERT INTO kept VALUES ('committed before the stop')")
    finally:
        await conn.close()


# --- PostgreSQL


async def test_the_module_database_is_fresh_and_answers_queries(pg, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        version = int(await conn.fetchval("SHOW server_version_num"))
    finally:
        await conn.close()
    assert re.fullmatch(r"t_[0-9a-f]{12}", name)
    assert tables == 0
    if pg.server is not None:
        assert version // 10000 == 16
        assert pg.url == pg.server.url


async def test_two_fresh_databases_do_not_share_tables(pg):
    first, second = f"t_{secrets.token_hex(6)}", f"t_{secrets.token_hex(6)}"
    first_url = await create_database(pg.url, first)
    second_url = await create_database(pg.url, second)
    try:
        assert first_url != second_url
        await create_kept_row(first_url)
        assert await count_rows(first_url) == 1
        with pytest.raises(asyncpg.UndefinedTableError):
            await count_rows(second_url)
    finally:
        await drop_database(pg.url, first)
        await drop_database(pg.url, second)


async def test_postgres_keeps_data_and_port_across_stop_and_start(pg_factory):
    server = pg_factory()
    port, url = server.port, server.url
    await create_kept_row(url)

    server.stop()
    assert not server.running
    with pytest.raises(OSError):
        await asyncpg.connect(url, timeout=2)

    server.start()
    assert server.port == port
    assert await count_rows(url) == 1

    # a new process on the same directory (`make run` again) finds the same URL
    server.stop()
    with EmbeddedPostgres(server.data_dir, fast=True) as again:
        assert again.url == url
        assert await count_rows(url) == 1


def kill_9_and_leave_a_reused_pid(server: EmbeddedPostgres) -> subprocess.Popen[bytes]:
    """Crash the server; its lock file now names a live process, as after pid reuse.

    In a container the dead postmaster's pid is soon taken by another process,
    and PostgreSQL alone would then refuse to start. (It ignores pids of other
    users, so the stand-in runs as the server's user.)
    """
    server.kill()
    lock = server.pgdata / "postmaster.pid"
    assert lock.exists()
    as_server_user = {"user": PG_SERVER_USER} if os.geteuid() == 0 else {}
    stand_in = subprocess.Popen(["sleep", "30"], **as_server_user)
    lines = lock.read_text().splitlines()
    lock.write_text("\n".join([str(stand_in.pid), *lines[1:]]) + "\n")
    return stand_in


async def test_postgres_starts_again_after_kill_9_without_losing_commits(pg_factory):
    server = pg_factory()
    await create_kept_row(server.url)

    stand_in = kill_9_and_leave_a_reused_pid(server)
    try:
        server.start()
    finally:
        stand_in.kill()
        stand_in.wait()
    assert await count_rows(server.url) == 1


def test_postgres_start_failure_shows_the_server_log(pg_factory):
    server = pg_factory()
    server.stop()
    with (server.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\nmax_wal_senders = banana\n")
    with pytest.raises(DevstackError, match="banana"):
        server.start()
    assert not server.running


def test_postgres_refuses_a_port_already_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DevstackError, match=f"port {port} is already in use"):
            EmbeddedPostgres(tmp_path / "pg", port).start()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another user")
def test_postgres_as_root_runs_from_a_folder_its_user_cannot_traverse(tmp_path):
    # pytest's temporary root is private (0700) to root, like a clone in /root or
    # a `mktemp -d` folder: the server's data goes where its user can reach it,
    # the folder's permissions are left alone, and the data is found again.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    home = private / "pg"
    with EmbeddedPostgres(home, fast=True) as server:
        assert server.pgdata.resolve().is_relative_to(Path("/var/lib/parcours"))
        assert _accepts_sql(server.url)
    assert (home / "pgdata").is_symlink()
    assert private.stat().st_mode & 0o777 == 0o700
    with EmbeddedPostgres(home, fast=True) as again:
        assert again.pgdata == server.pgdata
        assert _accepts_sql(again.url)
    shutil.rmtree(server.pgdata.parent, ignore_errors=True)


def _accepts_sql(url: str) -> bool:
    async def one() -> int:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    return asyncio.run(one()) == 1


# --- NATS


async def test_the_session_nats_has_jetstream(nats_server, nats_prefix):
    assert re.fullmatch(r"t[0-9a-f]{8}", nats_prefix)
    nc = await nats.connect(nats_server.url)
    try:
        info = await nc.jetstream().account_info()
    finally:
        await nc.close()
    assert info.limits is not None


async def publish_one(url: str, subjects: Subjects) -> int:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=subjects.events_stream, subjects=[subjects.events_wildcard])
        ack = await js.publish(
            subjects.events("cpts-test", "enrolment"), b"kept", headers={"Nats-Msg-Id": "e-1"}
        )
        return ack.seq
    finally:
        await nc.close()


async def read_one(url: str, subjects: Subjects, seq: int) -> bytes:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().get_msg(subjects.events_stream, seq)).data
    finally:
        await nc.close()


async def test_nats_keeps_jetstream_messages_across_restart_and_kill_9(nats_factory, nats_prefix):
    server = nats_factory()
    subjects = Subjects(nats_prefix)
    port, url = server.port, server.url
    seq = await publish_one(url, subjects)

    server.restart()
    assert server.port == port
    assert await read_one(url, subjects, seq) == b"kept"

    server.kill()
    assert not server.running
    server.start()
    assert server.url == url
    assert await read_one(url, subjects, seq) == b"kept"
