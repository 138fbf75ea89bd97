"""Break-the-glass through the services: the grant is an event the notifications router
sends to the CPTS's coordinators (their ``coord`` subject on the notifications stream),
and it lasts PARCOURS_BREAK_GLASS_HOURS on the service clock."""

from __future__ import annotations

import datetime as dt

from notifications.app import create_app as notifications_app
from parcours import natsio
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, eventually, serving
from tests.integration.jetstream_reading import stored_notifications

START = dt.datetime(2026, 4, 6, 18, tzinfo=dt.UTC)
NURSE = "10000000031"


async def test_a_break_the_glass_grant_reaches_the_coordinators_and_lasts_the_setting(
    settings: Settings, token
) -> None:
    virtual = on_virtual_clock(settings, START).replace(break_glass_hours=2.5)
    nc = await natsio.connect(settings, "break-glass-test")
    js = nc.jetstream()
    try:
        async with (
            serving(pathways_app(virtual, with_scheduler=False)) as pathways,
            serving(notifications_app(virtual)),
        ):
            posted = await pathways.post(
                "/v1/facts",
                json={
                    "type": "DischargeReported",
                    "patient": {"ins": "295109912611193", "oid": "1.2.250.1.213.1.4.10"},
                    "admitted_at": "2026-04-01T08:00:00Z",
                    "discharged_at": "2026-04-06T15:00:00Z",
                    "diagnoses": ["I50.9"],
                    "finess": "750712184",
                },
                headers=bearer(token("discharge-system", sub="CHU-1")),
            )
            patient = posted.json()["stream"].removeprefix("patient-")
            nurse = bearer(token("nurse", sub=NURSE))
            empty = await pathways.post(
                f"/v1/patients/{patient}/break-glass", json={"reason": " "}, headers=nurse
            )
            assert empty.status_code == 422 and empty.json()["field"] == "reason"
            unknown = await pathways.post(
                "/v1/patients/00000000-0000-4000-8000-000000000001/break-glass",
                json={"reason": "x"},
                headers=nurse,
            )
            assert unknown.status_code == 404
            granted = await pathways.post(
                f"/v1/patients/{patient}/break-glass",
                json={"reason": "patient unconscious at home"},
                headers=nurse,
            )
            assert granted.status_code == 200, granted.text
            assert granted.json()["expires_at"] == "2026-04-06T20:30:00Z"  # 2.5 h, the setting
            coord = virtual.nats.prefix + ".demo.coord"

            async def told():  # type: ignore[no-untyped-def]
                stream = f"{virtual.nats.prefix.upper()}_NOTIFICATIONS"
                got = await stored_notifications(js, stream, [coord])
                return [n for _, n in got if n.kind == "break-glass"]

            [note] = await eventually(told)
            assert str(note.patient_id) == patient and note.role == "nurse"
            assert NURSE in (note.reason or "") and "unconscious" in (note.reason or "")
            assert "295109912611193" not in (note.reason or "")
    finally:
        await nc.drain()
