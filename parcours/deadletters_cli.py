"""``parcours dead-letters list|replay``: what the pipelines set aside, and putting it back.

- ``list [--consumer C] [--cpts X] [--all]``: counts per consumer and CPTS, then the
  open letters (``--all``: replayed ones too), one a line.
- ``replay CONSUMER [--cpts X] [--stream S]``: after a fix, apply the consumer's open
  letters again, stream by stream in event-store order (``parcours.deadletters.replay``);
  a letter that fails again stays, with its new reason, and its stream stays parked.
  Exit status 1 when any letter failed again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from parcours.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"parcours: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg

    from parcours.deadletters import listing

    conn = await asyncpg.connect(settings.database.url)
    try:
        counts, rows = await listing(
            conn, cpts=args.cpts, consumer=args.consumer, include_replayed=args.all, limit=1000
        )
    finally:
        await conn.close()
    for c in counts:
        print(f"{c.consumer}\t{c.cpts}\topen {c.open}\treplayed {c.replayed}")
    for r in rows:
        state = f"replayed {r.replayed_at.isoformat()}" if r.replayed_at else "open"
        print(
            f"{r.id}\t{r.consumer}\t{r.cpts}\t{r.event_id}\t{r.stream}\t{r.type}\t"
            f"{r.dead_at.isoformat()}\t{state}\t{r.reason}"
        )
    return 0


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from parcours.deadletters import replay, replayer_for
    from parcours.service import open_resources

    async with open_resources(settings, "dead-letters") as resources:
        try:
            apply = replayer_for(args.consumer, resources)
        except KeyError as exc:
            print(f"parcours: {exc.args[0]}", file=sys.stderr)
            return 2
        report = await replay(
            resources.pool, args.consumer, apply, cpts=args.cpts, stream=args.stream
        )
    print(
        f"replayed {report.replayed}, failed again {report.failed}, "
        f"still waiting behind them {report.still_parked}"
    )
    return 1 if report.failed else 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.action == "list":
        return asyncio.run(_list(settings, args))
    return asyncio.run(_replay(settings, args))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dead-letters", help="events the pipelines set aside: list, replay")
    actions = p.add_subparsers(dest="action", required=True)
    listed = actions.add_parser("list", help="counts and open letters")
    listed.add_argument("--consumer", default=None)
    listed.add_argument("--cpts", default=None)
    listed.add_argument("--all", action="store_true", help="replayed letters too")
    listed.set_defaults(func=cmd_dead_letters)
    again = actions.add_parser("replay", help="apply a consumer's open letters again")
    again.add_argument(
        "consumer",
        help="relay, pathways-timers, notifications-router, notifications-outbox, "
        "projections-timeline, projections-care, projections-indicators, projections-access, "
        "projections",
    )
    again.add_argument("--cpts", default=None)
    again.add_argument("--stream", default=None)
    again.set_defaults(func=cmd_dead_letters)
