"""The servers a benchmark runs against: embedded ones in a scratch directory,
or the ones named by ``PARCOURS_DATABASE_URL`` / ``PARCOURS_NATS_URL``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from parcours.dev import wait_ready
from parcours.devstack import EmbeddedNats, EmbeddedPostgres, create_database, free_port
from parcours.migrations import apply
from parcours.settings import Settings


def sized_for_this_machine() -> tuple[str, ...]:
    """Memory settings for a server that has this machine to itself, as a deployment's
    would be set (PostgreSQL's defaults are sized for any machine: 128 MB of shared
    buffers, a checkpoint every 1 GB of WAL): a quarter of the memory as shared buffers
    (at most 8 GB), the planner told the OS caches three quarters, WAL checkpoints
    spaced by 8 GB. Shared buffers are touched as used, not reserved up front."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mb = memory // 2**20
    return (
        f"shared_buffers={min(mb // 4, 8192)}MB",
        f"effective_cache_size={mb * 3 // 4}MB",
        "max_wal_size=8GB",
        "checkpoint_timeout=15min",
    )


@contextlib.contextmanager
def bench_settings(*, durable: bool = True, **overrides: object) -> Iterator[Settings]:
    """Fresh database (and NATS prefix) for one benchmark run; durable PostgreSQL by default,
    its memory sized for this machine as a deployment's would be
    (``sized_for_this_machine``; the tests' servers keep PostgreSQL's defaults)."""
    with contextlib.ExitStack() as stack:
        home = Path(tempfile.mkdtemp(prefix="parcours-bench-"))
        home.chmod(0o755)
        stack.callback(shutil.rmtree, home, True)
        admin = os.environ.get("PARCOURS_DATABASE_URL")
        if not admin:
            pg = stack.enter_context(
                EmbeddedPostgres(home / "pg", fast=not durable, tuning=sized_for_this_machine())
            )
            admin = pg.url
        nats_url = os.environ.get("PARCOURS_NATS_URL")
        if not nats_url:
            nats_url = stack.enter_context(EmbeddedNats(home / "nats")).url
        db = f"bench_{secrets.token_hex(4)}"
        url = asyncio.run(create_database(admin, db))
        asyncio.run(apply(url))
        values = {
            "database_url": url,
            "nats_url": nats_url,
            "nats_prefix": f"b{secrets.token_hex(3)}",
            "environment": "test",
            "log_level": "warning",
            "pathways_port": free_port(),
            "notifications_port": free_port(),
            "projections_port": free_port(),
            "relay_port": free_port(),
            "relay_in_process": False,  # the relay runs as its own process, as in `make run`
            # benchmarks measure capacity with one token: the per-subject limit is abuse control
            "rate_limit_per_second": 0,
        }
        values.update(overrides)
        yield Settings.from_env({}, **values)


@contextlib.contextmanager
def service_process(settings: Settings, module: str, port: int, *args: str) -> Iterator[str]:
    """Run ``python -m <module> <args>`` with these settings until it answers /health/ready."""
    env = {**os.environ, **settings.env()}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], env=env)
    base = f"http://{settings.http.host}:{port}"
    try:
        wait_ready(base, proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def relay_process(settings: Settings) -> Iterator[None]:
    """The relay as its own process (``parcours serve relay``), when the settings say so."""
    if settings.relay_in_process:
        yield
        return
    with service_process(settings, "parcours.cli", settings.http.relay_port, "serve", "relay"):
        yield
