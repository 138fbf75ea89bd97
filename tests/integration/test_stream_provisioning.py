"""Every instance of every service provisions the streams at start-up
(``parcours.natsio.provision``): a stream whose configuration is already right is left
alone (an update is a proposal to the cluster, and a dozen instances start together),
one whose configuration differs is updated. Seen on the real server's advisories."""

from __future__ import annotations

import json

from contracts.subjects import Subjects
from parcours import natsio
from parcours.settings import Settings
from tests.integration.conftest import eventually


async def _arrived(updated: list[str], stream: str) -> bool:
    return stream in updated


async def test_a_stream_is_updated_only_when_its_configuration_differs(settings: Settings):
    private = settings.replace(nats_prefix=f"{settings.nats.prefix}prov")
    subjects = Subjects(private.nats.prefix)
    nc = await natsio.connect(private, "test-provisioning")
    updated: list[str] = []

    async def on_advisory(msg) -> None:  # type: ignore[no-untyped-def]
        updated.append(json.loads(msg.data)["stream"])

    sub = await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.UPDATED.>", cb=on_advisory)
    try:
        js = nc.jetstream()
        await natsio.provision(js, private)  # created
        for _ in range(3):  # three more instances start: nothing to change
            await natsio.provision(js, private)
        changed = natsio.events_stream_config(subjects)
        changed.duplicate_window = 3600.0  # an older deployment's window
        await js.update_stream(changed)
        await natsio.provision(js, private)  # set right again
        # a last update of another stream: once its advisory is here, every earlier one is
        marker = natsio.notifications_stream_config(subjects, 1)
        await js.update_stream(marker)
        await eventually(lambda: _arrived(updated, marker.name), timeout=10)
        assert updated == [subjects.events_stream, subjects.events_stream, marker.name]
        info = await js.stream_info(subjects.events_stream)
        assert info.config.duplicate_window == natsio.EVENTS_DUPLICATE_WINDOW.total_seconds()
    finally:
        await sub.unsubscribe()
        await nc.close()
