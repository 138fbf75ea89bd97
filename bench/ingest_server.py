"""The pathways service plus a no-op POST on the same HTTP stack (the ceiling)."""

from __future__ import annotations

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


def main() -> None:
    settings = Settings.from_env()
    configure_logging("json", "warning")
    app = create_app(settings, extra_routes=[noop, group_commit_stats])
    uvicorn.run(
        app,
        host=settings.http.host,
        port=settings.http.pathways_port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
