"""Unscheduled care reaches the professionals through the real services (issue 14's gap):
a request offered to the two GPs with SNP slots in the zone notifies each of them on her
own subject (``snp-offered``); when one accepts, the other hears it is taken
(``snp-taken``); each exactly once, counted raw on the notifications stream after a
marker (a later request's offer, routed after everything before it)."""

from __future__ import annotations

import asyncpg

from contracts.notifications import Notification
from notifications.app import create_app as notifications_app
from parcours import natsio
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from tests.integration.access_scenario import PHARMACIST, START, patient
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, eventually, serving
from tests.integration.jetstream_reading import stored_notifications

GP_ONE, GP_TWO = "10000000041", "10000000042"
ZONE = "69381"  # a zone of its own: no other test declares slots there


async def test_an_snp_offer_reaches_both_gps_and_the_accept_tells_the_other_once(
    settings: Settings, token
) -> None:  # type: ignore[no-untyped-def]
    virtual = on_virtual_clock(settings, START)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    nc = await natsio.connect(settings, "snp-notify-test")
    js = nc.jetstream()
    stream = f"{settings.nats.prefix.upper()}_NOTIFICATIONS"
    mine = {gp: f"{settings.nats.prefix}.demo.tasks.gp.{gp}" for gp in (GP_ONE, GP_TWO)}
    gps = {gp: bearer(token("gp", sub=gp)) for gp in mine}
    try:
        async with (
            serving(pathways_app(virtual, with_scheduler=False)) as pathways,
            serving(notifications_app(virtual)),
        ):
            await pool.executemany(  # the directory gives each GP's subject role
                """INSERT INTO directory_professionals (cpts, rpps, role, zones)
                   VALUES ('demo', $1, 'gp', ARRAY[$2]) ON CONFLICT DO NOTHING""",
                [(gp, ZONE) for gp in mine],
            )
            day = START.date().isoformat()
            for headers in gps.values():
                body = {"day": day, "zone": ZONE, "slots": 3}
                slots = await pathways.post("/v1/snp/slots", headers=headers, json=body)
                assert slots.status_code == 201, slots.text
            pharmacist = bearer(token("pharmacist", sub=PHARMACIST))

            async def ask(n: int) -> str:
                body = {"patient": patient(n, commune=ZONE), "within_hours": 24}
                asked = await pathways.post("/v1/snp/requests", headers=pharmacist, json=body)
                assert asked.status_code == 201, asked.text
                assert asked.json()["offered_to"] == 2
                return asked.json()["request_id"]

            request = await ask(1481)
            accepted = await pathways.post(
                f"/v1/snp/requests/{request}/accept", headers=gps[GP_ONE]
            )
            assert accepted.status_code == 200, accepted.text
            marker = await ask(1482)  # its offers are routed after the accept's notices

            async def stored() -> list[tuple[str, Notification]] | None:
                got = await stored_notifications(js, stream, list(mine.values()))
                offered = {s for s, n in got if str(n.request_id) == marker}
                return got if offered == set(mine.values()) else None

            got = await eventually(stored)
            about = sorted((s, n.kind) for s, n in got if str(n.request_id) == request)
            assert about == sorted(
                [
                    (mine[GP_ONE], "snp-offered"),
                    (mine[GP_TWO], "snp-offered"),
                    (mine[GP_TWO], "snp-taken"),
                ]
            )
            [taken] = [n for _, n in got if n.kind == "snp-taken" and str(n.request_id) == request]
            assert taken.assignee == GP_ONE and taken.zone == ZONE and taken.within_hours == 24
            assert all(n.patient_id is None for _, n in got)  # an offer names no patient
    finally:
        await nc.drain()
        await pool.close()
