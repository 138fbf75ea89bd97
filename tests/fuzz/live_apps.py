"""The three services running in-process on an event loop of their own thread, so that
synchronous code (a hypothesis state machine) can call them: ``apps.run(coro)`` runs a
coroutine on that loop, ``apps.clients`` are their HTTP clients (``tests/integration``'s
``serving``: lifespans, workers and real connections to the session's PostgreSQL and NATS).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.conftest import serving

T = TypeVar("T")


class LiveApps:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stop: asyncio.Event | None = None
        self._served: Future[None] | None = None

    async def _serve(self, ready: Future[None]) -> None:
        """One task enters and leaves every app (their task groups need the same task)."""
        self._stop = asyncio.Event()
        try:
            async with (
                serving(pathways_app(self.settings)) as pathways,
                serving(notifications_app(self.settings)) as notifications,
                serving(projections_app(self.settings)) as projections,
            ):
                self.clients.update(
                    pathways=pathways, notifications=notifications, projections=projections
                )
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def __enter__(self) -> LiveApps:
        self._thread.start()
        ready: Future[None] = Future()
        self._served = asyncio.run_coroutine_threadsafe(self._serve(ready), self._loop)
        ready.result(timeout=120)
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        try:
            if self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
            if self._served is not None:
                self._served.result(timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()
