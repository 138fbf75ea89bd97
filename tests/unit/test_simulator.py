"""The simulator is deterministic and follows its parameters."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from contracts.identity import ins_problem
from simulator.behaviour import Parameters, Timeliness, simulate
from simulator.territory import make_territory

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def facts(seed: int, **kw):  # type: ignore[no-untyped-def]
    territory = make_territory("demo", 150_000, random.Random(seed))
    return simulate(territory, patients=300, start=START, days=120, seed=seed, **kw)


def test_the_same_seed_gives_the_same_facts_and_another_seed_other_facts() -> None:
    assert [f.body for f in facts(3)] == [f.body for f in facts(3)]
    assert [f.body for f in facts(3)] != [f.body for f in facts(4)]


def test_facts_come_in_time_order_inside_the_period_with_valid_synthetic_identities() -> None:
    out = facts(5)
    assert [f.at for f in out] == sorted(f.at for f in out)
    assert all(START <= f.at < START + dt.timedelta(days=120) for f in out)
    assert all(ins_problem(f.body["patient"]["ins"]) is None for f in out)
    assert all(f.body["patient"]["oid"] == "1.2.250.1.213.1.4.10" for f in out)  # test OID
    assert len({f.body["event_id"] for f in out}) == len(out)


def test_nothing_is_reported_for_a_patient_after_their_death() -> None:
    by_patient: dict[str, list] = {}
    for f in facts(6):
        by_patient.setdefault(f.body["patient"]["ins"], []).append(f)
    deaths = 0
    for items in by_patient.values():
        died = [f.at for f in items if f.body["type"] == "DeathReported"]
        if died:
            deaths += 1
            assert all(f.at <= died[0] for f in items)
    assert deaths > 0


def gp_visits(out) -> int:  # type: ignore[no-untyped-def]
    return sum(
        1 for f in out if f.body["type"] == "ConsultationReported" and f.body["role"] == "gp"
    )


def test_the_share_of_gp_visits_within_7_days_follows_the_parameter() -> None:
    never = Parameters(hf_gp_7d=Timeliness(0.0, 0.0), copd_gp_7d=Timeliness(0.0, 0.0),
                       copd_gp_second=Timeliness(0.0, 0.0), gd_review=Timeliness(0.0, 0.0))  # fmt: skip
    always = Parameters(hf_gp_7d=Timeliness(1.0, 0.0))
    assert gp_visits(facts(7, params=never)) == 0
    discharged_hf = Counter(
        f.body["patient"]["ins"] for f in facts(7, params=always)
        if f.body["type"] == "DischargeReported" and f.body["diagnoses"][0].startswith(("I50", "I11"))
    )  # fmt: skip
    assert gp_visits(facts(7, params=always)) >= len(discharged_hf)
