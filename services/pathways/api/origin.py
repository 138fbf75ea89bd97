"""The envelope of what an HTTP request decides: its CPTS, actor and correlation id."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request

from contracts.events import Actor
from parcours.auth import Principal
from parcours.service import correlation_id
from pathways.streams import Origin


def request_origin(request: Request[Any, Any, Any], occurred_at: dt.datetime) -> Origin:
    who: Principal = request.user
    return Origin(
        cpts=who.cpts,
        actor=Actor(id=who.sub, role=who.actor_role),
        correlation_id=correlation_id(request.scope.get("state", {})),
        occurred_at=occurred_at,
    )
