"""No stored event stops a consumer: a batch applied again one event at a time.

``apply_isolated`` applies a batch in the caller's transaction; when it fails, it applies
the events one at a time, each under a savepoint, and dead-letters the ones that still fail
(parking their stream: ``parcours.deadletters`` says why parking, not skipping).
``undecodable`` makes the dead letter of a message that does not even decode. Used by
``parcours.consumer.EventConsumer`` and the projections' runner and rebuild.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import msgspec
from nats.aio.msg import Msg

from contracts.events import Envelope
from parcours.deadletters import (
    NOT_POISON,
    DeadLetter,
    Parked,
    letter,
    parked_streams,
    reason_of,
    record,
)


class _Loose(msgspec.Struct):
    """What a dead letter needs of an envelope that does not decode."""

    event_id: uuid.UUID = uuid.UUID(int=0)
    cpts: str = "?"
    stream: str = "?"
    type: str = "?"
    position: int | None = 0


def undecodable(consumer: str, msg: Msg, exc: Exception) -> DeadLetter:
    try:
        loose = msgspec.json.decode(msg.data, type=_Loose)
    except (msgspec.DecodeError, msgspec.ValidationError):
        loose = _Loose()
    return letter(consumer, loose, reason_of(exc))


async def apply_isolated(
    conn: asyncpg.Connection,
    consumer: str,
    items: Sequence[Any],
    apply: Callable[[asyncpg.Connection, Sequence[Any]], Awaitable[None]],
    envelope_of: Callable[[Any], Envelope] = lambda d: d.envelope,
    *,
    parked: Parked | None = None,
    isolate: bool = True,
) -> list[Any]:
    """Apply ``items`` (in the caller's transaction); return those applied.

    Items of a parked stream, and items that fail on their own, are dead-lettered for
    ``consumer``; a failing item parks its stream for the rest of the batch too.
    ``parked``: the parked streams, when the caller read them already.
    ``isolate=False`` applies the batch without a savepoint and lets a failure through:
    the caller rolls its transaction back and calls again with ``isolate=True`` (a
    savepoint costs two round trips to PostgreSQL on every batch, poison or not)."""
    if parked is None:
        parked = await parked_streams(conn, consumer, (envelope_of(i).stream for i in items))
    letters: list[DeadLetter] = []
    todo = []
    for item in items:
        env = envelope_of(item)
        if behind := parked.behind(env.stream, env.position):
            letters.append(letter(consumer, env, "", behind))
        else:
            todo.append(item)
    if not isolate:
        if todo:
            await apply(conn, todo)
        await record(conn, letters)
        return todo
    try:
        if todo:
            async with conn.transaction():
                await apply(conn, todo)
        applied = todo
    except NOT_POISON:
        raise
    except Exception:  # noqa: BLE001 - find the poison: one at a time
        applied = []
        for item in todo:
            env = envelope_of(item)
            if behind := parked.behind(env.stream, env.position):
                letters.append(letter(consumer, env, "", behind))
                continue
            try:
                async with conn.transaction():
                    await apply(conn, [item])
                applied.append(item)
            except NOT_POISON:
                raise
            except Exception as exc:  # noqa: BLE001
                letters.append(letter(consumer, env, reason_of(exc)))
                parked.park(env.stream, env.event_id, env.position)
    await record(conn, letters)
    return applied
