"""``POST /v1/facts:batch``: up to 10,000 facts in one request (backfills).

The body is a JSON array of facts (``application/json``) or one fact per line
(``application/x-ndjson``), each shaped as for ``POST /v1/facts``. The answer
is 200 with one result per item, in order: ``{index, status, event_id,
position, stream, consequences}`` for 201 (recorded) and 200 (already recorded
with this ``event_id``: nothing written), ``{index, status, problem}`` for 422
(bad JSON line, schema violation, bad INS, unknown type: ``problem.field`` is
the path inside the item, NDJSON items also give their ``line``) and 409 (the
``event_id`` names another fact). One bad item never rejects the others.
More than 10,000 items is a 413; the body may be up to ``batch_max_bytes``.

Litestar routes the colon in ``/v1/facts:batch`` as a literal character (no
alias is needed; ``%3A`` works too).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

from parcours.auth import requires
from parcours.bodies import bounded_json
from parcours.problems import Problem
from parcours.service import Resources, correlation_id
from pathways.api_facts import REPORTERS
from pathways.batch import (
    MAX_ITEMS,
    BatchAnswer,
    BatchBodyError,
    BatchTooLargeError,
    record_batch,
    split_body,
)

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def _is_ndjson(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    if media in NDJSON_TYPES:
        return True
    if media in ("", "application/json"):
        return False
    raise Problem(
        415,
        "Unsupported media type",
        "send application/json (an array of facts) or application/x-ndjson (one fact a line)",
    )


async def post_facts_batch(request: Request[Any, Any, Any], state: State) -> Response[BatchAnswer]:
    resources: Resources = state.resources
    ndjson = _is_ndjson(request.headers.get("content-type", ""))
    body = await request.body()
    try:
        raws = split_body(body, ndjson)
    except BatchTooLargeError as exc:
        raise Problem(413, "Too many facts", str(exc), max_items=MAX_ITEMS) from None
    except BatchBodyError as exc:
        raise Problem(400, "Malformed batch", str(exc)) from None
    answer = await record_batch(
        resources.pool,
        request.user,
        raws,
        correlation_id(request.scope.get("state", {})),
        await resources.clock.now(),
        resources.extra["decider"],
        states=resources.extra["scheduler"].states,
    )
    return Response(answer, status_code=200)


def batch_route(max_body_bytes: int) -> HTTPRouteHandler:
    """The route, with its own body limit (larger than the service's 1 MiB)."""
    return post(
        "/v1/facts:batch",
        guards=[requires(*REPORTERS)],
        before_request=bounded_json,
        request_max_body_size=max_body_bytes,
        tags=["facts"],
        summary="Report up to 10,000 facts at once (JSON array or NDJSON)",
        description=__doc__,
        status_code=200,
        name="facts-batch",
    )(post_facts_batch)
