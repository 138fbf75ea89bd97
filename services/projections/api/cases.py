"""A case's timeline for auditors: pseudonymised, dates as days from the anchor."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from parcours.auth import requires
from parcours.problems import Problem
from projections.api.common import AUDIT_READERS, as_of_param, resources
from projections.domain.periods import days_between, local_day
from projections.domain.pseudonyms import event_pseudonym


class CaseEnrolment(msgspec.Struct, frozen=True, kw_only=True):
    protocol: str
    anchor_day: int  # days from the case's first anchor
    anchor_month: str


class CaseEntry(msgspec.Struct, frozen=True, kw_only=True):
    day: int  # days from the case's first anchor
    type: str
    label: str
    event_id: str  # a pseudonym of the event (never a sender's raw event id)


class CaseTimeline(msgspec.Struct, frozen=True, kw_only=True):
    """A case as auditors see it: a pseudonym, months and days from the anchor, no dates."""

    case: str
    anchor_month: str
    enrolments: list[CaseEnrolment]
    entries: list[CaseEntry]


@get(
    "/v1/cases/{pseudonym:str}/timeline",
    guards=[requires(*AUDIT_READERS)],
    tags=["indicators"],
    summary="The pseudonymised timeline of a case (days from the anchor)",
)
async def case_timeline(
    request: Request[Any, Any, Any],
    state: State,
    pseudonym: str,
    lang: Literal["fr", "en"] = "fr",
    as_of: str | None = None,
) -> CaseTimeline:
    at = as_of_param(as_of)
    pool = resources(state).pool
    cpts = request.user.cpts
    secret = resources(state).settings.auth.pseudonym_secret
    enrolments = await pool.fetch(
        """SELECT DISTINCT ON (enrolment_id) patient_id, protocol, anchor_at
           FROM proj_enrolments WHERE cpts = $1 AND pseudonym = $2
             AND ($3::timestamptz IS NULL OR valid_from <= $3)
           ORDER BY enrolment_id, valid_from""",
        cpts,
        pseudonym,
        at,
    )
    if not enrolments:
        raise Problem(404, "Unknown case", "no case with this pseudonym in your CPTS")
    anchors = sorted(enrolments, key=lambda r: r["anchor_at"])
    anchor = anchors[0]["anchor_at"]
    rows = await pool.fetch(
        f"""SELECT event_id, type, occurred_at, label_{lang} AS label FROM timeline
            WHERE cpts = $1 AND patient_id = $2
              AND ($3::timestamptz IS NULL OR recorded_at <= $3)
            ORDER BY occurred_at, version""",
        cpts,
        anchors[0]["patient_id"],
        at,
    )
    return CaseTimeline(
        case=pseudonym,
        anchor_month=local_day(anchor).strftime("%Y-%m"),
        enrolments=[
            CaseEnrolment(
                protocol=r["protocol"],
                anchor_day=days_between(anchor, r["anchor_at"]),
                anchor_month=local_day(r["anchor_at"]).strftime("%Y-%m"),
            )
            for r in anchors
        ],
        entries=[
            CaseEntry(
                day=days_between(anchor, r["occurred_at"]),
                type=r["type"],
                label=r["label"],
                event_id=event_pseudonym(secret, cpts, r["event_id"]),
            )
            for r in rows
        ],
    )
