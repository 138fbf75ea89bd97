"""Admin routes: the clock. ``POST /v1/admin/clock/advance`` moves a virtual clock
and fires every timer due on the way, in order (simulations, demos, tests)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import Body

from contracts.facts import Instant
from contracts.roles import Role
from parcours.auth import requires
from parcours.clock import MAX_ADVANCE, parse_duration
from parcours.problems import Problem
from parcours.service import Resources


class ClockView(msgspec.Struct, frozen=True):
    now: dt.datetime
    virtual: bool
    fired: int = 0


class AdvanceBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    by: Annotated[str, msgspec.Meta(max_length=32)] | None = None  # "30d", "12h", "90min"
    to: Instant | None = None


@get("/v1/admin/clock", guards=[requires(Role.ADMIN, Role.COORDINATOR)], tags=["admin"])
async def read_clock(state: State) -> ClockView:
    resources: Resources = state.resources
    return ClockView(
        now=await resources.clock.now(), virtual=getattr(resources.clock, "virtual", False)
    )


@post(
    "/v1/admin/clock/advance",
    guards=[requires(Role.ADMIN)],
    tags=["admin"],
    summary="Move the virtual clock, firing every timer due on the way (admin)",
    status_code=200,
)
async def advance_clock(state: State, data: Annotated[AdvanceBody, Body()]) -> ClockView:
    resources: Resources = state.resources
    if not getattr(resources.clock, "virtual", False):
        raise Problem(
            409, "Wall clock", "the clock only moves in simulation mode (PARCOURS_CLOCK=virtual)"
        )
    now = await resources.clock.now()
    if (data.by is None) == (data.to is None):
        raise Problem(
            422, "Invalid field", "give either `by` (e.g. 30d) or `to` (an instant)", field="by"
        )
    try:
        target = data.to if data.to is not None else now + parse_duration(data.by or "")
    except ValueError as exc:
        raise Problem(422, "Invalid field", str(exc), field="by") from None
    if target < now:
        raise Problem(422, "Invalid field", "the clock only moves forward", field="to")
    if target - now > MAX_ADVANCE:
        raise Problem(
            422,
            "Invalid field",
            f"the clock moves at most {MAX_ADVANCE.days} days at once",
            field="to",
        )
    fired = await resources.extra["scheduler"].advance_to(target)
    return ClockView(now=await resources.clock.now(), virtual=True, fired=fired)
