"""The simulated territory plays its professionals (issue 13 item 6): they are in the
directory, their apps claim pool tasks through the API (some lose a race: 409),
accept their own tasks, and the patients' care circles form from what they did."""

from __future__ import annotations

import datetime as dt
import random

import asyncpg
import httpx

from simulator.apps import Apps, followed_in
from simulator.behaviour import simulate
from simulator.driver import play
from simulator.professionals import professional_token, register
from simulator.territory import make_territory
from tests.system.conftest import System

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DAYS = 30


async def test_the_territory_plays_its_professionals(system_factory) -> None:
    system: System = system_factory(clock_start=START - dt.timedelta(days=1))
    territory = make_territory("demo", 20_000, random.Random(3))
    facts = simulate(territory, patients=50, start=START, days=DAYS, seed=3)
    admin = system.token("admin", sub="SIM-ADMIN")
    registered = await register(
        territory, notifications_url=system.url("notifications"), admin_token=admin
    )
    assert registered.added == len(territory.professionals)
    apps = Apps(
        territory,
        seed=3,
        pathways_url=system.url("pathways"),
        projections_url=system.url("projections"),
        token_for=professional_token(system.settings, "demo"),
    )
    for rpps in followed_in(facts):
        apps.follow(rpps)
    outcome = await play(
        facts,
        pathways_url=system.url("pathways"),
        token=system.token("discharge-system", sub="SIM-HUB"),
        admin_token=admin,
        end=START + dt.timedelta(days=DAYS),
        after_day=apps.day,
        before_day=apps.before_day,
    )
    assert outcome.refused == {}
    assert outcome.accepted == len(facts) - apps.out.completed_in_app
    assert apps.out.refused == {}, apps.out

    coordinator = {"Authorization": f"Bearer {system.token('coordinator', sub='COORD-1')}"}
    async with httpx.AsyncClient(base_url=system.url("notifications"), headers=coordinator) as c:
        listed = (await c.get("/v1/directory/professionals")).json()["professionals"]
    assert {p["rpps"] for p in listed} == {p.rpps for p in territory.professionals}
    assert {tuple(p["zones"]) for p in listed} == {p.zones for p in territory.professionals}

    # per-professional worklists: the coordinator sees tasks held by professionals, and
    # a holder sees them in her own worklist
    async with httpx.AsyncClient(base_url=system.url("projections"), headers=coordinator) as c:
        tasks = (await c.get("/v1/worklists/coordinator")).json()["tasks"]
        held = [t for t in tasks if t["assignee"] in {p.rpps for p in territory.professionals}]
        assert held
        holder = next(p for p in territory.professionals if p.rpps == held[0]["assignee"])
        mine = await c.get(
            "/v1/worklists/me",
            headers={
                "Authorization": f"Bearer {professional_token(system.settings, 'demo')(holder)}"
            },
        )
        assert held[0]["task_id"] in {t["task_id"] for t in mine.json()["tasks"]}

    conn = await asyncpg.connect(system.settings.database.url)
    try:
        pros = {p.rpps for p in territory.professionals}
        accepted = await conn.fetch(
            "SELECT actor_id, actor_role FROM events WHERE type = 'TaskAccepted'"
        )
        by_pros = [r for r in accepted if r["actor_id"] in pros]
        assert len(by_pros) == apps.out.claims + apps.out.accepted_own > 0
        assert apps.out.lost_races >= 1
        completed = await conn.fetch(
            "SELECT actor_id, data->>'findings' AS findings FROM events"
            " WHERE type = 'TaskCompleted' AND data->>'by_fact' IS NULL"
        )
        in_app = [r for r in completed if r["actor_id"] in pros and r["findings"]]
        assert len(in_app) == apps.out.completed_in_app > 0
        # circles formed from what the professionals did through the API
        joined = await conn.fetch(
            "SELECT actor_id FROM events WHERE type = 'CareCircleChanged'"
            " AND data->>'source' = 'task' AND data->>'rpps' = actor_id"
        )
        assert len([r for r in joined if r["actor_id"] in pros]) > 0
    finally:
        await conn.close()
