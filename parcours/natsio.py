"""NATS plumbing: connecting, and provisioning the JetStream streams.

Clients get every seed of ``PARCOURS_NATS_URL``; the streams are created at
``PARCOURS_NATS_REPLICAS`` (3 on a cluster whose nodes sync every write: ``sync_interval:
always``). The events stream is the distribution log of the event store: everything on it
can be re-published from PostgreSQL. Its duplicate window covers a relay that
crashes between publishing and saving its checkpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from contracts.subjects import Subjects
from parcours.settings import Settings

log = structlog.get_logger("parcours.nats")

EVENTS_DUPLICATE_WINDOW = dt.timedelta(hours=24)


def seeds(url: str) -> list[str]:
    """Every server of ``PARCOURS_NATS_URL`` (one URL, or a cluster's seeds separated by commas)."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(settings: Settings, name: str, **options: object) -> NATS:
    async def on_disconnected() -> None:
        log.warning("nats disconnected", client=name)

    async def on_reconnected() -> None:
        log.info("nats reconnected", client=name)

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", client=name, error=str(exc))

    params: dict[str, object] = {
        "servers": seeds(settings.nats.url),
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "allow_reconnect": True,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
        "error_cb": on_error,
        "pending_size": 64 * 1024 * 1024,
    }
    params.update(options)
    return await nats.connect(**params)  # type: ignore[arg-type]


_COMPARED = ("subjects", "num_replicas", "retention", "storage", "duplicate_window",
             "max_age", "discard")  # fmt: skip


async def ensure_stream(
    js: JetStreamContext, config: StreamConfig, *, patience: float = 60.0
) -> None:
    """Create the stream, or update it when its configuration differs: every instance of
    every service calls this at start-up, and an update that changes nothing is still a
    proposal to the cluster. A JetStream request that times out or finds no responder
    (a cluster electing its leaders, a loaded machine) is asked again, with backoff,
    for up to ``patience`` seconds, instead of failing the service's start-up."""
    deadline, delay = time.monotonic() + patience, 0.2
    while True:
        try:
            try:
                info = await js.stream_info(config.name)
            except NotFoundError:
                await js.add_stream(config)
                return
            # the server answers 0 for a limit left unset (None): the same setting
            if any(
                (getattr(info.config, f) or None) != (getattr(config, f) or None) for f in _COMPARED
            ):
                await js.update_stream(config)
            return
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "jetstream did not answer, asking again", stream=config.name, error=str(exc)
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def events_stream_config(subjects: Subjects, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        num_replicas=replicas,
        name=subjects.events_stream,
        subjects=[subjects.events_wildcard],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        duplicate_window=EVENTS_DUPLICATE_WINDOW.total_seconds(),
        discard=DiscardPolicy.OLD,
    )


def notifications_stream_config(
    subjects: Subjects, retention_days: int, replicas: int = 1
) -> StreamConfig:
    return StreamConfig(
        num_replicas=replicas,
        name=subjects.notifications_stream,
        subjects=subjects.notifications_wildcards,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=float(retention_days * 86400),
        duplicate_window=3600.0,
        discard=DiscardPolicy.OLD,
    )


async def provision(js: JetStreamContext, settings: Settings) -> None:
    """Create or update every stream Parcours uses (idempotent), at ``nats.replicas``."""
    subjects, replicas = Subjects(settings.nats.prefix), settings.nats.replicas
    await ensure_stream(js, events_stream_config(subjects, replicas))
    await ensure_stream(
        js, notifications_stream_config(subjects, settings.notifications.retention_days, replicas)
    )
