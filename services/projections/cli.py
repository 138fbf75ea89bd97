"""``parcours projections rebuild [--view …]``: rebuild read models from the event store.

Each view is rebuilt into shadow tables while the live one keeps serving, then
swapped in atomically (see ``projections.rebuild``), with a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

VIEWS = ("timeline", "care", "indicators", "circle", "access")


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("projections", help="projections tools")
    psub = p.add_subparsers(dest="action", required=True)
    r = psub.add_parser("rebuild", help="rebuild read models from the event store")
    r.add_argument(
        "--view",
        action="append",
        choices=VIEWS,
        help="a view to rebuild (repeatable; default: all)",
    )
    r.add_argument("--batch", type=int, default=5000)
    r.set_defaults(func=cmd_rebuild)


async def rebuild_views(settings, names, batch: int = 5000, show_progress: bool = True):  # type: ignore[no-untyped-def]
    import asyncpg

    from parcours.migrations import apply
    from projections.app import load_catalog
    from projections.rebuild import progress_bar, rebuild
    from projections.views import build_views

    await apply(settings.database.url)
    views = build_views(settings.auth.pseudonym_secret, load_catalog(settings))
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    results = []
    try:
        for name in names:
            progress = progress_bar(name) if show_progress else None
            results.append(await rebuild(pool, views[name], batch=batch, progress=progress))
    finally:
        await pool.close()
    return results


def cmd_rebuild(args: argparse.Namespace) -> int:
    from parcours.cli import _settings

    settings = _settings()
    results = asyncio.run(rebuild_views(settings, args.view or list(VIEWS), args.batch))
    for r in results:
        print(
            f"{r.view}: {r.events} events in {r.seconds:.1f}s ({r.rate:,.0f} events/s), "
            f"checkpoint {r.checkpoint}",
            file=sys.stdout,
        )
    return 0
