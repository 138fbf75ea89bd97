"""``parcours serve mllp``: the MLLP listener as its own process.

It holds a PostgreSQL pool, the protocol catalog and the clock (virtual or
wall, as the other services), and records facts through ``FactRecorder``; it
needs no NATS connection (the relay publishes what it commits). SIGTERM or
SIGINT stops it gracefully (see ``mllp``).
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from parcours.service import create_pool, make_clock
from parcours.settings import Settings
from pathways.interop.fact_recorder import FactRecorder
from pathways.interop.hl7_intake import Hl7Intake
from pathways.interop.mllp import MllpServer
from pathways.interop.settings import MllpSettings

log = structlog.get_logger("pathways.mllp")


async def build_intake(settings: Settings, mllp: MllpSettings, pool) -> Hl7Intake:  # type: ignore[no-untyped-def]
    from pathways.app import load_catalog
    from pathways.group_commit import GroupCommit
    from pathways.record_merge import RecordMerge
    from pathways.runtime import default_access_policy
    from pathways.streams import PatientStreams

    streams = PatientStreams(pool, load_catalog(settings), access_policy=default_access_policy())
    recorder = FactRecorder(GroupCommit(streams))
    return Hl7Intake(pool, recorder, make_clock(settings, pool), mllp, RecordMerge(streams))


async def run(settings: Settings, mllp: MllpSettings) -> None:
    pool = await create_pool(
        settings, min_size=1, max_size=2 * max(2, min(settings.database.pool_size, mllp.in_flight))
    )
    try:
        intake = await build_intake(settings, mllp, pool)
        server = MllpServer(mllp, intake.handle)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        await stop.wait()
        log.info("mllp.stopping", answered=server.answered)
        await server.stop()
    finally:
        await pool.close()


def serve(settings: Settings, port: int | None = None) -> int:
    import msgspec
    import uvloop

    mllp = MllpSettings.from_env()
    if port:
        mllp = msgspec.structs.replace(mllp, port=port)
    uvloop.run(run(settings, mllp))
    return 0
