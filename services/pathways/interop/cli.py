"""``parcours hl7 ...``: the HL7 message log for an administrator.

- ``parcours hl7 list [--outcome quarantined|held|rejected|accepted]``: messages
  with their outcome, the patient's stream (a pseudonymous id: where a coordinator
  finds the enrolment a cancelled discharge concerns) and the reason, never their
  content;
- ``parcours hl7 replay ID``: map and record a quarantined message again, once
  its cause is fixed (a sender setting, a code table); prints the ACK code;
- ``parcours hl7 purge [--days N]``: clear the content of decided messages older
  than the retention (``PARCOURS_MLLP_RETENTION_DAYS``, 30 days by default).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("hl7", help="HL7 v2 message log: list, replay, purge")
    hsub = p.add_subparsers(dest="action", required=True)
    ls = hsub.add_parser("list", help="messages with their outcome (default: the quarantine)")
    ls.add_argument("--outcome", default="quarantined")
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(func=lambda a: _run(_list(a)))
    rp = hsub.add_parser("replay", help="map and record a stored message again")
    rp.add_argument("id", type=int)
    rp.set_defaults(func=lambda a: _run(_replay(a)))
    pg = hsub.add_parser("purge", help="clear the content of messages past retention")
    pg.add_argument("--days", type=int, default=None)
    pg.set_defaults(func=lambda a: _run(_purge(a)))


def _run(coro) -> int:  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _connect():  # type: ignore[no-untyped-def]
    from parcours.cli import _settings
    from parcours.service import create_pool

    settings = _settings()
    return settings, await create_pool(settings, min_size=1, max_size=2)


async def _list(args: argparse.Namespace) -> int:
    from pathways.interop import message_log
    from pathways.interop.settings import MllpSettings

    _settings, pool = await _connect()
    try:
        cpts = MllpSettings.from_env().cpts
        for m in await message_log.listing(pool, cpts, args.outcome, args.limit):
            print(
                f"{m.id}\t{m.received_at:%Y-%m-%dT%H:%M:%SZ}\t{m.application}|{m.facility}"
                f"\t{m.control_id}\t{m.trigger}\t{m.outcome}\t{m.stream or '-'}\t{m.reason or ''}"
            )
    finally:
        await pool.close()
    return 0


async def _replay(args: argparse.Namespace) -> int:
    from pathways.interop.serve import build_intake
    from pathways.interop.settings import MllpSettings

    settings, pool = await _connect()
    try:
        intake = await build_intake(settings, MllpSettings.from_env(), pool)
        ack = (await intake.replay(args.id)).decode()
    finally:
        await pool.close()
    msa = next(s for s in ack.split("\r") if s.startswith("MSA"))
    print(msa.split("|")[1])
    return 0 if msa.split("|")[1] == "AA" else 1


async def _purge(args: argparse.Namespace) -> int:
    from pathways.interop import message_log
    from pathways.interop.settings import MllpSettings

    days = args.days if args.days is not None else MllpSettings.from_env().retention_days
    _settings, pool = await _connect()
    try:
        cleared = await message_log.purge(pool, dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
    finally:
        await pool.close()
    print(f"content cleared from {cleared} message(s)")
    return 0
