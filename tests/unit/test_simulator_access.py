"""The access-to-care traffic of the simulator: deterministic, at the rates it is given,
and every action after the filing of the request it acts on."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from contracts.identity import ins_problem
from simulator.access import AccessParameters, access_actions
from simulator.territory import make_territory

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def actions(seed: int, days: int = 120, **kw):  # type: ignore[no-untyped-def]
    territory = make_territory("demo", 150_000, random.Random(seed))
    params = AccessParameters(**kw)
    return access_actions(
        territory, inhabitants=150_000, start=START, days=days, seed=seed, params=params
    )


def test_the_same_seed_gives_the_same_actions() -> None:
    assert [(a.at, a.kind, a.body) for a in actions(3)] == [
        (a.at, a.kind, a.body) for a in actions(3)
    ]
    assert [a.body for a in actions(3)] != [a.body for a in actions(4)]


def test_referrals_and_snp_requests_come_at_their_rates() -> None:
    kinds = Counter(a.kind for a in actions(5, days=365))
    # 25 referrals / 100 000 inhabitants / month, 150 000 inhabitants, 12 months: ~450
    assert 380 <= kinds["refer"] <= 520, kinds
    # 6 SNP requests / 100 000 / day: ~3 285 a year
    assert 3000 <= kinds["snp"] <= 3600, kinds
    found = kinds["declare"] / kinds["refer"]
    assert 0.28 <= found <= 0.42, found  # found_share 0.35


def test_every_action_follows_the_filing_of_its_request_inside_the_period() -> None:
    out = actions(6)
    assert [a.at for a in out] == sorted(a.at for a in out)
    assert all(START <= a.at < START + dt.timedelta(days=120) for a in out)
    filed: dict[str, dt.datetime] = {}
    for a in out:
        if a.kind in ("refer", "snp"):
            filed[a.key] = a.at
            assert ins_problem(a.body["patient"]["ins"]) is None
            assert a.body["patient"]["oid"] == "1.2.250.1.213.1.4.10"
        elif a.key is not None:
            assert a.key in filed and filed[a.key] <= a.at, a


def test_no_referral_is_found_when_the_share_is_zero() -> None:
    kinds = Counter(a.kind for a in actions(7, found_share=0.0))
    assert kinds["take"] == kinds["declare"] == 0 and kinds["refer"] > 0
