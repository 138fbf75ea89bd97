"""``parcours care-circle sync``: a stream recorded before care circles existed (no
``CareCircleChanged``) gets the members its state names, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from contracts import pathway as ev
from contracts.events import Actor, NewEvent, payload_decoder
from parcours.cli import main
from parcours.eventstore import ANY, EventStore
from parcours.settings import Settings

AT = dt.datetime(2026, 4, 6, 18, tzinfo=dt.UTC)
GP = "10000000071"


def legacy(payload: object) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        data=payload,
        occurred_at=AT,
        correlation_id="legacy",
        actor=Actor(id="engine", role="service"),
        cpts="demo",
    )


async def test_legacy_streams_get_their_circle_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)
    stream = f"patient-{uuid.uuid4()}"
    enrolment = uuid.uuid4()
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        store = EventStore(pool)
        await store.append(
            stream,
            ANY,
            [
                legacy(
                    ev.PatientEnrolled(
                        enrolment_id=enrolment,
                        protocol="heart-failure-discharge",
                        protocol_version="1",
                        anchor_type="DischargeReported",
                        anchor_at=AT,
                    )
                ),
                legacy(
                    ev.TaskScheduled(
                        task_id=uuid.uuid4(),
                        enrolment_id=enrolment,
                        protocol="heart-failure-discharge",
                        activity="gp-consultation",
                        occurrence=1,
                        role="gp",
                        earliest=AT,
                        due=AT + dt.timedelta(days=7),
                        assignee=GP,
                    )
                ),
            ],
        )

        async def sync() -> str:
            capsys.readouterr()
            assert await asyncio.to_thread(main, ["care-circle", "sync"]) == 0
            return capsys.readouterr().out.strip()

        assert (
            await sync() == "1 patient streams synchronised, 1 professionals joined a care circle"
        )
        last = (await store.read_stream(stream))[-1]
        assert payload_decoder.decode(last.data) == ev.CareCircleChanged(
            rpps=GP, role="gp", change="added", source="task"
        )
        assert last.actor_id == "parcours-cli"
        assert (
            await sync() == "1 patient streams synchronised, 0 professionals joined a care circle"
        )
    finally:
        await pool.close()
