"""``GET /v1/access-report``: who read which patient, when, through which route.

For the CPTS's coordinators, its data-protection officer (role ``dpo``) and admins.
One row per patient per logged read (the shared ``access_log``: timelines, identities,
task details, worklists, enrolment lists, FHIR Task searches, patient exports), with
``granted`` (false: refused, e.g. outside the care circle) and ``break_glass`` (let
through by a break-the-glass grant). Filters: ``since``/``until`` (instants, the service
clock's, ``until`` excluded), ``professional`` (the reader's token subject), ``patient``
(a patient id); ``format=csv`` for a spreadsheet. At most 10,000 rows, oldest first:
``complete`` says whether that cut any. Patient ids only: no identity here.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from contracts import shapes
from contracts.roles import Role
from parcours.access_log import AccessEntry, access_entries
from parcours.auth import Principal, requires
from parcours.problems import Problem
from projections.api.common import resources
from projections.api.exports import csv_response
from projections.query_params import as_of_param

REPORT_READERS = (Role.COORDINATOR, Role.DPO, Role.ADMIN)
LIMIT = 10_000
_SUBJECT = re.compile(shapes.SUBJECT_PATTERN)
COLUMNS = [
    "at",
    "professional",
    "role",
    "patient_id",
    "route",
    "purpose",
    "granted",
    "break_glass",
]


class AccessReport(msgspec.Struct, frozen=True, kw_only=True):
    cpts: str
    complete: bool
    entries: list[AccessEntry]


def _professional(text: str | None) -> str | None:
    if text is not None and not (text.isascii() and _SUBJECT.match(text)):
        raise Problem(
            422,
            "Invalid professional",
            "professional is a token subject: an RPPS or a system id (1-64 ASCII letters, "
            "digits, '-', '_')",
            field="professional",
        )
    return text


@get(
    "/v1/access-report",
    guards=[requires(*REPORT_READERS)],
    tags=["access"],
    summary="Who read which patient, when, through which route (coordinators, DPO)",
    description=__doc__,
)
async def access_report(
    request: Request[Any, Any, Any],
    state: State,
    since: str | None = None,
    until: str | None = None,
    professional: str | None = None,
    patient: uuid.UUID | None = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the query parameter's name
) -> AccessReport:  # or text/csv (format=csv): a Response
    who: Principal = request.user
    entries = await access_entries(
        resources(state).pool,
        who.cpts,
        since=as_of_param(since, "since"),
        until=as_of_param(until, "until"),
        professional=_professional(professional),
        patient=patient,
        limit=LIMIT + 1,
    )
    complete = len(entries) <= LIMIT
    entries = entries[:LIMIT]
    if format == "csv":
        rows = [msgspec.structs.asdict(e) for e in entries]
        for row in rows:
            row["at"] = row["at"].isoformat()
        return csv_response(rows, COLUMNS, f"access-report-{who.cpts}.csv")  # type: ignore[return-value]
    return AccessReport(cpts=who.cpts, complete=complete, entries=entries)
