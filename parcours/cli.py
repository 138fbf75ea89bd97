"""The ``parcours`` command line: one entry point, one subcommand per job.

Subcommands import what they need when they run, so ``parcours token`` stays
fast and nothing connects at import time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from parcours import collector
from parcours.settings import Settings, SettingsError


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        print(f"parcours: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_migrate(args: argparse.Namespace) -> int:
    from parcours.migrations import apply

    settings = _settings()
    applied = asyncio.run(apply(settings.database.url))
    print("\n".join(applied) if applied else "database is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from parcours.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    if args.service == "mllp":  # HL7 v2 over MLLP, not HTTP
        from pathways.interop.serve import serve

        return serve(settings, args.port)
    if args.service == "pathways":
        from pathways.app import create_app

        app, port = create_app(settings), settings.http.pathways_port
    elif args.service == "relay":
        from pathways.app import create_relay_app

        app, port = create_relay_app(settings), settings.http.relay_port
    elif args.service == "notifications":
        from notifications.app import create_app

        app, port = create_app(settings), settings.http.notifications_port
    else:
        from projections.app import create_app

        app, port = create_app(settings), settings.http.projections_port
    uvicorn.run(
        app,
        host=settings.http.host,
        port=args.port or port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from parcours.auth import mint

    # minting needs only the signing secret, not the servers
    settings = Settings.from_env(
        {"PARCOURS_DATABASE_URL": "unused", "PARCOURS_NATS_URL": "unused", **os.environ}
    )
    claims = {}
    if args.specialty:
        claims["specialty"] = args.specialty
    if args.zones:
        claims["zones"] = args.zones.split(",")
    print(
        mint(
            settings,
            sub=args.sub,
            role=args.role,
            cpts=args.cpts,
            ttl_seconds=int(args.ttl_hours * 3600),
            **claims,
        )
    )
    return 0


def cmd_contracts(args: argparse.Namespace) -> int:
    from contracts.export import export

    written = export(args.out)
    for path in written:
        print(path)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from parcours.dev import run_dev

    return run_dev(args)


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(f"bench.{args.what}")
    return module.main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parcours", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run one service")
    p.add_argument("service", choices=["pathways", "relay", "notifications", "projections", "mllp"])
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("dev", help="start PostgreSQL, NATS and the three services")
    p.add_argument("--data", default=".parcours", help="where embedded servers keep data")
    p.add_argument(
        "--wall-clock", action="store_true", help="real time instead of the virtual clock"
    )
    p.add_argument("--cluster", action="store_true", help="a 3-node NATS cluster, streams at R3")
    p.add_argument("--replicas", type=int, default=1, help="instances of each process but MLLP")
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("token", help="mint a development token (HS256)")
    p.add_argument("--role", required=True)
    p.add_argument("--cpts", required=True)
    p.add_argument("--sub", required=True, help="RPPS or system id")
    p.add_argument("--specialty", default=None)
    p.add_argument("--zones", default=None, help="comma-separated zones (pools)")
    p.add_argument("--ttl-hours", type=float, default=12)
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("contracts", help="contracts tools")
    csub = p.add_subparsers(dest="action", required=True)
    e = csub.add_parser("export", help="write JSON Schema and AsyncAPI into contracts/schema/")
    e.add_argument("--out", default=None)
    e.set_defaults(func=cmd_contracts)

    p = sub.add_parser("bench", help="benchmarks (see bench/)")
    p.add_argument(
        "what", help="ingest, engine, model, notify, projections, load, soak, peer, mllp, scale"
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    for extension in (
        "parcours.deadletters_cli",
        "pathways.cli",
        "pathways.access_cli",
        "pathways.interop.cli",
        "projections.cli",
        "notifications.cli",
        "simulator.cli",
    ):
        try:
            module = __import__(extension, fromlist=["add_commands"])
        except ModuleNotFoundError as exc:
            if exc.name != extension:
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    collector.tune()  # batches of events allocate many objects: see parcours.collector
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
