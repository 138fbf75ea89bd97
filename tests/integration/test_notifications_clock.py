"""Digests follow the shared virtual clock: one per professional per local day, at 07:00
Europe/Paris, never again after a restart; and the engine's timer events (reminder on the
morning a task is due, overdue and its escalation) reach the right people."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from contracts.subjects import Subjects
from notifications.appclient import AppFeed
from parcours.clock import VirtualClock
from parcours.settings import Settings
from tests.integration.conftest import bearer, eventually
from tests.integration.jetstream_reading import stored_notifications
from tests.integration.test_notifications_routing import (  # noqa: F401 - fixtures
    app_nc,
    rpps,
    running,
    scheduled,
)

PARIS = ZoneInfo("Europe/Paris")


def paris(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=PARIS).astimezone(dt.UTC)


@pytest.fixture
def simulated(settings: Settings) -> Settings:
    return settings.replace(clock="virtual", digest_hour=7, digest_interval_seconds=0.05)


async def served(pool: asyncpg.Pool, day: dt.date, who: set[str]) -> None:
    """Polls until the digest worker has served ``who`` for ``day`` (digest and outbox row
    commit together, so their messages are ahead of anything enqueued later)."""

    async def done() -> bool:
        rows = await pool.fetch("SELECT rpps FROM notification_digests WHERE day = $1", day)
        return who <= {r["rpps"] for r in rows}

    await eventually(done)


@pytest.fixture
async def clock(simulated: Settings) -> AsyncIterator[VirtualClock]:
    pool = await asyncpg.create_pool(simulated.database.url, min_size=1, max_size=2)
    clock = VirtualClock(pool)
    await clock.set(paris(10, 6, 30))
    yield clock
    await pool.close()


async def test_each_professional_gets_one_digest_a_day_at_seven_on_the_virtual_clock(
    simulated: Settings,
    clock: VirtualClock,
    app_nc: NATS,  # noqa: F811 - the fixture imported above
    token: Any,
) -> None:
    subjects = Subjects(simulated.nats.prefix)
    listed, unlisted, away = rpps(), rpps(), rpps()
    own, pool_task, other, away_task = (
        scheduled(listed, due=paris(12, 18)),
        scheduled(None, zone="Z1", due=paris(11, 18)),
        scheduled(unlisted),
        scheduled(away),
    )
    feeds = {
        who: await AppFeed(
            app_nc, subjects.notifications_stream, [subjects.professional("demo", "nurse", who)]
        ).start()
        for who in (listed, unlisted, away)
    }
    async with running(simulated, digests=True) as system:
        coordinator = bearer(token("coordinator", sub="COORD-1"))
        for body in (
            {"rpps": listed, "role": "nurse", "zones": ["Z1"]},
            {"rpps": away, "role": "nurse", "zones": ["Z1"], "active": False},
        ):
            added = await system.http.post(
                "/v1/directory/professionals", json=body, headers=coordinator
            )
            assert added.status_code == 201, added.text
        await system.append(own, pool_task, other, away_task)
        await system.settled()
        scheduled_notes = {who: await feed.next() for who, feed in feeds.items()}
        assert all(r.notification.kind == "scheduled" for r in scheduled_notes.values())

        await clock.set(paris(10, 7, 0))
        digest = (await feeds[listed].next()).notification
        assert digest.kind == "digest" and digest.digest_day == dt.date(2026, 3, 10)
        assert digest.at >= paris(10, 7, 0)  # composed at 07:00, not at 06:30
        assert [(i.task_id, i.pool) for i in digest.items] == [
            (own.task_id, False),
            (pool_task.task_id, True),
        ]
        assert (await feeds[unlisted].next()).notification.items[0].task_id == other.task_id
        await served(system.pool, dt.date(2026, 3, 10), {listed, unlisted})

    async with running(simulated, digests=True) as system:  # a restart sends nothing again
        await clock.set(paris(11, 7, 5))
        tomorrow = (await feeds[listed].next()).notification
        assert tomorrow.kind == "digest" and tomorrow.digest_day == dt.date(2026, 3, 11)
        await served(system.pool, dt.date(2026, 3, 11), {listed, unlisted})
        marker = scheduled(listed, activity="marker", due=paris(12, 18))
        await system.append(marker)  # after every digest committed: received after them
        assert (await feeds[listed].next()).notification.task_id == marker.task_id

    # the app feed de-duplicates by notification id: the stream is counted raw
    stored = await stored_notifications(
        app_nc.jetstream(),
        subjects.notifications_stream,
        [subjects.professional("demo", "nurse", who) for who in (listed, unlisted, away)],
    )
    digests = sorted(
        (subject.rsplit(".", 1)[1], str(n.digest_day))
        for subject, n in stored
        if n.kind == "digest"
    )
    assert digests == sorted(  # one a day each; none for the inactive nurse
        [(listed, "2026-03-10"), (listed, "2026-03-11"), (unlisted, "2026-03-10")]
        + [(unlisted, "2026-03-11")]
    )
    for feed in feeds.values():
        await feed.stop()
