"""The services and the relay as real processes (``parcours serve …``), with their logs in files,
on private PostgreSQL and NATS servers that a test may stop, kill and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from parcours.auth import mint
from parcours.dev import wait_ready
from parcours.devstack import create_database, free_port
from parcours.migrations import apply
from parcours.settings import Settings
from tests.conftest import _run

SERVICES = ("relay", "pathways", "notifications", "projections")


class System:
    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings, self.logs = settings, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports = {
            "pathways": settings.http.pathways_port,
            "notifications": settings.http.notifications_port,
            "projections": settings.http.projections_port,
            "relay": settings.http.relay_port,
        }

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def token(self, role: str, sub: str = "SYS-TEST", cpts: str = "demo", **claims: Any) -> str:
        return mint(self.settings, sub=sub, role=role, cpts=cpts, **claims)

    def start(self, service: str, wait: bool = True) -> None:
        log = open(self.logs / f"{service}.log", "ab")  # noqa: SIM115 - the child owns it
        env = {**os.environ, **self.settings.env(), "PARCOURS_LOG_FORMAT": "json"}
        self.procs[service] = subprocess.Popen(
            [sys.executable, "-m", "parcours.cli", "serve", service],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready(service)

    def wait_ready(self, service: str, timeout: float = 60) -> None:
        try:
            wait_ready(self.url(service), self.procs[service], timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; see {self.logs}") from None

    def kill(self, service: str) -> None:
        """kill -9: no shutdown, no flush, nothing."""
        proc = self.procs.pop(service)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


@pytest.fixture
def system_factory(pg_factory, nats_factory, tmp_path: Path) -> Iterator[Any]:
    """``system_factory(**settings)`` starts a whole system: private PostgreSQL and NATS
    (``system.pg`` / ``system.nats`` can be stopped), the three services on the virtual
    clock. Everything is stopped at teardown."""
    started: list[System] = []

    def start(**overrides: Any) -> System:
        pg = pg_factory(fast=True)
        nats = nats_factory()
        url = _run(create_database(pg.url, "parcours"))
        _run(apply(url))
        values: dict[str, Any] = {
            "database_url": url,
            "nats_url": nats.url,
            "environment": "test",
            "log_level": "info",
            "clock": "virtual",
            "pathways_port": free_port(),
            "notifications_port": free_port(),
            "projections_port": free_port(),
            "relay_port": free_port(),
            "relay_in_process": False,  # as `make run` does: the relay is a process of its own
        }
        values.update(overrides)
        logs = tmp_path / f"logs-{len(started)}"
        logs.mkdir()
        running = System(Settings.from_env({}, **values), logs)
        running.pg, running.nats = pg, nats  # type: ignore[attr-defined]
        started.append(running)
        for service in SERVICES:
            running.start(service, wait=False)
        for service in SERVICES:
            running.wait_ready(service)
        return running

    try:
        yield start
    finally:
        for running in started:
            running.stop_all()


@pytest.fixture
def system(system_factory: Any) -> System:
    """One whole system (see ``system_factory``)."""
    return system_factory()


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(msgspec.json.decode(line))
            except msgspec.DecodeError:
                pass
    return out
