"""What every service process has: a PostgreSQL pool, a NATS connection, health,
tokens, problem details, correlation ids, OpenAPI at /schema.

``build_app`` assembles a Litestar app from a service's routes and background
workers; nothing connects before the app starts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from litestar import Litestar, get
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.types import ASGIApp, Receive, Scope, Send
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from contracts.subjects import Subjects
from parcours import natsio, signin
from parcours.auth import STREAM_PATHS, BearerAuthMiddleware, TokenVerifier
from parcours.clock import Clock, VirtualClock, WallClock
from parcours.eventstore import DuplicateEventError, VersionConflictError
from parcours.problems import EXCEPTION_HANDLERS, Problem, problem_response
from parcours.ratelimit import SubjectRateLimitMiddleware
from parcours.settings import Settings

log = structlog.get_logger("parcours.service")

Worker = Callable[[Any, asyncio.Event], Awaitable[None]]  # (the runtime, stop)


@dataclass
class Resources:
    """The live connections of a service, on ``app.state.resources``."""

    settings: Settings
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext
    clock: Clock
    subjects: Subjects
    # workers that ended before the service stopped (a crash): /health/ready says so
    stopped_workers: set[str] = field(default_factory=set)
    # elected workers' roles on this instance (relay: leader or standby), shown by health
    roles: dict[str, str] = field(default_factory=dict)


def make_clock(settings: Settings, pool: asyncpg.Pool) -> Clock:
    return VirtualClock(pool, settings.clock_start) if settings.clock == "virtual" else WallClock()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool connections carry no session state (no LISTEN, SET or advisory lock is left
    on them), so the reset round trip asyncpg makes on every release is skipped."""


async def create_pool(settings: Settings, **options: Any) -> asyncpg.Pool:
    params: dict[str, Any] = {
        "min_size": 2,
        "max_size": settings.database.pool_size,
        "command_timeout": 30,
        "reset": _keep_session,
    }
    params.update(options)
    return await asyncpg.create_pool(settings.database.url, **params)


@asynccontextmanager
async def open_resources(settings: Settings, name: str) -> AsyncIterator[Resources]:
    pool = await create_pool(settings)
    try:
        nc = await natsio.connect(settings, name)
        try:
            js = nc.jetstream(timeout=5)
            await natsio.provision(js, settings)
            yield Resources(
                settings=settings,
                pool=pool,
                nc=nc,
                js=js,
                clock=make_clock(settings, pool),
                subjects=Subjects(settings.nats.prefix),
            )
        finally:
            with suppress(Exception):
                await nc.drain()
    finally:
        await pool.close()


class CorrelationMiddleware:
    """Reads ``X-Correlation-ID`` (or makes one), binds it to logs, echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        correlation = ""
        for key, value in scope["headers"]:
            if key == b"x-correlation-id":
                correlation = value.decode("latin-1")[:128]
                break
        correlation = correlation or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation
        structlog.contextvars.bind_contextvars(correlation_id=correlation)

        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (b"x-correlation-id", correlation.encode("latin-1"))
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id")


def correlation_id(scope_state: dict[str, Any]) -> str:
    return scope_state.get("correlation_id") or str(uuid.uuid4())


@get("/health/live", include_in_schema=True, tags=["health"], sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", tags=["health"])
async def ready(state: State) -> Any:
    resources: Resources | None = state.get("resources")
    checks: dict[str, str] = {}
    if resources is None:
        raise Problem(503, "Not ready", "the service is starting")
    try:
        await asyncio.wait_for(resources.pool.fetchval("SELECT 1"), 2)
        checks["postgresql"] = "ok"
    except Exception:
        checks["postgresql"] = "unavailable"
    try:
        await asyncio.wait_for(resources.js.account_info(), 2)
        checks["nats"] = "ok"
    except Exception:
        checks["nats"] = "unavailable"
    if stopped := resources.stopped_workers:  # a worker crashed: restart me
        checks["workers"] = "stopped: " + ", ".join(sorted(stopped))
    if any(v != "ok" for v in checks.values()):
        return problem_response(
            Problem(503, "Not ready", "a dependency or a worker is unavailable", checks=checks)
        )
    return {
        "status": "ok",
        "checks": checks,
        **({"roles": resources.roles} if resources.roles else {}),
    }


def _store_conflict(request: Any, exc: Exception) -> Any:
    if isinstance(exc, DuplicateEventError):
        return problem_response(Problem(409, "Duplicate event id", str(exc)), request)
    return problem_response(
        Problem(409, "Version conflict", str(exc), actual_version=getattr(exc, "actual", None)),
        request,
    )


def _database_unavailable(request: Any, exc: Exception) -> Any:
    log.warning("database unavailable", error_type=type(exc).__name__)
    return problem_response(
        Problem(
            503,
            "Service unavailable",
            "a service this one depends on (PostgreSQL) is unavailable: send the same request "
            "again (with the same event id, a fact already recorded is answered 200 and stored "
            "once)",
            headers={"Retry-After": "2"},
        ),
        request,
    )


HANDLERS = {
    **EXCEPTION_HANDLERS,
    DuplicateEventError: _store_conflict,
    VersionConflictError: _store_conflict,
    # PostgreSQL down or restarting: answer at once, never a 500, never a hang
    OSError: _database_unavailable,
    asyncpg.PostgresConnectionError: _database_unavailable,
    asyncpg.InterfaceError: _database_unavailable,
    asyncpg.CannotConnectNowError: _database_unavailable,
    asyncpg.AdminShutdownError: _database_unavailable,
    # a connection broken mid-operation (a failover): its state is unknown, retry
    asyncpg.InternalClientError: _database_unavailable,
    TimeoutError: _database_unavailable,
}


def _streaming(scope: Scope) -> bool:
    """A live feed (Server-Sent Events) stays open for hours: it is not load in flight.
    Only the stream routes are feeds; an ``Accept`` header makes no request one."""
    return scope["path"] in STREAM_PATHS


class LoadShedMiddleware:
    """Past ``limit`` requests in flight, answer 503 with Retry-After at once.

    An overloaded service that queues without bound answers everyone late and
    then times out; shedding the excess keeps the accepted requests fast and
    tells clients when to come back. Health checks are never shed.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/health") or _streaming(scope):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            body = (
                b'{"type":"https://parcours.example/problems/overloaded","title":"Overloaded",'
                b'"status":503,"detail":"too many requests in flight; retry after the delay"}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"retry-after", b"1"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _provide_runtime(state: State) -> Any:
    return state.runtime


def watched(resources: Resources, worker: Worker, live: Any, stop: asyncio.Event) -> asyncio.Task:
    """Run a worker (given ``live``: the runtime, or the resources); when it ends before
    ``stop`` (a crash), log why and mark it for health."""
    name = getattr(worker, "__name__", "worker")

    def ended(task: asyncio.Task) -> None:
        if stop.is_set() or task.cancelled():
            return
        exc = task.exception()
        log.error("worker stopped", worker=name, error_type=type(exc).__name__, exc_info=exc)
        resources.stopped_workers.add(name)

    task = asyncio.create_task(worker(live, stop), name=name)
    task.add_done_callback(ended)
    return task


def build_app(
    settings: Settings,
    *,
    name: str,
    title: str,
    route_handlers: Sequence[Any],
    workers: Sequence[Worker] = (),
    on_ready: Callable[[Resources], Awaitable[None]] | None = None,
    runtime: Callable[[Resources], Any] | None = None,
    extra: Callable[[AppConfig], None] | None = None,
    browser_sign_in: bool = False,
) -> Litestar:
    """A Litestar app for one service; connections open in its lifespan.

    ``runtime`` builds the service's typed runtime object from the open resources:
    handlers receive it through dependency injection (a parameter named ``runtime``),
    workers as their first argument (without it, both get the ``Resources``).
    ``browser_sign_in`` adds the OpenID sign-in routes (``parcours.signin``) for a
    service that serves pages."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_resources(settings, name) as resources:
            app.state.resources = resources
            app.state.runtime = live = resources if runtime is None else runtime(resources)
            if on_ready is not None:
                await on_ready(resources)
            stop = asyncio.Event()
            tasks = [watched(resources, w, live, stop) for w in workers]
            log.info("service ready", service=name)
            try:
                yield
            finally:
                stop.set()
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with suppress(asyncio.CancelledError, Exception):
                        await task

    verifier = TokenVerifier(settings)
    config = AppConfig(
        route_handlers=[live, ready, *route_handlers, *(signin.ROUTES if browser_sign_in else ())],
        lifespan=[lifespan],
        exception_handlers=HANDLERS,
        middleware=[
            lambda app: LoadShedMiddleware(app, settings.http.max_in_flight),
            CorrelationMiddleware,
            lambda app: BearerAuthMiddleware(app, verifier),
            lambda app: SubjectRateLimitMiddleware(
                app, settings.http.rate_limit_per_second, settings.http.rate_limit_burst
            ),
        ],
        openapi_config=OpenAPIConfig(
            title=title,
            version="0.1.0",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        dependencies={"runtime": Provide(_provide_runtime, sync_to_thread=False)},
        request_max_body_size=settings.http.max_body_bytes,
        debug=False,
        state=State({"settings": settings, "token_verifier": verifier}),
    )
    if extra is not None:
        extra(config)
    return Litestar.from_config(config)
