"""The derived indicators of ACI mission 1 (access to care), computed from the access
view's rows (pure: the rows, the period and the instant of judgement come in).

These are derived from the CPTS's own records (PROTOCOLS.md § 6), not official
definitions. A request counts in a period when it was filed in it (Europe/Paris day).

- ``ACCESS-REQUESTS``: GP-access requests filed (a count).
- ``ACCESS-GP30`` / ``ACCESS-GP90``: share of requests with a GP declared within 30 / 90
  days of the request. Per case: ``met`` (declared by then), ``missed`` (not declared by
  then, an unreachable patient included), ``excluded`` (moved away, withdrawn or died
  before the window closed without a GP: PROTOCOLS.md § 0), ``open`` (window not closed yet: out of the
  denominator).
- ``ACCESS-MEDIAN-DAYS``: median calendar days from request to declaration, over the
  requests of the period that found a GP.
- ``ACCESS-ALD-FOUND``: ALD requests that found a GP (by the instant of judgement) among
  those referred and not excluded; a request still open counts in the denominator
  (status ``waiting``).
- ``SNP-24H`` / ``SNP-48H``: unscheduled-care requests accepted before their deadline;
  withdrawn before the deadline unaccepted: excluded; not accepted yet and before the
  deadline: open.
- ``GP-CAPACITY``: new patients taken by GPs (requests taken in the period, not
  declined) against the capacity they declared for periods overlapping it.
Breakdowns by priority group and by zone for the GP-access shares and the median.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from projections.domain.periods import days_between, local_day

EXCLUDING = ("moved-away", "withdrawn", "died")
CODES = (
    "ACCESS-REQUESTS",
    "ACCESS-GP30",
    "ACCESS-GP90",
    "ACCESS-MEDIAN-DAYS",
    "ACCESS-ALD-FOUND",
    "SNP-24H",
    "SNP-48H",
    "GP-CAPACITY",
)
TITLES = {
    "ACCESS-REQUESTS": "GP-access requests filed",
    "ACCESS-GP30": "GP declared within 30 days of the request",
    "ACCESS-GP90": "GP declared within 90 days of the request",
    "ACCESS-MEDIAN-DAYS": "Median days from request to a declared GP",
    "ACCESS-ALD-FOUND": "ALD patients referred who found a GP",
    "SNP-24H": "Unscheduled-care requests answered within 24 h",
    "SNP-48H": "Unscheduled-care requests answered within 48 h",
    "GP-CAPACITY": "GP capacity used (new patients taken / offered)",
}
KINDS = {"ACCESS-REQUESTS": "count", "ACCESS-MEDIAN-DAYS": "median", "GP-CAPACITY": "share"}


class AccessCase(msgspec.Struct, frozen=True, kw_only=True):
    """One request behind an indicator (``case``: the patient's pseudonym)."""

    request_id: Any
    case: str
    status: str  # met, missed, excluded, open, waiting, counted
    reason: str | None = None
    days: int | None = None  # to the declaration (or the acceptance, in hours for SNP)
    priority: str | None = None
    zone: str | None = None
    evidence: list[Any] = []
    requested_at: dt.datetime | None = None
    window_days: int | None = None  # the indicator's window (30, 90), when it has one


class Breakdown(msgspec.Struct, frozen=True, kw_only=True):
    by: str  # priority or zone
    group: str
    numerator: int
    denominator: int
    value: float | None


class AccessIndicator(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    title: str
    kind: str
    derived: bool = True
    value: float | None
    numerator: int
    denominator: int
    cases: int
    met: int
    excluded: int
    open: int
    breakdowns: list[Breakdown] = []


def in_period(at: dt.datetime, start: dt.date, end: dt.date) -> bool:
    return start <= local_day(at) < end


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _window_case(r: Any, days: int, now: dt.datetime) -> AccessCase:
    """Days count as in PROTOCOLS.md § 0: from the request's Paris date, "within N days"
    is a declaration dated at most N days after it (the same day counts as 0)."""
    last_day = local_day(r["requested_at"]) + dt.timedelta(days=days)
    base = {"request_id": r["request_id"], "case": r["pseudonym"], "priority": r["priority"]}
    base |= {"zone": r["zone"], "evidence": list(r["evidence"])}
    base |= {"requested_at": r["requested_at"], "window_days": days}
    declared = r["declared_at"]
    if declared is not None:
        took = max(0, days_between(r["requested_at"], declared))
        if took <= days:
            return AccessCase(status="met", days=took, **base)
        return AccessCase(status="missed", reason="declared later", days=took, **base)
    closed = r["closed_at"]
    if r["outcome"] in EXCLUDING and closed is not None and local_day(closed) <= last_day:
        return AccessCase(status="excluded", reason=r["outcome"], **base)
    if local_day(now) <= last_day:
        return AccessCase(status="open", **base)
    return AccessCase(status="missed", reason=r["outcome"] or "no GP declared", **base)


def _ald_case(r: Any) -> AccessCase:
    base = {"request_id": r["request_id"], "case": r["pseudonym"], "priority": r["priority"]}
    base |= {"zone": r["zone"], "evidence": list(r["evidence"]), "requested_at": r["requested_at"]}
    if r["declared_at"] is not None:
        days = max(0, days_between(r["requested_at"], r["declared_at"]))
        return AccessCase(status="met", days=days, **base)
    if r["outcome"] in EXCLUDING:
        return AccessCase(status="excluded", reason=r["outcome"], **base)
    if r["outcome"] is None:
        return AccessCase(status="waiting", **base)
    return AccessCase(status="missed", reason=r["outcome"], **base)


def _snp_case(r: Any, now: dt.datetime) -> AccessCase:
    base = {"request_id": r["request_id"], "case": r["pseudonym"], "zone": r["zone"]}
    base |= {"evidence": list(r["evidence"]), "requested_at": r["requested_at"]}
    accepted, deadline = r["accepted_at"], r["deadline"]
    if accepted is not None:
        hours = int((accepted - r["requested_at"]).total_seconds() // 3600)
        if accepted <= deadline:
            return AccessCase(status="met", days=hours, **base)
        return AccessCase(status="missed", reason="accepted late", days=hours, **base)
    if r["outcome"] == "withdrawn" and r["closed_at"] is not None and r["closed_at"] <= deadline:
        return AccessCase(status="excluded", reason="withdrawn", **base)
    if now < deadline:
        return AccessCase(status="open", **base)
    return AccessCase(status="missed", reason="not accepted before the deadline", **base)


def _tally(code: str, cases: Sequence[AccessCase], breakdown: bool) -> AccessIndicator:
    met = sum(c.status == "met" for c in cases)
    excluded = sum(c.status == "excluded" for c in cases)
    opened = sum(c.status in ("open", "waiting") for c in cases)
    den = sum(c.status in ("met", "missed", "waiting") for c in cases)
    groups: list[Breakdown] = []
    if breakdown:
        for by, key in (("priority", lambda c: c.priority), ("zone", lambda c: c.zone)):
            groups += _groups(by, key, cases)
    return AccessIndicator(
        code=code,
        title=TITLES[code],
        kind=KINDS.get(code, "share"),
        value=_ratio(met, den),
        numerator=met,
        denominator=den,
        cases=len(cases),
        met=met,
        excluded=excluded,
        open=opened,
        breakdowns=groups,
    )


def _groups(by: str, key: Callable[[AccessCase], Any], cases: Iterable[AccessCase]) -> list:
    out: dict[str, list[int]] = {}
    for c in cases:
        tally = out.setdefault(str(key(c) or "unknown"), [0, 0])
        tally[0] += c.status == "met"
        tally[1] += c.status in ("met", "missed", "waiting")
    return [
        Breakdown(by=by, group=g, numerator=n, denominator=d, value=_ratio(n, d))
        for g, (n, d) in sorted(out.items())
    ]


def access_cases(
    code: str,
    gp_rows: Sequence[Any],
    snp_rows: Sequence[Any],
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
) -> list[AccessCase]:
    """The cases of one indicator (GP-CAPACITY has none: it counts professionals' places)."""
    gp = [r for r in gp_rows if in_period(r["requested_at"], start, end)]
    snp = [r for r in snp_rows if in_period(r["requested_at"], start, end)]
    match code:
        case "ACCESS-REQUESTS":
            return [
                AccessCase(
                    request_id=r["request_id"], case=r["pseudonym"], status="counted",
                    reason=r["source"], priority=r["priority"], zone=r["zone"],
                    evidence=list(r["evidence"]), requested_at=r["requested_at"],
                )
                for r in gp
            ]  # fmt: skip
        case "ACCESS-GP30" | "ACCESS-GP90":
            days = 30 if code == "ACCESS-GP30" else 90
            return [_window_case(r, days, now) for r in gp]
        case "ACCESS-MEDIAN-DAYS":
            found = [_window_case(r, 100_000, now) for r in gp]
            return [
                msgspec.structs.replace(c, window_days=None) for c in found if c.status == "met"
            ]
        case "ACCESS-ALD-FOUND":
            return [_ald_case(r) for r in gp if "ald" in r["criteria"]]
        case "SNP-24H" | "SNP-48H":
            hours = 24 if code == "SNP-24H" else 48
            return [_snp_case(r, now) for r in snp if r["within_hours"] == hours]
    return []


def capacity_used(capacity: Sequence[Any], gp_rows: Sequence[Any], start: dt.date, end: dt.date):  # type: ignore[no-untyped-def]
    """Per GP with capacity declared over periods overlapping [start, end): offered, used."""
    out: dict[str, list[int]] = {}
    for c in capacity:
        if c["period_start"] < end and c["period_end"] >= start:
            out.setdefault(c["gp"], [0, 0])[0] += c["new_patients"]
    for r in gp_rows:
        gp, taken = r["taken_by"], r["taken_at"]
        if gp in out and taken is not None and in_period(taken, start, end):
            if r["outcome"] in (None, "gp-declared"):
                out[gp][1] += 1
    return out


def indicators(
    gp_rows: Sequence[Any],
    snp_rows: Sequence[Any],
    capacity: Sequence[Any],
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
) -> list[AccessIndicator]:
    out = []
    for code in CODES:
        if code == "GP-CAPACITY":
            per_gp = capacity_used(capacity, gp_rows, start, end)
            offered = sum(v[0] for v in per_gp.values())
            used = sum(v[1] for v in per_gp.values())
            out.append(
                AccessIndicator(
                    code=code, title=TITLES[code], kind="share", value=_ratio(used, offered),
                    numerator=used, denominator=offered, cases=len(per_gp), met=used,
                    excluded=0, open=max(0, offered - used),
                )
            )  # fmt: skip
            continue
        cases = access_cases(code, gp_rows, snp_rows, start, end, now)
        if code == "ACCESS-REQUESTS":
            n = len(cases)
            out.append(
                AccessIndicator(
                    code=code, title=TITLES[code], kind="count", value=float(n), numerator=n,
                    denominator=n, cases=n, met=0, excluded=0, open=0,  # counted, not met
                )
            )  # fmt: skip
            continue
        if code == "ACCESS-MEDIAN-DAYS":
            days = [c.days for c in cases if c.days is not None]
            median = float(statistics.median(days)) if days else None
            t = _tally(code, cases, breakdown=False)
            out.append(msgspec.structs.replace(t, value=median, breakdowns=_medians(cases)))
            continue
        out.append(_tally(code, cases, breakdown=code.startswith("ACCESS-GP")))
    return out


def _medians(cases: Sequence[AccessCase]) -> list[Breakdown]:
    out = []
    for by, key in (("priority", lambda c: c.priority), ("zone", lambda c: c.zone)):
        groups: dict[str, list[int]] = {}
        for c in cases:
            groups.setdefault(str(key(c) or "unknown"), []).append(c.days or 0)
        for g, days in sorted(groups.items()):
            median = float(statistics.median(days))
            out.append(
                Breakdown(by=by, group=g, numerator=len(days), denominator=len(days), value=median)
            )
    return out
