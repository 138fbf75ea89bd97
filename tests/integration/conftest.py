"""Fixtures for tests against the real PostgreSQL and NATS: migrated databases,
settings, tokens, and the services running in-process with their workers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from parcours.auth import mint
from parcours.migrations import apply
from parcours.settings import Settings
from tests.conftest import _run, settings_for


@pytest.fixture(scope="module")
def migrated_url(database_url: str) -> str:
    """This module's database, with every migration applied."""
    _run(apply(database_url))
    return database_url


@pytest.fixture(scope="module")
def settings(migrated_url: str, nats_server: Any, nats_prefix: str) -> Settings:
    return settings_for(migrated_url, nats_server.url, nats_prefix)


@pytest.fixture(scope="module")
def token(settings: Settings) -> Callable[..., str]:
    """``token(role, sub=…, cpts="demo")`` mints a bearer token for these settings."""

    def make(role: str, sub: str = "SYS-1", cpts: str = "demo", **claims: Any) -> str:
        return mint(settings, sub=sub, role=role, cpts=cpts, **claims)

    return make


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


@contextlib.asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    """Run an app (lifespan, workers, real connections) and give an HTTP client to it."""
    async with AsyncTestClient(app=app, timeout=30) as client:
        yield client


async def eventually(
    check: Callable[[], Awaitable[Any]],
    timeout: float = 15.0,  # noqa: ASYNC109 - a polling helper with its own deadline
    interval: float = 0.05,
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
