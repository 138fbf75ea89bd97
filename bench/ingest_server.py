"""The pathways service plus a no-op POST on the same HTTP stack (the ceiling).

``python -m bench.ingest_server [uvicorn|granian] [WORKERS]``: the HTTP server and its
number of worker processes are the choices ``parcours bench ingest --server`` measures
(each worker its own app, pool and group commit)."""

from __future__ import annotations

import sys
from typing import Annotated

import uvicorn
from litestar import Response, get, post
from litestar.params import Body

from parcours.auth import requires
from parcours.logs import configure_logging
from parcours.settings import Settings
from pathways.api.facts import REPORTERS, FactBody
from pathways.app import create_app
from pathways.runtime import PathwaysRuntime


@post("/bench/noop", guards=[requires(*REPORTERS)], status_code=201)
async def noop(data: Annotated[FactBody, Body()]) -> Response[dict]:  # type: ignore[valid-type]
    """Same auth, same body decoding, no IO."""
    return Response({"event_id": None}, status_code=201)


@get("/bench/group-commit", sync_to_thread=False)
def group_commit_stats(runtime: PathwaysRuntime) -> dict:
    """How ``POST /v1/facts`` wrote its facts: groups, facts in groups, single path."""
    gc = runtime.group_commit
    return {"groups": gc.groups, "grouped": gc.grouped, "single": gc.single}


def make_app():  # noqa: ANN201 - the ASGI app factory both servers import in each worker
    configure_logging("json", "warning")
    return create_app(Settings.from_env(), extra_routes=[noop, group_commit_stats])


def main() -> None:
    server = sys.argv[1] if len(sys.argv) > 1 else "uvicorn"
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    settings = Settings.from_env()
    if server == "granian":
        from granian.constants import Interfaces, Loops
        from granian.log import LogLevels
        from granian.server import Server

        Server(
            "bench.ingest_server:make_app",
            address=settings.http.host,
            port=settings.http.pathways_port,
            interface=Interfaces.ASGI,
            workers=workers,
            loop=Loops.uvloop,
            factory=True,
            log_enabled=False,
            log_level=LogLevels.warning,
        ).serve()
        return
    uvicorn.run(
        "bench.ingest_server:make_app",
        factory=True,
        workers=workers,
        host=settings.http.host,
        port=settings.http.pathways_port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
