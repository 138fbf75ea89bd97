"""The NATS configuration of deploy/nats: a nurse's credentials reach her own subject and
her pools, and nothing of another nurse or another CPTS."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from contracts.notifications import Notification, notification_encoder
from contracts.subjects import Subjects
from notifications import natsauth
from notifications.appclient import AppFeed
from parcours import natsio
from parcours.settings import Settings

PREFIX = "parcours"
SUBJECTS = Subjects(PREFIX)
ALICE, BOB, CAROL = "10000000001", "10000000002", "10000000003"  # nurses; Carol in "other"
USERS = {
    ALICE: natsauth.professional_user("demo", ALICE),
    BOB: natsauth.professional_user("demo", BOB),
    CAROL: natsauth.professional_user("other", CAROL),
}
PASSWORDS = {
    name: secrets.token_hex(8) for name in (*USERS.values(), "coord-demo", "notifications")
}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nurses = [(ALICE, "demo", "Z1"), (BOB, "demo", "Z2"), (CAROL, "other", "Z1")]
    users = [
        *(
            natsauth.professional(
                SUBJECTS,
                cpts=cpts,
                role="nurse",
                rpps=rpps,
                zones=[zone],
                password=PASSWORDS[USERS[rpps]],
            )  # fmt: skip
            for rpps, cpts, zone in nurses
        ),
        natsauth.coordinator(
            SUBJECTS, cpts="demo", user="coord-demo", password=PASSWORDS["coord-demo"]
        ),
        *natsauth.services(SUBJECTS, {"notifications": PASSWORDS["notifications"]}),
    ]
    path = tmp_path_factory.mktemp("nats-config") / "parcours.conf"
    path.write_text(natsauth.render(users))
    path.parent.chmod(0o755)
    return path


@pytest.fixture
async def server(nats_factory: Any, config_file: Path) -> AsyncIterator[str]:
    started = nats_factory(config_file=config_file)
    yield f"127.0.0.1:{started.port}"


async def connect(host: str, who: str, errors: list[str] | None = None) -> NATS:
    user = USERS.get(who, who)

    async def on_error(exc: Exception) -> None:
        if errors is not None:
            errors.append(str(exc))

    return await nats.connect(
        f"nats://{host}",
        user=user,
        password=PASSWORDS[user],
        inbox_prefix=natsauth.inbox_prefix(user).encode(),
        error_cb=on_error,
        max_reconnect_attempts=0,
        connect_timeout=2,
    )


def note(n: int) -> bytes:
    return notification_encoder.encode(
        Notification(
            notification_id=f"n{n}",
            kind="scheduled",
            cpts="demo",
            at=dt.datetime(2026, 3, 9, tzinfo=dt.UTC),
        )
    )


@pytest.fixture
async def published(server: str) -> str:
    """The notifications service provisions the streams and publishes to three nurses."""
    settings = Settings.from_env(
        {},
        database_url="unused",
        nats_url=f"nats://notifications:{PASSWORDS['notifications']}@{server}",
        nats_prefix=PREFIX,
    )
    nc = await natsio.connect(settings, "notifications")
    js = nc.jetstream()
    await natsio.provision(js, settings)
    for n, subject in enumerate(
        [
            SUBJECTS.professional("demo", "nurse", ALICE),
            SUBJECTS.professional("demo", "nurse", BOB),
            SUBJECTS.professional("other", "nurse", CAROL),
            SUBJECTS.pool("demo", "nurse", "Z1"),
        ]
    ):
        await js.publish(subject, note(n))
    await nc.close()
    return server


async def test_a_nurse_replays_her_own_subject_and_her_pools(published: str) -> None:
    nc = await connect(published, ALICE)
    try:
        own = await AppFeed(
            nc,
            SUBJECTS.notifications_stream,
            [SUBJECTS.professional("demo", "nurse", ALICE), SUBJECTS.pool("demo", "nurse", "Z1")],
            after_seq=0,
        ).start()
        got = sorted([(await own.next()).notification.notification_id for _ in range(2)])
        assert got == ["n0", "n3"]
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "subject",
    [
        SUBJECTS.professional("demo", "nurse", BOB),  # another nurse
        SUBJECTS.professional("other", "nurse", CAROL),  # another CPTS
        SUBJECTS.pool("demo", "nurse", "Z2"),  # a pool outside her zones
        f"{PREFIX}.demo.events.fact",  # the events stream
    ],
    ids=["another nurse", "another CPTS", "another zone", "events"],
)
async def test_a_nurse_cannot_listen_to_what_is_not_hers(published: str, subject: str) -> None:
    errors: list[str] = []
    nc = await connect(published, ALICE, errors)
    try:
        got: list[Any] = []

        async def received(msg: Any) -> None:
            got.append(msg)

        await nc.subscribe(subject, cb=received)
        await nc.flush()
        with pytest.raises((nats.errors.TimeoutError, asyncio.TimeoutError, nats.js.errors.Error)):
            feed = AppFeed(
                nc, SUBJECTS.notifications_stream, [subject], after_seq=0, api_timeout=0.5
            )
            await feed.start()
        await asyncio.sleep(0.2)
        assert any("permissions violation" in e.lower() for e in errors), errors
        assert got == []
    finally:
        await nc.close()


async def test_a_nurse_cannot_use_another_nurses_inbox_nor_the_unfiltered_consumer_api(
    published: str,
) -> None:
    errors: list[str] = []
    nc = await connect(published, ALICE, errors)
    try:
        await nc.subscribe(f"{natsauth.inbox_prefix(USERS[BOB])}.>")
        await nc.flush()
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await nc.request(f"$JS.API.CONSUMER.CREATE.{SUBJECTS.notifications_stream}", b"{}", 0.5)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await nc.request(f"$JS.API.DIRECT.GET.{SUBJECTS.notifications_stream}", b"{}", 0.5)
        await asyncio.sleep(0.2)
        assert sum("permissions violation" in e.lower() for e in errors) >= 3, errors
    finally:
        await nc.close()


async def test_a_coordinator_follows_every_subject_of_their_cpts_only(published: str) -> None:
    errors: list[str] = []
    nc = await connect(published, "coord-demo", errors)
    try:
        feed = await AppFeed(
            nc, SUBJECTS.notifications_stream, [f"{PREFIX}.demo.tasks.>"], after_seq=0
        ).start()
        got = sorted([(await feed.next()).notification.notification_id for _ in range(2)])
        assert got == ["n0", "n1"]
        await nc.subscribe(SUBJECTS.professional("other", "nurse", CAROL))
        await nc.flush()
        await asyncio.sleep(0.2)
        assert any("permissions violation" in e.lower() for e in errors)
    finally:
        await nc.close()
