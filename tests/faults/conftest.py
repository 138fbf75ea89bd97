"""Fault tests reuse the system fixtures: the services as processes on private servers."""

from tests.system.conftest import System, system, system_factory  # noqa: F401 - fixtures
