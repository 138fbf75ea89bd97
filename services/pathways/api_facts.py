"""``POST /v1/facts``: hospitals, labs and professionals report what happened."""

from __future__ import annotations

from typing import Annotated, Any, Union

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import Body

from contracts.facts import FACT_TYPES, INBOUND_FACTS
from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.auth import requires
from parcours.bodies import strict_body
from parcours.service import Resources, correlation_id
from pathways.ingest import FactAccepted, record_fact

FactBody = Union[tuple(INBOUND_FACTS.values())]  # type: ignore[valid-type]  # noqa: UP007

REPORTERS = (Role.DISCHARGE_SYSTEM, Role.COORDINATOR, Role.ADMIN, *PROFESSIONAL_ROLES)


@post(
    "/v1/facts",
    guards=[requires(*REPORTERS)],
    before_request=strict_body(FactBody, FACT_TYPES),
    tags=["facts"],
    summary="Report a clinical fact",
    description=(
        "Appends the fact to the patient's stream. 201 with its event id and position; the "
        "same `event_id` sent again answers 200 with the original answer and writes nothing."
    ),
    status_code=201,
)
async def post_fact(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[FactBody, Body(title="A fact, tagged by `type`")],  # type: ignore[valid-type]
) -> Response[FactAccepted]:
    resources: Resources = state.resources
    now = await resources.clock.now()
    correlation = correlation_id(request.scope.get("state", {}))
    group_commit = resources.extra.get("group_commit")
    if group_commit is not None:
        accepted = await group_commit.record(request.user, data, correlation, now)
    else:
        decide = resources.extra.get("decide")
        kwargs = {"decide": decide} if decide else {}
        accepted = await record_fact(resources.pool, request.user, data, correlation, now, **kwargs)
    return Response(accepted, status_code=200 if accepted.duplicate else 201)
