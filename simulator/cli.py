"""``parcours simulate``: fill a running Parcours with a synthetic territory."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="play a synthetic CPTS territory through the HTTP API")
    p.add_argument("--cpts", default="demo")
    p.add_argument("--patients", type=int, default=2000)
    p.add_argument("--months", type=float, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--inhabitants", type=int, default=150_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument(
        "--no-access", action="store_true", help="no GP-access nor SNP traffic (ACI mission 1)"
    )
    p.add_argument(
        "--pathways-url", default=None, help="default: http://127.0.0.1:$PARCOURS_PATHWAYS_PORT"
    )
    p.add_argument(
        "--no-professionals",
        action="store_true",
        help="post facts only: no directory, no professional apps (simulator/apps.py)",
    )
    p.add_argument(
        "--psc-accounts",
        default=None,
        metavar="FILE",
        help="write the provider accounts (JSON) of simulated professionals, for psc-provider.mjs",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from parcours.auth import mint
    from parcours.settings import Settings
    from simulator.access import access_actions
    from simulator.behaviour import simulate
    from simulator.driver import Progress, play
    from simulator.territory import make_territory

    env = dict(os.environ)
    env.setdefault("PARCOURS_DATABASE_URL", "unused")
    env.setdefault("PARCOURS_NATS_URL", "unused")
    settings = Settings.from_env(env)
    url = args.pathways_url or f"http://{settings.http.host}:{settings.http.pathways_port}"
    territory = make_territory(args.cpts, args.inhabitants, random.Random(args.seed))
    days = int(args.months * 30.4)
    if args.psc_accounts:
        _write_accounts(args.psc_accounts, territory)
    start = _start_day(url, mint(settings, sub="SIM-ADMIN", role="admin", cpts=args.cpts))
    facts = simulate(territory, patients=args.patients, start=start, days=days, seed=args.seed)
    actions = []
    if not args.no_access:
        actions = access_actions(
            territory, inhabitants=args.inhabitants, start=start, days=days, seed=args.seed
        )

    def token_for(role: str, sub: str) -> str:
        return mint(settings, sub=sub, role=role, cpts=args.cpts, ttl_seconds=7 * 86400)

    print(
        f"territory {args.cpts}: {len(territory.professionals)} professionals, "
        f"{args.patients} patients, {len(facts)} facts and {len(actions)} access-to-care "
        f"calls over {days} days from {start.date()}",
        file=sys.stderr,
    )
    apps = None if args.no_professionals else _professionals(args, settings, territory, facts)
    outcome = asyncio.run(
        play(
            facts,
            pathways_url=url,
            token=mint(
                settings,
                sub="SIM-HUB",
                role="discharge-system",
                cpts=args.cpts,
                ttl_seconds=7 * 86400,
            ),
            admin_token=mint(
                settings, sub="SIM-ADMIN", role="admin", cpts=args.cpts, ttl_seconds=7 * 86400
            ),
            end=start + dt.timedelta(days=days),
            concurrency=args.concurrency,
            progress=Progress(len(facts)),
            actions=actions,
            token_for=token_for,
            after_day=apps.day if apps else None,
            before_day=apps.before_day if apps else None,
        )
    )
    if apps:
        a = apps.out
        print(
            f"professionals: {a.pool_looks} pool looks, {a.claims} pool claims, "
            f"{a.lost_races} lost races (409), {a.accepted_own} own tasks accepted, "
            f"{a.completed_in_app} completed in the apps, "
            f"refused {a.refused or 'none'}"
        )
    print(
        f"posted {outcome.posted} facts in {outcome.seconds:.0f}s: {outcome.accepted} accepted, "
        f"{outcome.duplicates} already recorded, refused {outcome.refused or 'none'}; "
        f"{outcome.timers_fired} timers fired over {outcome.days} days"
    )
    a = outcome.access
    print(
        f"access to care: {a.calls} calls, {a.ok} accepted, {a.conflicts} conflicts (409: "
        f"taken first, already closed), refused {a.refused or 'none'}"
    )
    for problem in outcome.problems + a.problems:
        print(f"  {problem}", file=sys.stderr)
    return 0 if not outcome.refused and not a.refused else 1


def _professionals(args, settings, territory, facts):  # type: ignore[no-untyped-def]
    """Register the territory's professionals in the directory; their apps, to play."""
    from parcours.auth import mint
    from simulator.apps import Apps, followed_in
    from simulator.professionals import professional_token, register

    host = settings.http.host
    admin = mint(settings, sub="SIM-ADMIN", role="admin", cpts=args.cpts, ttl_seconds=7 * 86400)
    done = asyncio.run(
        register(
            territory,
            notifications_url=f"http://{host}:{settings.http.notifications_port}",
            admin_token=admin,
        )
    )
    print(f"directory: {done.added} professionals added, {done.updated} updated", file=sys.stderr)
    apps = Apps(
        territory,
        seed=args.seed,
        pathways_url=args.pathways_url or f"http://{host}:{settings.http.pathways_port}",
        projections_url=f"http://{host}:{settings.http.projections_port}",
        token_for=professional_token(settings, args.cpts),
    )
    for rpps in followed_in(facts):
        apps.follow(rpps)
    return apps


def _write_accounts(path: str, territory) -> None:  # type: ignore[no-untyped-def]
    import json

    from simulator.professionals import psc_accounts

    with open(path, "w") as out:
        json.dump(psc_accounts(territory), out, indent=1)


def _start_day(url: str, admin_token: str) -> dt.datetime:
    """The next midnight (UTC) of the service's virtual clock."""
    import httpx

    answer = httpx.get(f"{url}/v1/admin/clock", headers={"Authorization": f"Bearer {admin_token}"})
    answer.raise_for_status()
    now = dt.datetime.fromisoformat(answer.json()["now"])
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
