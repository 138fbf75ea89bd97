"""Access-to-care traffic (ACI mission 1) for a simulated territory: GP-access referrals
and their lifecycle, GP capacity, SNP slots and unscheduled-care requests.

Every rate is a parameter (``AccessParameters``); the defaults follow the figures of
shared/PROTOCOLS.md § 6 where there is one, and a stated guess where there is none:
- about 11 % of the French population has no declared GP (Assurance Maladie 2023,
  ~6 million people): referrals are a share of them, ``referrals_per_100k_month``
  (guess: 25 per 100 000 inhabitants a month reach the CPTS);
- a third of ALD patients without a GP found one in the pilot départements
  (ameli 2024): ``found_share`` 0.35 within the simulated span;
- SNP demand: ``snp_per_100k_day`` (guess: 6 per 100 000 inhabitants a day reach the
  CPTS's SNP organisation), 60 % within 24 h, 85 % accepted before the deadline.
Pure: a seeded ``random.Random`` in, the same actions out. ``Action``s are played by
``simulator.driver`` at their instant (the virtual clock is moved there first).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from simulator.territory import COMMUNES, Territory, make_patient

CRITERIA_SHARES = {  # share of referrals naming each criterion (guesses, CPTS forms)
    "ald": 0.30,
    "c2s": 0.10,
    "ame": 0.04,
    "pregnancy": 0.03,
    "disability": 0.05,
    "gp-left": 0.35,
}
FIRST_ACCESS_PATIENT = 900_000  # synthetic patient numbers apart from the pathways'


@dataclass(frozen=True)
class AccessParameters:
    referrals_per_100k_month: float = 25.0
    age_70_plus: float = 0.25
    child: float = 0.08
    found_share: float = 0.35  # a GP takes it and the declaration follows
    decline_share: float = 0.15  # a GP who took it gives it back (then another may take)
    unreachable_share: float = 0.08
    moved_away_share: float = 0.04
    withdrawn_share: float = 0.04
    days_to_take: tuple[int, int] = (2, 60)
    days_to_declare: tuple[int, int] = (3, 21)
    gp_capacity: tuple[int, int] = (0, 4)  # new patients a GP accepts a month
    snp_per_100k_day: float = 6.0
    snp_24h_share: float = 0.6
    snp_accepted_share: float = 0.85
    snp_slot_gps: float = 0.4  # share of GPs declaring SNP slots on working days
    snp_outcomes: tuple[tuple[str, float], ...] = (
        ("seen", 0.85),
        ("redirected", 0.10),
        ("no-show", 0.05),
    )
    snp_requesters: tuple[tuple[str, float], ...] = (
        ("pharmacist", 0.35),
        ("nurse", 0.20),
        ("service", 0.35),  # the SAS (the 15's regulation)
        ("coordinator", 0.10),
    )


@dataclass(frozen=True)
class Action:
    """One call: ``kind`` says which; ``key`` names the request it acts on (the driver
    keeps the ids the filing answers gave); ``actor`` is (role, sub)."""

    at: dt.datetime
    kind: str  # capacity, slots, refer, take, decline, declare, close, snp, accept, snp-close
    actor: tuple[str, str]
    body: dict = field(hash=False, default_factory=dict)
    key: str | None = None


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for value, share in weighted:
        total += share
        if roll < total:
            return value
    return weighted[-1][0]


def _work_time(day: dt.date, rng: random.Random) -> dt.datetime:
    """08:00-18:00 UTC on ``day``."""
    return dt.datetime.combine(day, dt.time(8), dt.UTC) + dt.timedelta(minutes=rng.randrange(600))


def access_actions(
    territory: Territory,
    *,
    inhabitants: int,
    start: dt.datetime,
    days: int,
    seed: int,
    params: AccessParameters = AccessParameters(),
) -> list[Action]:
    rng = random.Random(seed * 7919 + 14)
    end = start + dt.timedelta(days=days)
    gps = territory.of_role("gp")
    out: list[Action] = []
    per_day = inhabitants / 100_000
    for month_start in _months(start.date(), end.date()):
        for gp in gps:
            places = rng.randint(*params.gp_capacity)
            last = _month_end(month_start)
            body = {"period_start": month_start.isoformat(), "period_end": last.isoformat()}
            body["new_patients"] = places
            body["profiles"] = ["ald"] if rng.random() < 0.3 else []
            declared_on = max(month_start, start.date())
            out.append(Action(_work_time(declared_on, rng), "capacity", ("gp", gp.rpps), body))
    slot_gps = [g for g in gps if rng.random() < params.snp_slot_gps]
    n = FIRST_ACCESS_PATIENT
    for d in range(days):
        day = start.date() + dt.timedelta(days=d)
        if day.weekday() < 5:
            for gp in slot_gps:
                body = {"day": day.isoformat(), "zone": gp.zones[0], "slots": 2}
                at = dt.datetime.combine(day, dt.time(6), dt.UTC)
                out.append(Action(at, "slots", ("gp", gp.rpps), body))
        for _ in range(_poisson(rng, params.referrals_per_100k_month * per_day / 30.4)):
            n += 1
            out += _referral(rng, territory, params, n, _work_time(day, rng), gps, end)
        for _ in range(_poisson(rng, params.snp_per_100k_day * per_day)):
            n += 1
            out += _snp(rng, territory, params, n, _work_time(day, rng), slot_gps)
    out = [a for a in out if start <= a.at < end]
    out.sort(key=lambda a: (a.at, a.kind != "capacity", a.key or ""))
    return out


def _referral(rng, t, p, n, at, gps, end) -> list[Action]:  # type: ignore[no-untyped-def]
    roll = rng.random()
    age = rng.randint(70, 95) if roll < p.age_70_plus else rng.randint(1, 15) if roll < p.age_70_plus + p.child else rng.randint(17, 69)  # fmt: skip
    patient = make_patient(n, t, rng, sex=rng.choice("FM"), age=age, today=at.date())
    key = f"gp-{n}"
    criteria = [c for c, share in CRITERIA_SHARES.items() if rng.random() < share]
    body = {"patient": patient.identity(), "criteria": criteria}
    nurse = rng.choice(t.of_role("nurse") or t.professionals)
    out = [Action(at, "refer", (nurse.role, nurse.rpps), body, key)]
    coordinator = ("coordinator", "SIM-COORD")
    roll = rng.random()
    if roll < p.found_share:
        taken = at + dt.timedelta(days=rng.randint(*p.days_to_take), hours=rng.randint(0, 6))
        gp = rng.choice(gps)
        out.append(Action(taken, "take", ("gp", gp.rpps), {}, key))
        if rng.random() < p.decline_share:
            back = taken + dt.timedelta(days=rng.randint(1, 7))
            out.append(
                Action(back, "decline", ("gp", gp.rpps), {"reason": "no room after all"}, key)
            )
            gp = rng.choice(gps)
            taken = back + dt.timedelta(days=rng.randint(*p.days_to_take))
            out.append(Action(taken, "take", ("gp", gp.rpps), {}, key))
        declared = taken + dt.timedelta(days=rng.randint(*p.days_to_declare))
        fact = {"type": "GPDeclared", "patient": patient.identity(), "rpps": gp.rpps}
        fact["declared_at"] = declared.isoformat().replace("+00:00", "Z")
        out.append(Action(declared, "declare", ("gp", gp.rpps), fact, key))
        return out
    roll -= p.found_share
    for outcome, share in (
        ("unreachable", p.unreachable_share),
        ("moved-away", p.moved_away_share),
        ("withdrawn", p.withdrawn_share),
    ):
        if roll < share:
            closed = at + dt.timedelta(days=rng.randint(2, 40))
            out.append(Action(closed, "close", coordinator, {"outcome": outcome}, key))
            return out
        roll -= share
    return out  # still waiting at the end of the run


def _snp(rng, t, p, n, at, slot_gps) -> list[Action]:  # type: ignore[no-untyped-def]
    patient = make_patient(n, t, rng, sex=rng.choice("FM"), age=rng.randint(1, 95), today=at.date())
    within = 24 if rng.random() < p.snp_24h_share else 48
    role = _pick(rng, p.snp_requesters)
    sub = {"pharmacist": "pharmacist", "nurse": "nurse"}.get(role)
    pro = rng.choice(t.of_role(sub)) if sub and t.of_role(sub) else None
    actor = (role, pro.rpps if pro else {"service": "SIM-SAS"}.get(role, "SIM-COORD"))
    key = f"snp-{n}"
    body = {"patient": patient.identity(), "within_hours": within}
    out = [Action(at, "snp", actor, body, key)]
    # slots are declared on working days: a weekend request finds no one (it escalates)
    local = [g for g in slot_gps if patient.commune in g.zones[:1]] if at.weekday() < 5 else []
    if local and rng.random() < p.snp_accepted_share:
        gp = rng.choice(local)
        accepted = at + dt.timedelta(minutes=rng.randrange(30, within * 60 - 60))
        out.append(Action(accepted, "accept", ("gp", gp.rpps), {}, key))
        seen = accepted + dt.timedelta(hours=rng.randint(1, 6))
        outcome = {"outcome": _pick(rng, p.snp_outcomes)}
        out.append(Action(seen, "snp-close", ("gp", gp.rpps), outcome, key))
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth) for small means."""
    limit, k, prod = pow(2.718281828459045, -mean), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, d = [], first.replace(day=1)
    while d <= last:
        out.append(d)
        d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def _month_end(d: dt.date) -> dt.date:
    return (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


__all__ = ["COMMUNES", "AccessParameters", "Action", "access_actions"]
