"""Query API of the projections service."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from contracts.roles import PROFESSIONAL_ROLES, Role
from parcours.access_log import record_access
from parcours.auth import requires
from parcours.problems import Problem
from parcours.service import Resources
from projections.api.common import as_of_param
from projections.circle_access import not_in_circle, reader_access


class TimelineEntry(msgspec.Struct, frozen=True):
    event_id: uuid.UUID
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    label: str
    data: dict[str, Any]


class Timeline(msgspec.Struct, frozen=True):
    patient_id: uuid.UUID
    entries: list[TimelineEntry]


@get(
    "/v1/patients/{patient_id:uuid}/timeline",
    guards=[requires(Role.COORDINATOR, Role.ADMIN, *PROFESSIONAL_ROLES)],
    tags=["timeline"],
    summary="A patient's timeline, in business-time order",
    description=(
        "404 when the patient has no event in the caller's CPTS; 403 when the caller is not "
        "in the patient's care circle (coordinators and admins of the CPTS read every "
        "patient; break-the-glass grants a limited time)."
    ),
)
async def patient_timeline(
    request: Request[Any, Any, Any],
    state: State,
    patient_id: uuid.UUID,
    lang: Literal["fr", "en"] = "fr",
    as_of: str | None = None,
) -> Timeline:
    resources: Resources = state.resources
    at = as_of_param(as_of)
    known = await resources.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM timeline WHERE cpts = $1 AND patient_id = $2)",
        request.user.cpts,
        patient_id,
    )
    if not known:  # a patient of another CPTS is not found: no hint that it exists elsewhere
        raise Problem(404, "Unknown patient", "no patient with this id in your CPTS")
    now = await resources.clock.now()
    why = await reader_access(resources.pool, request.user, patient_id, now)
    await record_access(
        resources.pool,
        request,
        "patient timeline",
        [patient_id],
        at=now,
        granted=why is not None,
        break_glass=why == "break-glass",
    )
    if why is None:
        raise not_in_circle()
    rows = await resources.pool.fetch(
        f"""SELECT event_id, type, occurred_at, recorded_at, label_{lang} AS label, data::text AS data
            FROM timeline WHERE cpts = $1 AND patient_id = $2
              AND ($3::timestamptz IS NULL OR recorded_at <= $3)
            ORDER BY occurred_at, version""",
        request.user.cpts,
        patient_id,
        at,
    )
    return Timeline(
        patient_id=patient_id,
        entries=[
            TimelineEntry(
                event_id=r["event_id"],
                type=r["type"],
                occurred_at=r["occurred_at"],
                recorded_at=r["recorded_at"],
                label=r["label"],
                data=msgspec.json.decode(r["data"]),
            )
            for r in rows
        ],
    )
