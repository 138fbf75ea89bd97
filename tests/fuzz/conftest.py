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


@pytest.fixture(scope="module")
def fuzz_settings(database_url: str, nats_server: Any, nats_prefix: str) -> Settings:
    _run(apply(database_url))
    return settings_for(database_url, nats_server.url, nats_prefix, log_level="critical")


@pytest.fixture(scope="module")
def fuzz_token(fuzz_settings: Settings) -> Callable[..., str]:
    def make(role: str, sub: str = "10000000001", cpts: str = "demo", **claims: Any) -> str:
        return mint(fuzz_settings, sub=sub, role=role, cpts=cpts, **claims)

    return make
