"""``parcours dev`` (what ``make run`` runs): the whole system on one machine.

Starts PostgreSQL and NATS (embedded, with data under ``.parcours/``, unless
``PARCOURS_DATABASE_URL`` / ``PARCOURS_NATS_URL`` name servers), applies the
migrations, provisions the streams, starts the three services as separate
processes, prints where to look, and stops everything on Ctrl-C.

``--cluster`` starts a 3-node JetStream cluster instead of one NATS server (streams at
R3); ``--replicas N`` runs N instances of the relay (one leads, the others stand by), of
pathways, and of notifications and projections (one instance leads each consumer, the
others stand by; see ``parcours.leadership``), the extra instances on the consecutive ports
after the services' ports.
README: "Running on several machines".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from parcours.settings import Settings

SERVICES = ("relay", "pathways", "notifications", "projections", "mllp")
REPLICATED = ("relay", "pathways", "notifications", "projections", "mllp")  # ``--replicas N``


async def _prepare(settings: Settings) -> None:
    """Migrations and streams, once, before the services start."""
    from parcours import natsio
    from parcours.migrations import apply

    await apply(settings.database.url)
    nc = await natsio.connect(settings, "parcours-dev", max_reconnect_attempts=3)
    try:
        await natsio.provision(nc.jetstream(), settings)
    finally:
        await nc.close()


async def _ensure_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def wait_ready(base_url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until a service process answers ``/health/ready`` (PostgreSQL and NATS reached);
    fail early, with its exit code, when the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{base_url} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/health/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base_url} did not become ready in {timeout:.0f}s")


def run_dev(args: argparse.Namespace) -> int:
    from parcours.auth import mint
    from parcours.devstack import EmbeddedNats, EmbeddedPostgres, free_port
    from parcours.devstack.cluster import EmbeddedNatsCluster

    data = Path(args.data).absolute()

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM both stop everything; SIGINT is set explicitly because a process
    # started in the background by a non-interactive shell inherits it ignored
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    env = dict(os.environ)
    with ExitStack() as stack:
        if "PARCOURS_DATABASE_URL" not in env:
            pg = stack.enter_context(EmbeddedPostgres(data / "postgres"))
            asyncio.run(_ensure_database(pg.url, "parcours"))
            env["PARCOURS_DATABASE_URL"] = pg.url_for("parcours")
            print(f"PostgreSQL (embedded)  {env['PARCOURS_DATABASE_URL']}")
        if "PARCOURS_NATS_URL" not in env and args.cluster:
            nats = stack.enter_context(EmbeddedNatsCluster(data / "nats-cluster"))
            asyncio.run(nats.wait_for_jetstream())
            env["PARCOURS_NATS_URL"], env["PARCOURS_NATS_REPLICAS"] = nats.url, "3"
            print(f"NATS (3-node cluster)  {nats.url}")
        if "PARCOURS_NATS_URL" not in env:
            nats = stack.enter_context(EmbeddedNats(data / "nats"))
            env["PARCOURS_NATS_URL"] = nats.url
            print(f"NATS (embedded)        {nats.url}")
        env.setdefault("PARCOURS_LOG_FORMAT", "console")
        env.setdefault("PARCOURS_RELAY_IN_PROCESS", "false")  # the relay runs as its own process
        env.setdefault("PARCOURS_ENVIRONMENT", "development")
        if not args.wall_clock:
            env.setdefault("PARCOURS_CLOCK", "virtual")
        ports, instances = {}, {}  # the first instance of each service; every instance
        for service in SERVICES:
            key = f"PARCOURS_{service.upper()}_PORT"
            ports[service] = int(env.get(key) or _preferred_port(service, free_port))
            env[key] = str(ports[service])
        taken = set(ports.values())
        for service in REPLICATED:  # the other instances on the consecutive ports after all
            instances[service] = [ports[service], *_after(taken, args.replicas - 1, free_port)]
        settings = Settings.from_env(env)
        asyncio.run(_prepare(settings))
        procs: dict[str, subprocess.Popen] = {}
        listening: dict[str, int] = {}
        try:
            for service in SERVICES:
                for n, port in enumerate(instances.get(service, [ports[service]])):
                    name = f"{service}#{n + 1}" if n else service
                    serve = [sys.executable, "-m", "parcours.cli", "serve", service]
                    procs[name] = subprocess.Popen([*serve, "--port", str(port)], env=env)
                    listening[name] = port
            for name, proc in procs.items():  # the MLLP listener speaks HL7, not HTTP
                if not name.startswith("mllp"):
                    wait_ready(f"http://{settings.http.host}:{listening[name]}", proc)
            token = mint(settings, sub="CHU-DEMO", role="discharge-system", cpts="demo")
            _print_banner(settings, ports, token, instances["mllp"])
            if args.replicas > 1:
                print(
                    "Replicas (the leaders of the relay and consumers: /health/ready):", instances
                )
            while all(_running(procs, service) for service in SERVICES):  # a replica may die
                time.sleep(0.5)
            failed = [s for s, p in procs.items() if p.poll() is not None]
            print(f"service(s) stopped: {', '.join(failed)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstopping…")
            return 0
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


_DEFAULT_PORTS = {
    "pathways": 8000,
    "notifications": 8001,
    "projections": 8002,
    "relay": 8003,
    "mllp": 2575,
}


def _preferred_port(service: str, fallback) -> int:  # type: ignore[no-untyped-def]
    port = _DEFAULT_PORTS[service]
    return port if _bindable(port) else fallback()


def _running(procs: dict[str, subprocess.Popen], service: str) -> bool:
    """Whether some instance of ``service`` runs (``name`` or ``name#n``)."""
    return any(p.poll() is None for n, p in procs.items() if n.partition("#")[0] == service)


def _after(taken: set[int], count: int, fallback) -> list[int]:  # type: ignore[no-untyped-def]
    """``count`` ports following the highest taken one (a free one where one is busy)."""
    chosen, last = [], max(taken)
    for port in range(last + 1, last + 1 + count):
        chosen.append(port if _bindable(port) else fallback())
        taken.add(chosen[-1])
    return chosen


def _bindable(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _print_banner(settings: Settings, ports: dict[str, int], token: str, mllp: list[int]) -> None:
    host = settings.http.host
    listeners = ", ".join(f"{host}:{port}" for port in mllp)
    p = ports["pathways"]
    print(
        f"""
Parcours is running (Ctrl-C stops everything; data stays in .parcours/).

  pathways       http://{host}:{p}          OpenAPI: http://{host}:{p}/schema
  notifications  http://{host}:{ports["notifications"]}          OpenAPI: http://{host}:{ports["notifications"]}/schema
  projections    http://{host}:{ports["projections"]}          OpenAPI: http://{host}:{ports["projections"]}/schema
  relay          http://{host}:{ports["relay"]}/health/ready   (committed events to NATS)
  HL7 v2 MLLP    {listeners}   (ADT, IHE PAM France; ACK after commit; parcours hl7 --help)

Post a discharge (token for the discharge system of CPTS "demo"):

  curl -s -X POST http://{host}:{p}/v1/facts \\
    -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\
    -d '{{"type": "DischargeReported",
         "patient": {{"ins": "295109912611193", "oid": "1.2.250.1.213.1.4.10"}},
         "admitted_at": "2026-11-02T09:00:00Z", "discharged_at": "2026-11-09T14:00:00Z",
         "diagnoses": ["I50.1"], "finess": "750712184"}}'

Fill the dashboard with a simulated territory (six months in a few minutes):

  .venv/bin/parcours simulate --cpts demo --patients 2000 --months 6 --seed 1 --pathways-url http://{host}:{p}

The clock is virtual (simulation mode): time moves with `parcours simulate` or
`curl -X POST http://{host}:{p}/v1/admin/clock/advance -d '{{"by": "7d"}}'` (admin token).
More tokens: .venv/bin/parcours token --role coordinator --cpts demo --sub COORD-1
Coordinator page: http://{host}:{ports["projections"]}/coordinator?access_token=<that token>
(development; with PARCOURS_OIDC_ISSUER set, the pages sign in through the provider: README)
"""
    )
