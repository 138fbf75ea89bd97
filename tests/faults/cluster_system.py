"""A whole replicated system on loopback, as processes that a test may kill -9 or pause.

- NATS: a 3-node JetStream cluster (``sync_interval: always``), streams at R3, every
  process given every seed;
- PostgreSQL: a primary and a synchronous streaming standby, every process given both
  hosts with ``target_session_attrs=read-write`` (they follow a promotion);
- two instances of every process: ``relay-1`` / ``relay-2`` (one leads), ``pathways-1`` /
  ``pathways-2`` (both take facts), ``notifications-1`` / ``-2`` and ``projections-1`` /
  ``-2`` (one instance leads each consumer, the other takes over).

``ClusterSystem.leader_of(service)`` says which instance leads (from ``/health/ready``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from parcours.auth import mint
from parcours.dev import wait_ready
from parcours.devstack import EmbeddedPostgres, create_database, free_port
from parcours.devstack.cluster import EmbeddedNatsCluster, multi_host_url
from parcours.migrations import apply
from parcours.settings import Settings
from tests.conftest import _run

SERVICES = ("relay", "pathways", "notifications", "projections")
INSTANCES = 2
PORT_VARIABLE = {s: f"PARCOURS_{s.upper()}_PORT" for s in SERVICES}


class ClusterSystem:
    def __init__(self, home: Path, logs: Path) -> None:
        self.home, self.logs = home, logs
        self.nats = EmbeddedNatsCluster(home / "nats", size=3)
        self.primary = EmbeddedPostgres(home / "pg-a", fast=True)
        self.standby = EmbeddedPostgres.standby_of(self.primary, home / "pg-b", fast=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports = {f"{s}-{n}": free_port() for s in SERVICES for n in range(1, INSTANCES + 1)}
        self.settings: Settings | None = None

    # --- servers
    def start_servers(self) -> Settings:
        self.nats.start()
        _run(self.nats.wait_for_jetstream())
        self.primary.start()
        _run(create_database(self.primary.url, "parcours"))
        _run(apply(self.primary.url_for("parcours")))
        self.standby.start()  # cloned from the primary (pg_basebackup), then streaming
        _run(self.primary.make_synchronous())
        url = multi_host_url(self.primary.url_for("parcours"), self.standby.url_for("parcours"))
        self.settings = Settings.from_env(
            {},
            database_url=url,
            nats_url=self.nats.url,
            nats_replicas=3,
            environment="test",
            log_level="info",
            clock="virtual",
            relay_in_process=False,
            rate_limit_per_second=0,
        )
        return self.settings

    def stop_servers(self) -> None:
        for server in (self.standby, self.primary):
            with contextlib.suppress(Exception):
                server.stop()
        self.nats.stop()

    # --- processes
    def url(self, instance: str) -> str:
        return f"http://127.0.0.1:{self.ports[instance]}"

    def urls(self, service: str) -> list[str]:
        return [self.url(f"{service}-{n}") for n in range(1, INSTANCES + 1)]

    def token(self, role: str, sub: str = "SYS-TEST", cpts: str = "demo", **claims: Any) -> str:
        assert self.settings is not None
        return mint(self.settings, sub=sub, role=role, cpts=cpts, **claims)

    def start(self, instance: str, wait: bool = True) -> None:
        assert self.settings is not None
        service = instance.rsplit("-", 1)[0]
        log = open(self.logs / f"{instance}.log", "ab")  # noqa: SIM115 - the child owns it
        env = {
            **os.environ,
            **self.settings.env(),
            PORT_VARIABLE[service]: str(self.ports[instance]),
            "PARCOURS_LOG_FORMAT": "json",
        }
        self.procs[instance] = subprocess.Popen(
            [sys.executable, "-m", "parcours.cli", "serve", service],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready(instance)

    def start_all(self) -> None:
        for instance in self.ports:
            self.start(instance, wait=False)
        for instance in self.ports:
            self.wait_ready(instance)

    def wait_ready(self, instance: str, timeout: float = 180) -> None:
        try:
            wait_ready(self.url(instance), self.procs[instance], timeout)
        except RuntimeError as exc:
            # the scratch directory goes with the test: its log's last lines go in the error
            lines = (self.logs / f"{instance}.log").read_text(errors="replace").splitlines()
            tail = "\n".join(lines[-15:])
            raise RuntimeError(f"{exc}; the end of its log:\n{tail}") from None

    def kill(self, instance: str) -> None:
        """kill -9: no shutdown, no flush, nothing."""
        proc = self.procs.pop(instance)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def roles(self, instance: str) -> dict[str, str]:
        """The elected roles of an instance (``{}`` when it does not answer)."""
        try:
            with urllib.request.urlopen(self.url(instance) + "/health/ready", timeout=2) as r:
                return json.loads(r.read()).get("roles", {})
        except (OSError, ValueError):
            return {}

    def leader_of(self, service: str) -> str | None:
        """The instance of ``service`` that leads something (the relay, a consumer)."""
        for n in range(1, INSTANCES + 1):
            instance = f"{service}-{n}"
            if instance in self.procs and "leader" in self.roles(instance).values():
                return instance
        return None

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def log_tail(self, lines: int = 40) -> str:
        texts = [p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log"))]
        return "\n".join("\n".join(t.splitlines()[-lines // 4 :]) for t in texts)


@contextlib.contextmanager
def cluster_system(home: Path, logs: Path) -> Iterator[ClusterSystem]:
    system = ClusterSystem(home, logs)
    try:
        system.start_servers()
        system.start_all()
        yield system
    finally:
        system.stop_all()
        system.stop_servers()
