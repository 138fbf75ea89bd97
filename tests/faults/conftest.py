"""Fault tests reuse the system fixture: the services as processes on private servers."""

from tests.system.conftest import System, system  # noqa: F401 - fixtures for this folder
