"""Pools by zone: a professional sees a pool's tasks (their clinical summary) only for her
role and the zones the CPTS directory gives her. The directory lives in the notifications
service; the projections keep their own copy from its ``ProfessionalListed`` events (a
token's ``zones`` claim stands in only for a professional not in the directory)."""

from __future__ import annotations

import datetime as dt

import asyncpg

from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.test_projections_helpers import views_caught_up

START = dt.datetime(2026, 4, 6, 18, tzinfo=dt.UTC)
NURSE, GP = "10000000061", "10000000062"


async def test_pool_worklists_follow_the_directory_zones(settings: Settings, token) -> None:
    virtual = on_virtual_clock(settings, START)
    db = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    # her token still claims 75114; the directory says 75115 (she moved)
    nurse = bearer(token("nurse", sub=NURSE, zones=["75114"]))
    gp = bearer(token("gp", sub=GP))  # no zone in her token, none in the directory
    try:
        async with (
            serving(pathways_app(virtual, with_scheduler=False)) as pathways,
            serving(notifications_app(virtual)) as notifications,
            serving(projections_app(virtual)) as projections,
        ):
            for ins, commune in (("253072B07300470", "75114"), ("182036912345659", "75115")):
                posted = await pathways.post(
                    "/v1/facts",
                    json={
                        "type": "DischargeReported",
                        "patient": {"ins": ins, "oid": "1.2.250.1.213.1.4.10", "commune": commune},
                        "admitted_at": "2026-04-01T08:00:00Z",
                        "discharged_at": "2026-04-06T15:00:00Z",
                        "diagnoses": ["I50.9"],
                        "finess": "750712184",
                    },
                    headers=bearer(token("discharge-system", sub="CHU-1")),
                )
                assert posted.status_code == 201, posted.text
            await views_caught_up(db)

            async def pool(path: str, who: dict) -> int:  # type: ignore[type-arg]
                return (await projections.get(path, headers=who)).status_code

            # not in the directory yet: her token's zones stand in
            assert await pool("/v1/worklists/pool/nurse/75114", nurse) == 200
            added = await notifications.post(
                "/v1/directory/professionals",
                json={"rpps": NURSE, "role": "nurse", "zones": ["75115"]},
                headers=coordinator,
            )
            assert added.status_code == 201, added.text
            await views_caught_up(db)
            assert await pool("/v1/worklists/pool/nurse/75114", nurse) == 403
            mine = await projections.get("/v1/worklists/pool/nurse/75115", headers=nurse)
            assert mine.status_code == 200 and mine.json()["tasks"]
            assert {t["zone"] for t in mine.json()["tasks"]} == {"75115"}
            assert await pool("/v1/worklists/pool/gp/75115", nurse) == 403  # not her role
            assert await pool("/v1/worklists/pool/gp/75115", gp) == 403  # no zone: no pool
            # inactive: no pool at all
            changed = await notifications.patch(
                f"/v1/directory/professionals/{NURSE}", json={"active": False}, headers=coordinator
            )
            assert changed.status_code == 200, changed.text
            await views_caught_up(db)
            assert await pool("/v1/worklists/pool/nurse/75115", nurse) == 403
            assert await pool("/v1/worklists/pool/nurse/75115", coordinator) == 200
    finally:
        await db.close()
