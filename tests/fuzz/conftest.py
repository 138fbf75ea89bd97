"""Fixtures of the fuzz suite: a migrated database of this module and settings on the
session's real PostgreSQL and NATS (``tests/conftest.py``), tokens for any role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from parcours.auth import mint
from parcours.migrations import apply
from parcours.settings import Settings
from tests.conftest import _run, settings_for
from tests.fuzz.cohort import NOW, World, seed
from tests.fuzz.statuses import print_statuses
from tests.integration.clock import on_virtual_clock


def pytest_terminal_summary(terminalreporter: Any) -> None:
    print_statuses(terminalreporter)


@pytest.fixture(scope="module")
def fuzz_settings(database_url: str, nats_server: Any, nats_prefix: str) -> Settings:
    _run(apply(database_url))
    return on_virtual_clock(
        settings_for(database_url, nats_server.url, nats_prefix, log_level="critical"), NOW
    )


@pytest.fixture(scope="module")
def fuzz_token(fuzz_settings: Settings) -> Callable[..., str]:
    def make(role: str, sub: str = "10000000001", cpts: str = "demo", **claims: Any) -> str:
        return mint(fuzz_settings, sub=sub, role=role, cpts=cpts, **claims)

    return make


@pytest.fixture(scope="module")
def world(fuzz_settings: Settings, fuzz_token: Callable[..., str]) -> World:
    """The seeded cohort's real ids (``tests/fuzz/cohort.py``)."""
    return _run(seed(fuzz_settings, fuzz_token))
