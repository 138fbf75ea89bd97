"""The identity retention policy on the virtual clock: ``parcours identities retention``
erases the identities whose patient's last event is more than
PARCOURS_IDENTITY_RETENTION_YEARS before the clock; the events stay."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from parcours.cli import main
from parcours.clock import VirtualClock
from parcours.eventstore import EventStore
from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving

START = dt.datetime(2026, 4, 6, 18, tzinfo=dt.UTC)
OID = "1.2.250.1.213.1.4.10"
ANNE, PAUL = "253072B07300470", "182036912345659"


def discharge(ins: str) -> dict:
    return {
        "type": "DischargeReported",
        "patient": {"ins": ins, "oid": OID},
        "admitted_at": "2026-04-01T08:00:00Z",
        "discharged_at": "2026-04-06T15:00:00Z",
        "diagnoses": ["I50.9"],
        "finess": "750712184",
    }


async def test_identities_are_erased_years_after_the_last_event(
    settings: Settings, token, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    virtual = on_virtual_clock(settings, START).replace(identity_retention_years=2)
    for name, value in virtual.env().items():
        monkeypatch.setenv(name, value)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    clock = VirtualClock(pool, START)
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))

    async def retention(*flags: str) -> list[str]:
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["identities", "retention", *flags]) == 0
        return capsys.readouterr().out.splitlines()

    try:
        async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
            anne = (await api.post("/v1/facts", json=discharge(ANNE), headers=hospital)).json()
            paul = (await api.post("/v1/facts", json=discharge(PAUL), headers=hospital)).json()
            anne_id = anne["stream"].removeprefix("patient-")
            paul_id = paul["stream"].removeprefix("patient-")
            # Paul is seen again in June 2027: his last event is then
            await clock.set(dt.datetime(2027, 6, 2, 9, tzinfo=dt.UTC))
            seen = await api.post(
                "/v1/facts",
                json={
                    "type": "ConsultationReported",
                    "patient": {"ins": PAUL, "oid": OID},
                    "consulted_at": iso(dt.datetime(2027, 6, 1, 10, tzinfo=dt.UTC)),
                    "role": "gp",
                    "rpps": "10000000051",
                },
                headers=hospital,
            )
            assert seen.status_code == 201, seen.text

            async def identity(patient_id: str) -> int:
                r = await api.get(f"/v1/patients/{patient_id}/identity", headers=coordinator)
                return r.status_code

            # March 2029: Anne's last event (April 2026) is more than 2 years old, Paul's not
            await clock.set(dt.datetime(2029, 3, 1, tzinfo=dt.UTC))
            assert await retention("--dry-run") == [
                "would erase 1 identities (last event more than 2 years before "
                "2029-03-01 00:00:00+00:00)",
                f"demo {anne_id}",
            ]
            assert await identity(anne_id) == 200  # a dry run erases nothing
            assert (await retention())[1:] == [f"demo {anne_id}"]
            assert (await identity(anne_id), await identity(paul_id)) == (404, 200)
            assert await EventStore(pool).count_stream(anne["stream"]) > 0  # the events stay
            assert ANNE not in "".join(await retention())  # nothing more, and no INS printed
            # July 2029: Paul's turn
            await clock.set(dt.datetime(2029, 7, 1, tzinfo=dt.UTC))
            assert (await retention())[1:] == [f"demo {paul_id}"]
            assert await identity(paul_id) == 404
    finally:
        await pool.close()
