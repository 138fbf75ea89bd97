"""Relay leader election: however many relays run, one publishes at a time.

Every relay (``parcours serve relay``, or the relay inside a pathways process) opens a
dedicated PostgreSQL connection and tries the session-level advisory lock
``RELAY_LOCK_ID`` on it every ``retry`` seconds::

    SELECT pg_try_advisory_lock(5783938231335521369)  -- 0x5041524352454C59, "PARCRELY"

The instance holding it leads and runs the relay loop (``pathways.relay.Relay``,
unchanged); the others stand by. The lock belongs to the connection's session, so
it is released when the leader dies: kill -9 or a crash closes the socket and the
server ends the session at once; a machine that vanishes is noticed by the TCP
keepalives set below. A standby then takes the lock on its next try (within
``retry`` seconds). The leader probes its lock connection every ``probe`` seconds and
stops publishing as soon as a probe fails: it no longer knows that it leads. The
batch in flight when leadership moves is published again by the new leader from the
saved checkpoint; ``Nats-Msg-Id`` makes JetStream store it once. On graceful shutdown
the leader unlocks and closes the connection, and a standby takes over at once.

``/health/ready`` shows the role under ``roles.relay``: ``leader``, ``standby``, or
``starting`` before the first try; all are ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from contextlib import suppress

import asyncpg
import structlog

from pathways.relay import Relay

log = structlog.get_logger("pathways.relay")

RELAY_LOCK_ID = 0x5041524352454C59  # "PARCRELY": the session advisory lock of the relay
# a leader whose machine vanishes without closing its socket is dropped in ~11 s
KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}
LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class RelayStoppedError(RuntimeError):
    """The relay loop ended with an error it does not retry: the worker stops (health)."""


class RelayLeadership:
    """Runs ``make_relay().run`` while this instance holds the relay's advisory lock."""

    def __init__(
        self,
        database_url: str,
        make_relay: Callable[[], Relay],
        *,
        roles: MutableMapping[str, str] | None = None,
        retry: float = 1.0,
        probe: float = 1.0,
    ) -> None:
        self.database_url, self.make_relay = database_url, make_relay
        self.roles = {} if roles is None else roles
        self.retry, self.probe = retry, probe
        self.published = 0  # by this instance, over all its terms
        self.terms = 0  # how many times it took the lead
        self._set("starting")  # until its first try

    @property
    def role(self) -> str:
        return self.roles["relay"]

    def _set(self, role: str) -> None:
        self.roles["relay"] = role

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.database_url, server_settings=KEEPALIVES)
                while not stop.is_set():
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_ID):
                        await self._lead(conn, stop)
                    else:
                        self._set("standby")
                        await _pause(stop, self.retry)
            except LOST as exc:
                log.warning("relay election connection lost", error=str(exc))
                await _pause(stop, self.retry)
            finally:
                self._set("standby")
                if conn is not None:
                    await _release(conn)

    async def _lead(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        """Publish until ``stop`` or until the lock connection fails (then raise)."""
        self.terms += 1
        self._set("leader")
        log.info("relay leads", term=self.terms)
        relay, term = self.make_relay(), asyncio.Event()
        task = asyncio.create_task(relay.run(term), name="relay")
        try:
            while not stop.is_set():
                done, _ = await asyncio.wait({task}, timeout=self.probe)
                if done:
                    try:
                        task.result()
                    except LOST as exc:  # not a lost lock: the relay itself stopped
                        raise RelayStoppedError(str(exc)) from exc
                    return
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self.probe * 2)
        finally:
            term.set()
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
            self.published += relay.published
            log.info("relay stands down", term=self.terms, published=relay.published)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _release(conn: asyncpg.Connection) -> None:
    """Unlock (a no-op when not held) and close: a standby may lead at once."""
    with suppress(Exception):
        await asyncio.wait_for(conn.execute("SELECT pg_advisory_unlock_all()"), 2)
    with suppress(Exception):
        await asyncio.wait_for(conn.close(), 2)
    if not conn.is_closed():
        conn.terminate()
