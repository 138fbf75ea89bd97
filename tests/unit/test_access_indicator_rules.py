"""The mission's derived indicators on rows (pure): days count from the request's Paris
date (PROTOCOLS.md § 0), a death or a move before the window closes excludes, an
unreachable patient stays missed, an SNP request accepted after its deadline is missed."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from projections.domain.access_indicators import access_cases, indicators

PARIS = ZoneInfo("Europe/Paris")
FILED = dt.datetime(2026, 3, 9, 23, 30, tzinfo=PARIS)  # late on Monday 9 March (Paris)
START, END = dt.date(2026, 3, 1), dt.date(2026, 4, 1)


def gp_row(n: int, declared_days=None, outcome=None, closed_days=None, criteria=("ald",)) -> dict:  # type: ignore[no-untyped-def]
    def at(days):  # type: ignore[no-untyped-def]
        return None if days is None else FILED + dt.timedelta(days=days)

    return {
        "request_id": uuid.UUID(int=n), "pseudonym": f"P{n}", "priority": "P1", "zone": "z",
        "evidence": [], "requested_at": FILED.astimezone(dt.UTC), "declared_at": at(declared_days),
        "outcome": outcome or ("gp-declared" if declared_days is not None else None),
        "closed_at": at(closed_days if closed_days is not None else declared_days),
        "criteria": list(criteria), "source": "referral", "taken_by": None, "taken_at": None,
    }  # fmt: skip


def snp_row(n: int, hours: int, accepted_after=None, outcome=None) -> dict:  # type: ignore[no-untyped-def]
    filed = FILED.astimezone(dt.UTC)
    return {
        "request_id": uuid.UUID(int=n), "pseudonym": f"S{n}", "zone": "z", "evidence": [],
        "requested_at": filed, "deadline": filed + dt.timedelta(hours=hours),
        "within_hours": hours, "outcome": outcome,
        "accepted_at": None if accepted_after is None else filed + dt.timedelta(hours=accepted_after),
        "closed_at": filed + dt.timedelta(minutes=30) if outcome else None,
    }  # fmt: skip


LATER = FILED + dt.timedelta(days=200)


def statuses(code: str, rows: list[dict], snp=(), now=LATER) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [(c.status, c.reason) for c in access_cases(code, rows, list(snp), START, END, now)]


def test_a_declaration_30_calendar_days_after_the_request_day_is_within_30_days() -> None:
    # filed 9 March 23:30 Paris: declared 8 April 23:30 is day 30 (met); an hour later it
    # is 9 April 00:30 in Paris, day 31 (missed)
    assert statuses("ACCESS-GP30", [gp_row(1, 30)]) == [("met", None)]
    assert statuses("ACCESS-GP30", [gp_row(2, 30 + 1 / 24)]) == [("missed", "declared later")]


def test_death_and_moving_away_before_the_window_closes_exclude_unreachable_stays_missed() -> None:
    rows = [
        gp_row(1, outcome="died", closed_days=10),
        gp_row(2, outcome="moved-away", closed_days=29),
        gp_row(3, outcome="moved-away", closed_days=40),  # after the 30 days: missed
        gp_row(4, outcome="unreachable", closed_days=3),
    ]
    assert statuses("ACCESS-GP30", rows) == [
        ("excluded", "died"),
        ("excluded", "moved-away"),
        ("missed", "moved-away"),
        ("missed", "unreachable"),
    ]
    gp30 = next(i for i in indicators(rows, [], [], START, END, LATER) if i.code == "ACCESS-GP30")
    assert (gp30.numerator, gp30.denominator, gp30.excluded, gp30.value) == (0, 2, 2, 0.0)


def test_a_request_whose_window_is_still_open_is_out_of_the_denominator() -> None:
    early = FILED + dt.timedelta(days=12)
    assert statuses("ACCESS-GP30", [gp_row(1)], now=early) == [("open", None)]
    gp30 = next(
        i for i in indicators([gp_row(1)], [], [], START, END, early) if i.code == "ACCESS-GP30"
    )
    assert (gp30.denominator, gp30.open, gp30.value) == (0, 1, None)


def test_snp_answered_in_time_late_withdrawn() -> None:
    rows = [snp_row(1, 24, 23), snp_row(2, 24, 25), snp_row(3, 24, outcome="withdrawn")]
    assert statuses("SNP-24H", [], rows) == [
        ("met", None),
        ("missed", "accepted late"),
        ("excluded", "withdrawn"),
    ]
