"""A case's timeline for auditors: pseudonymised, dates as days from the anchor."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, get
from litestar.datastructures import State

from parcours.auth import requires
from parcours.problems import Problem
from projections.api_common import AUDIT_READERS, as_of_param, resources
from projections.domain.periods import days_between, local_day
from projections.domain.pseudonyms import event_pseudonym


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
) -> dict[str, Any]:
    at = as_of_param(as_of)
    pool = resources(state).pool
    cpts = request.user.cpts
    secret = resources(state).settings.pseudonym_secret
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
    return {
        "case": pseudonym,
        "anchor_month": local_day(anchor).strftime("%Y-%m"),
        "enrolments": [
            {
                "protocol": r["protocol"],
                "anchor_day": days_between(anchor, r["anchor_at"]),
                "anchor_month": local_day(r["anchor_at"]).strftime("%Y-%m"),
            }
            for r in anchors
        ],
        "entries": [
            {
                "day": days_between(anchor, r["occurred_at"]),
                "type": r["type"],
                "label": r["label"],
                "event_id": event_pseudonym(secret, cpts, r["event_id"]),
            }
            for r in rows
        ],
    }
