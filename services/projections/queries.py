"""SQL over the indicator cases: summaries, exclusions, trends and case lists.

Every query takes ``as_of``: None reads the live versions (``valid_to IS NULL``,
served by partial indexes); an instant reads the versions valid at that
recorded instant. Cases belong to a period by the local date of their anchor.
Live summaries and trends read ``proj_indicator_totals`` (the live cases summed
per anchor day and window end, kept by the indicators view): a quarter is a few
hundred rows there, whatever the number of cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from projections.domain.periods import Granularity, Period


def version_filter(as_of: dt.datetime | None, arg: int) -> str:
    """The WHERE fragment that picks the version valid at ``as_of`` (parameter ``$arg``)."""
    if as_of is None:
        return "valid_to IS NULL"
    return f"valid_from <= ${arg} AND (valid_to IS NULL OR valid_to > ${arg})"


class Summary(msgspec.Struct, kw_only=True):
    code: str
    numerator: int = 0
    denominator: int = 0
    cases: int = 0
    met: int = 0
    excluded: int = 0
    ineligible: int = 0
    open: int = 0  # not met yet, window still open at the reference instant


_SUMMARY = """
SELECT code, coalesce(sum(num), 0) AS numerator, coalesce(sum(den), 0) AS denominator,
       count(*) AS cases,
       count(*) FILTER (WHERE status = 'met') AS met,
       count(*) FILTER (WHERE status = 'excluded') AS excluded,
       count(*) FILTER (WHERE status = 'ineligible') AS ineligible,
       count(*) FILTER (WHERE status = 'not_met' AND anchor_day + window_end >= $5) AS open
FROM proj_indicator_cases
WHERE cpts = $1 AND code = ANY($2::text[]) AND anchor_day >= $3 AND anchor_day < $4
  AND {versions}
GROUP BY code
"""


_LIVE_SUMMARY = """
SELECT code, coalesce(sum(num), 0)::bigint AS numerator,
       coalesce(sum(den), 0)::bigint AS denominator, coalesce(sum(cases), 0)::bigint AS cases,
       coalesce(sum(met), 0)::bigint AS met, coalesce(sum(excluded), 0)::bigint AS excluded,
       coalesce(sum(ineligible), 0)::bigint AS ineligible,
       coalesce(sum(not_met) FILTER (WHERE anchor_day + window_end >= $5), 0)::bigint AS open
FROM proj_indicator_totals
WHERE cpts = $1 AND code = ANY($2::text[]) AND anchor_day >= $3 AND anchor_day < $4
GROUP BY code
"""


async def summaries(
    db: asyncpg.Pool | asyncpg.Connection,
    cpts: str,
    codes: Sequence[str],
    period: Period,
    as_of: dt.datetime | None,
    today: dt.date,
) -> dict[str, Summary]:
    args: list[Any] = [cpts, list(codes), period.start, period.end, today]
    if as_of is not None:
        args.append(as_of)
    if as_of is None:
        rows = await db.fetch(_LIVE_SUMMARY, *args)
    else:
        rows = await db.fetch(_SUMMARY.format(versions=version_filter(as_of, 6)), *args)
    found = {r["code"]: Summary(**dict(r)) for r in rows}
    return {c: found.get(c) or Summary(code=c) for c in codes}


async def exclusions(
    db: asyncpg.Pool | asyncpg.Connection,
    cpts: str,
    code: str,
    period: Period,
    as_of: dt.datetime | None,
) -> list[dict[str, Any]]:
    args: list[Any] = [cpts, code, period.start, period.end]
    if as_of is not None:
        args.append(as_of)
    rows = await db.fetch(
        f"""SELECT status, reason, count(*) AS cases FROM proj_indicator_cases
            WHERE cpts = $1 AND code = $2 AND anchor_day >= $3 AND anchor_day < $4
              AND status IN ('excluded', 'ineligible') AND {version_filter(as_of, 5)}
            GROUP BY status, reason ORDER BY status, cases DESC, reason""",
        *args,
    )
    return [dict(r) for r in rows]


async def trend(
    db: asyncpg.Pool | asyncpg.Connection,
    cpts: str,
    code: str,
    periods: Sequence[Period],
    as_of: dt.datetime | None,
) -> list[dict[str, Any]]:
    """Numerator and denominator per period (all of one granularity), oldest first."""
    granularity: Granularity = periods[0].granularity
    args: list[Any] = [cpts, code, periods[0].start, periods[-1].end, granularity]
    if as_of is None:
        source, cases, versions = "proj_indicator_totals", "sum(cases)::bigint", "TRUE"
    else:
        args.append(as_of)
        source, cases, versions = "proj_indicator_cases", "count(*)", version_filter(as_of, 6)
    rows = await db.fetch(
        f"""SELECT date_trunc($5, anchor_day)::date AS start,
                   coalesce(sum(num), 0)::bigint AS numerator,
                   coalesce(sum(den), 0)::bigint AS denominator, {cases} AS cases
            FROM {source}
            WHERE cpts = $1 AND code = $2 AND anchor_day >= $3 AND anchor_day < $4
              AND {versions}
            GROUP BY 1""",
        *args,
    )
    by_start = {r["start"]: r for r in rows}
    out = []
    for p in periods:
        r = by_start.get(p.start)
        out.append(
            {
                "period": p.label,
                "numerator": r["numerator"] if r else 0,
                "denominator": r["denominator"] if r else 0,
                "cases": r["cases"] if r else 0,
            }
        )
    return out


async def cases(
    db: asyncpg.Pool | asyncpg.Connection,
    cpts: str,
    code: str,
    period: Period,
    as_of: dt.datetime | None,
    status: str | None = None,
    limit: int = 10_000,
) -> list[asyncpg.Record]:
    args: list[Any] = [cpts, code, period.start, period.end, status, limit]
    if as_of is not None:
        args.append(as_of)
    return await db.fetch(
        f"""SELECT pseudonym, protocol, anchor_day, status, reason, reason_day, num, den,
                   window_end, evidence
            FROM proj_indicator_cases
            WHERE cpts = $1 AND code = $2 AND anchor_day >= $3 AND anchor_day < $4
              AND ($5::text IS NULL OR status = $5) AND {version_filter(as_of, 7)}
            ORDER BY anchor_day, pseudonym LIMIT $6""",
        *args,
    )
