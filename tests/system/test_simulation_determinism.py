"""The same seed gives the same facts and the same indicators: a simulated territory
is played twice, on two fresh systems, and every indicator of every protocol agrees."""

from __future__ import annotations

import datetime as dt
import random

import asyncpg
import httpx
import pytest

from simulator.apps import Apps, followed_in
from simulator.behaviour import simulate
from simulator.driver import play
from simulator.professionals import professional_token, register
from simulator.territory import make_territory
from tests.integration.conftest import eventually
from tests.system.conftest import System

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DAYS = 75


async def indicators_after_simulation(system: System, seed: int, pros: bool = False) -> dict:
    territory = make_territory("demo", 150_000, random.Random(seed))
    facts = simulate(territory, patients=60, start=START, days=DAYS, seed=seed)
    apps = None
    if pros:  # the professionals played too (simulator/apps.py)
        admin = system.token("admin", sub="SIM-ADMIN")
        await register(territory, notifications_url=system.url("notifications"), admin_token=admin)
        apps = Apps(territory, seed=seed, pathways_url=system.url("pathways"),
                    projections_url=system.url("projections"),
                    token_for=professional_token(system.settings, "demo"))  # fmt: skip
        for rpps in followed_in(facts):
            apps.follow(rpps)
    outcome = await play(
        facts,
        pathways_url=system.url("pathways"),
        token=system.token("discharge-system", sub="SIM-HUB"),
        admin_token=system.token("admin", sub="SIM-ADMIN"),
        end=START + dt.timedelta(days=DAYS),
        after_day=apps.day if apps else None,
        before_day=apps.before_day if apps else None,
    )
    in_app = apps.out.completed_in_app if apps else 0
    assert outcome.refused == {} and outcome.accepted == len(facts) - in_app
    auditor = {"Authorization": f"Bearer {system.token('auditor', sub='AUDIT-1')}"}
    conn = await asyncpg.connect(system.settings.database.url)
    try:

        async def caught_up() -> bool:
            # one NATS message per event: the projections have applied every event
            events = await conn.fetchval("SELECT count(*) FROM events")
            applied = await conn.fetchval(
                "SELECT min(stream_seq) FROM consumer_checkpoints WHERE name LIKE '%projections%'"
            )
            return applied == events

        await eventually(caught_up, timeout=60, interval=0.2)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=system.url("projections"), headers=auditor) as client:
        answer = (await client.get("/v1/indicators", params={"period": "2026-Q1"})).json()
    return {
        ind["code"]: (ind["numerator"], ind["denominator"], ind["excluded"])
        for p in answer["protocols"]
        for ind in p["indicators"]
    }


async def test_the_same_seed_gives_the_same_indicators(system_factory) -> None:
    clock = {"clock_start": START - dt.timedelta(days=1)}
    first = await indicators_after_simulation(system_factory(**clock), seed=11)
    second = await indicators_after_simulation(system_factory(**clock), seed=11)
    assert first == second
    assert sum(d for _, d, _ in first.values()) > 0  # the cohort reached the indicators


@pytest.mark.slow  # 80 s: `make test-slow` runs it (make test deselects it, never skips it)
async def test_the_same_seed_gives_the_same_indicators_with_professionals(system_factory) -> None:
    clock = {"clock_start": START - dt.timedelta(days=1)}
    first = await indicators_after_simulation(system_factory(**clock), seed=11, pros=True)
    second = await indicators_after_simulation(system_factory(**clock), seed=11, pros=True)
    assert first == second
    assert sum(d for _, d, _ in first.values()) > 0
