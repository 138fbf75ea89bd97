"""``parcours identities …`` and ``parcours care-circle …`` (auto-discovered by ``parcours.cli``).

- ``parcours identities retention [--dry-run]``: erase the identities whose patient's last
  event is more than ``PARCOURS_IDENTITY_RETENTION_YEARS`` before the clock.
- ``parcours care-circle sync``: ``SyncCareCircle`` on every patient stream, once after
  upgrading: streams recorded before care circles get the members their state names.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("identities", help="patient identities: the retention policy")
    isub = p.add_subparsers(dest="action", required=True)
    ret = isub.add_parser(
        "retention",
        help="erase the identities whose patient's last event is older than "
        "PARCOURS_IDENTITY_RETENTION_YEARS (on the service clock)",
    )
    ret.add_argument("--dry-run", action="store_true", help="list, erase nothing")
    ret.set_defaults(func=cmd_identities_retention)

    p = sub.add_parser("care-circle", help="patients' care circles")
    csub2 = p.add_subparsers(dest="action", required=True)
    csub2.add_parser(
        "sync", help="bring the streams recorded before care circles up to date (once)"
    ).set_defaults(func=cmd_care_circle_sync)


def _settings() -> Any:
    from parcours.cli import _settings

    return _settings()


# -- identities -------------------------------------------------------------------------


def cmd_identities_retention(args: argparse.Namespace) -> int:
    settings = _settings()

    async def run() -> tuple[dt.datetime, list[Any]]:
        import asyncpg

        from parcours.service import make_clock
        from pathways.identity_retention import erase_expired_identities

        pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
        try:
            now = await make_clock(settings, pool).now()
            years = settings.access.identity_retention_years
            return now, await erase_expired_identities(pool, now, years, dry_run=args.dry_run)
        finally:
            await pool.close()

    now, erased = asyncio.run(run())
    verb = "would erase" if args.dry_run else "erased"
    years = settings.access.identity_retention_years
    print(f"{verb} {len(erased)} identities (last event more than {years} years before {now})")
    for cpts, patient_id in erased:  # patient ids only: never an identity
        print(f"{cpts} {patient_id}")
    return 0


async def sync_care_circles(settings: Any) -> tuple[int, int]:
    """``SyncCareCircle`` on every patient stream; (streams, members who joined)."""
    import uuid

    import asyncpg

    from contracts.events import Actor
    from parcours.eventstore import EventStore
    from parcours.service import make_clock
    from pathways.app import load_catalog
    from pathways.domain import SyncCareCircle
    from pathways.streams import Origin, PatientStreams

    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=4)
    try:
        streams = PatientStreams(pool, load_catalog(settings))
        now = await make_clock(settings, pool).now()
        every = await EventStore(pool).streams_quiet_since(dt.datetime(2200, 1, 1, tzinfo=dt.UTC))
        command = SyncCareCircle(actor_id="parcours-cli", actor_role="admin")
        correlation = f"care-circle-sync-{uuid.uuid4()}"
        joined = 0
        for cpts, stream, _ in every:
            actor = Actor(id="parcours-cli", role="admin")
            origin = Origin(cpts=cpts, actor=actor, correlation_id=correlation, occurred_at=now)
            joined += len(await streams.execute(stream, command, origin, now))
        return len(every), joined
    finally:
        await pool.close()


def cmd_care_circle_sync(args: argparse.Namespace) -> int:
    count, joined = asyncio.run(sync_care_circles(_settings()))
    print(f"{count} patient streams synchronised, {joined} professionals joined a care circle")
    return 0
