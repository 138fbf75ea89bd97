"""``parcours clock …`` and ``parcours protocols …`` (auto-discovered by ``parcours.cli``).

- ``parcours clock show``: the clock's instant (virtual or wall).
- ``parcours clock advance 30d`` (or ``--to 2026-06-01T00:00:00Z``): moves the
  virtual clock, firing every timer due on the way, in order, with the same
  ``Scheduler`` the service runs (several may run at once: ``SKIP LOCKED``).
- ``parcours protocols list``: every protocol version in the catalog.
- ``parcours protocols check [DIR]``: validates protocol files; exit 1 with
  ``file: path: reason`` for each bad one.
- ``parcours protocols migrate --protocol ID --from X --to Y``: moves the active
  enrolments of version X to version Y, one ``MigrateProtocol`` command each
  (history kept, future tasks re-planned, ``ProtocolVersionChanged`` recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("clock", help="show or move the (virtual) clock")
    csub = p.add_subparsers(dest="action", required=True)
    csub.add_parser("show", help="print the clock's instant").set_defaults(func=cmd_clock_show)
    a = csub.add_parser("advance", help="move the virtual clock, firing the timers due on the way")
    a.add_argument("by", nargs="?", help="a duration: 30d, 12h, 90min, 2w")
    a.add_argument("--to", help="an instant with a UTC offset, e.g. 2026-06-01T00:00:00Z")
    a.set_defaults(func=cmd_clock_advance)

    p = sub.add_parser("protocols", help="protocol files and enrolment migrations")
    psub = p.add_subparsers(dest="action", required=True)
    lst = psub.add_parser("list", help="every protocol version of the catalog")
    lst.add_argument("--dir", default=None, help="protocol files (default: the service's)")
    lst.set_defaults(func=cmd_protocols_list)
    chk = psub.add_parser("check", help="validate protocol files (exit 1 on an error)")
    chk.add_argument("dir", nargs="?", default=None, help="a folder or a file")
    chk.set_defaults(func=cmd_protocols_check)
    mig = psub.add_parser("migrate", help="move active enrolments from one version to another")
    mig.add_argument("--protocol", required=True)
    mig.add_argument("--from", dest="from_version", type=int, required=True)
    mig.add_argument("--to", dest="to_version", type=int, required=True)
    mig.add_argument("--by", default="parcours-cli", help="who migrates (recorded as actor)")
    mig.add_argument("--dry-run", action="store_true", help="count, change nothing")
    mig.set_defaults(func=cmd_protocols_migrate)


def _settings() -> Any:
    from parcours.cli import _settings

    return _settings()


def _fail(message: str, code: int = 2) -> int:
    print(f"parcours: {message}", file=sys.stderr)
    return code


# -- clock ------------------------------------------------------------------------------


async def _with_scheduler(settings: Any, work: Any) -> Any:
    import asyncpg

    from parcours.service import make_clock
    from pathways.app import load_catalog
    from pathways.runtime import default_access_policy
    from pathways.scheduler import Scheduler
    from pathways.streams import PatientStreams

    catalog = load_catalog(settings)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=4)
    try:
        streams = PatientStreams(pool, catalog, access_policy=default_access_policy())
        scheduler = Scheduler(streams, make_clock(settings, pool))
        return await work(scheduler)
    finally:
        await pool.close()


def cmd_clock_show(args: argparse.Namespace) -> int:
    settings = _settings()

    async def show(scheduler: Any) -> tuple[dt.datetime, int]:
        now = await scheduler.clock.now()
        due = await scheduler.pool.fetchval(
            "SELECT count(*) FROM timers WHERE fired_at IS NULL AND fire_at <= $1", now
        )
        return now, due

    now, due = asyncio.run(_with_scheduler(settings, show))
    kind = "virtual" if settings.clock == "virtual" else "wall"
    print(f"{now.isoformat()}  ({kind} clock; {due} timers due and not fired yet)")
    return 0


async def advance(settings: Any, by: str | None, to: dt.datetime | None) -> tuple[dt.datetime, int]:
    """Move the virtual clock (``by`` a duration or ``to`` an instant); (new instant, fired)."""
    from parcours.clock import parse_duration

    async def move(scheduler: Any) -> tuple[dt.datetime, int]:
        now = await scheduler.clock.now()
        target = to if to is not None else now + parse_duration(by or "")
        fired = await scheduler.advance_to(target)
        return await scheduler.clock.now(), fired

    return await _with_scheduler(settings, move)


def cmd_clock_advance(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.clock != "virtual":
        return _fail("the clock only moves in simulation mode (PARCOURS_CLOCK=virtual)")
    if (args.by is None) == (args.to is None):
        return _fail("give a duration (parcours clock advance 30d) or --to INSTANT")
    to = None
    if args.to is not None:
        try:
            to = dt.datetime.fromisoformat(args.to.replace("Z", "+00:00"))
        except ValueError:
            return _fail(f"{args.to!r} is not an ISO 8601 instant")
        if to.tzinfo is None:
            return _fail("--to needs a UTC offset (Z or +01:00)")
    try:
        now, fired = asyncio.run(advance(settings, args.by, to))
    except ValueError as exc:
        return _fail(str(exc))
    print(f"now {now.isoformat()}  timers fired {fired}")
    return 0


# -- protocols ---------------------------------------------------------------------------


def _protocols_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    from pathways.app import PROTOCOLS_DIR

    return Path(os.environ.get("PARCOURS_PROTOCOLS_DIR") or PROTOCOLS_DIR)


def cmd_protocols_list(args: argparse.Namespace) -> int:
    from pathways.domain import ProtocolCatalog, ProtocolError

    try:
        catalog = ProtocolCatalog.load_dir(_protocols_dir(args.dir))
    except ProtocolError as exc:
        return _fail(str(exc), 1)
    latest = {(p.id, p.version) for p in catalog.latest_all()}
    for p in catalog.all():
        mark = "latest" if (p.id, p.version) in latest else p.status
        print(f"{p.id:28} v{p.version:<3} {mark:8} {p.title.en}")
    return 0


def cmd_protocols_check(args: argparse.Namespace) -> int:
    from pathways.domain import ProtocolCatalog, ProtocolError
    from pathways.domain.catalog import load_file

    where = _protocols_dir(args.dir)
    files = [where] if where.is_file() else sorted(where.glob("*.toml"))
    if not files:
        return _fail(f"{where}: no protocol file (*.toml)", 1)
    catalog = ProtocolCatalog()
    errors = 0
    for file in files:
        try:
            catalog.add(load_file(file), str(file))
        except ProtocolError as exc:
            errors += 1
            print(f"{exc.file}: {exc.path or '(top level)'}: {exc.reason}", file=sys.stderr)
        except OSError as exc:
            errors += 1
            print(f"{file}: (file): {exc.strerror}", file=sys.stderr)
    if errors:
        print(f"{errors} of {len(files)} protocol files have errors", file=sys.stderr)
        return 1
    print(f"{len(files)} protocol files valid")
    return 0


async def migrate(
    settings: Any, protocol: str, from_version: int, to_version: int, by: str, dry_run: bool
) -> Counter[str]:
    """Move every active enrolment of ``protocol`` version ``from_version``; counts by outcome."""
    from contracts.events import Actor
    from contracts.roles import Role
    from pathways.domain import DomainError, MigrateProtocol
    from pathways.streams import Origin

    async def run(scheduler: Any) -> Counter[str]:
        scheduler.streams.catalog.get(protocol, to_version)  # UnknownProtocolError
        await scheduler.index.catch_up()
        rows = await scheduler.pool.fetch(
            """SELECT enrolment_id, cpts, stream, status FROM enrolment_index
               WHERE protocol = $1 AND version = $2 AND status <> 'closed'
               ORDER BY enrolment_id""",
            protocol,
            str(from_version),
        )
        counts: Counter[str] = Counter()
        now = await scheduler.clock.now()
        actor = Actor(id=by, role=Role.ADMIN.value)
        for row in rows:
            if row["status"] != "active":
                counts[f"skipped ({row['status']})"] += 1
                continue
            if dry_run:
                counts["would migrate"] += 1
                continue
            command = MigrateProtocol(
                actor_id=by,
                actor_role=Role.ADMIN.value,
                enrolment_id=row["enrolment_id"],
                to_version=to_version,
            )
            origin = Origin(
                cpts=row["cpts"],
                actor=actor,
                correlation_id=f"migrate:{protocol}:{from_version}->{to_version}",
                occurred_at=now,
            )
            try:
                events = await scheduler.streams.execute(row["stream"], command, origin, now)
            except DomainError as exc:
                counts["refused"] += 1
                print(f"  {row['enrolment_id']}: {exc}", file=sys.stderr)
                continue
            counts["migrated" if events else "unchanged"] += 1
        await scheduler.index.catch_up()
        return counts

    return await _with_scheduler(settings, run)


def cmd_protocols_migrate(args: argparse.Namespace) -> int:
    from pathways.domain import UnknownProtocolError

    if args.from_version == args.to_version:
        return _fail("--from and --to name the same version")
    settings = _settings()
    try:
        counts = asyncio.run(
            migrate(
                settings, args.protocol, args.from_version, args.to_version, args.by, args.dry_run
            )
        )
    except UnknownProtocolError as exc:
        return _fail(str(exc))
    total = sum(counts.values())
    print(
        f"{args.protocol} v{args.from_version} -> v{args.to_version}: {total} enrolments not closed"
    )
    for outcome, n in sorted(counts.items()):
        print(f"  {outcome:20} {n}")
    return 1 if counts.get("refused") else 0
