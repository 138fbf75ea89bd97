"""One active instance per durable consumer, with takeover, for any number of instances.

Several instances of a service run the same consumers (the notifications router, each
projection consumer). Two instances pulling from one durable JetStream consumer would
split its messages, and the one whose later message commits first would move the
checkpoint past the other's: an event never applied. So each consumer is *led*:

- **Election.** Each instance tries the session advisory lock of the consumer
  (``lock_key(name)``: 63 bits of a BLAKE2b of the name) on a connection it holds for
  its term; the holder consumes, the others retry every ``retry`` seconds. kill -9 or a
  vanished machine ends the session, the lock goes, a standby leads.
- **Fencing.** A leader's lock connection can die while the leader still runs (a
  PostgreSQL failover: the new primary knows no lock). On taking the lead an instance
  increments ``consumer_checkpoints.term``; every apply checks, in the transaction that
  moves the checkpoint, that the term is still its own (``check_term``), and an old
  leader's apply fails with ``LeadershipLostError`` instead of committing.
- **Its own JetStream consumer.** Each term reads through a durable consumer named after
  it (``<name>-t<term>``), created from the checkpoint, and deletes those of earlier
  terms: an old leader can no longer take messages that the new one is waiting for.

A leader probes its lock connection every ``probe`` seconds and stands down when it fails.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress

import asyncpg
import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

log = structlog.get_logger("parcours.leadership")

LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class LeadershipLostError(RuntimeError):
    """Another instance took the lead of this consumer: stop applying, stand by."""


class LedWorkStoppedError(RuntimeError):
    """The led work ended with an error it does not retry: the worker stops (health)."""


def lock_key(name: str) -> int:
    """The advisory lock of the consumer ``name`` (a signed 64-bit integer, never negative)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") >> 1


async def take_term(conn: asyncpg.Connection, name: str) -> int:
    """Begin a new term of ``name``'s leadership: every earlier leader is fenced off."""
    await conn.execute(
        "INSERT INTO consumer_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING", name
    )
    return await conn.fetchval(
        "UPDATE consumer_checkpoints SET term = term + 1 WHERE name = $1 RETURNING term", name
    )


def check_term(name: str, held: int | None, current: int) -> None:
    if held is not None and held != current:
        raise LeadershipLostError(f"{name}: term {held} ended, term {current} leads")


Lead = Callable[[int, asyncio.Event], Awaitable[None]]


class Leadership:
    """Runs ``lead(term, stop)`` while this instance holds ``name``'s advisory lock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        name: str,
        *,
        roles: MutableMapping[str, str] | None = None,
        retry: float = 1.0,
        probe: float = 1.0,
    ) -> None:
        self.pool, self.name, self.retry, self.probe = pool, name, retry, probe
        self.roles = {} if roles is None else roles  # shown by /health/ready
        self.role = "starting"
        self.terms = 0

    @property
    def role(self) -> str:
        return self.roles[self.name]

    @role.setter
    def role(self, value: str) -> None:
        self.roles[self.name] = value

    async def run(self, stop: asyncio.Event, lead: Lead) -> None:
        key = lock_key(self.name)
        while not stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                        self.role = "standby"
                        await pause(stop, self.retry)
                        continue
                    try:
                        await self._lead(conn, stop, lead)
                    finally:
                        await _release(conn, key)
            except LeadershipLostError as exc:
                log.warning("consumer stands down", consumer=self.name, reason=str(exc))
            except LOST as exc:
                log.warning("consumer election waiting", consumer=self.name, error=str(exc))
                await pause(stop, self.retry)
            finally:
                self.role = "standby"

    async def _lead(self, conn: asyncpg.Connection, stop: asyncio.Event, lead: Lead) -> None:
        term = await take_term(conn, self.name)
        self.terms += 1
        self.role = "leader"
        log.info("consumer leads", consumer=self.name, term=term)
        ended = asyncio.Event()
        task = asyncio.create_task(lead(term, ended), name=f"lead {self.name}")
        try:
            while not stop.is_set():
                done, _ = await asyncio.wait({task}, timeout=self.probe)
                if done:
                    try:
                        task.result()
                    except LeadershipLostError:
                        raise  # stand by, and try again
                    except Exception as exc:  # not a lost lock: the work itself stopped
                        raise LedWorkStoppedError(str(exc)) from exc
                    return
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self.probe * 2)
        finally:
            ended.set()
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task


async def pause(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _release(conn: asyncpg.Connection, key: int) -> None:
    """Unlock; a connection that cannot say so is closed, which unlocks too."""
    try:
        await asyncio.wait_for(conn.execute("SELECT pg_advisory_unlock($1)", key), 2)
    except Exception:  # noqa: BLE001 - the session is broken: end it
        with suppress(Exception):
            conn.terminate()


def durable_name(name: str, term: int | None) -> str:
    """The JetStream consumer a term of ``name`` reads through."""
    return name if term is None else f"{name}-t{term}"


async def pending(js: JetStreamContext, stream: str, name: str) -> int:
    """Messages the leading term of consumer ``name`` has not yet had acknowledged."""
    terms = {term_of(name, c.name): c for c in await js.consumers_info(stream)}
    terms.pop(None, None)
    if not terms:
        raise NotFoundError
    info = terms[max(terms)]  # type: ignore[type-var]
    return (info.num_pending or 0) + (info.num_ack_pending or 0)


def term_of(name: str, durable: str) -> int | None:
    """The term of a JetStream consumer of ``name`` (0 for the unelected one), or None."""
    if durable == name:
        return 0
    digits = durable.removeprefix(f"{name}-t")
    return int(digits) if digits != durable and digits.isdigit() else None
