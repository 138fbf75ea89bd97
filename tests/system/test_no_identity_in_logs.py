"""No patient identity in any log line: a simulated territory runs through the three
services (real processes, JSON logs), then every log line is searched for every seeded
INS, name and birth date."""

from __future__ import annotations

import datetime as dt
import random

import httpx

from simulator.behaviour import simulate
from simulator.driver import play
from simulator.territory import make_territory
from tests.system.conftest import System


async def test_the_logs_of_a_simulated_run_name_no_patient(system: System) -> None:
    territory = make_territory("demo", 150_000, random.Random(7))
    admin = system.token("admin", sub="ADMIN-1")
    async with httpx.AsyncClient(base_url=system.url("pathways")) as client:
        now = (
            await client.get("/v1/admin/clock", headers={"Authorization": f"Bearer {admin}"})
        ).json()
    start = dt.datetime.fromisoformat(now["now"]).replace(hour=0, minute=0, second=0, microsecond=0)
    start += dt.timedelta(days=1)
    facts = simulate(territory, patients=40, start=start, days=45, seed=7)
    # and some bad input carrying identity: refused, and still never logged
    bad = dict(facts[0].body, event_id=facts[1].body["event_id"])
    outcome = await play(
        facts,
        pathways_url=system.url("pathways"),
        token=system.token("discharge-system", sub="SIM-HUB"),
        admin_token=admin,
        end=start + dt.timedelta(days=45),
    )
    assert outcome.refused == {} and outcome.accepted == len(facts)
    async with httpx.AsyncClient(base_url=system.url("pathways")) as client:
        refused = await client.post(
            "/v1/facts",
            json=bad,
            headers={"Authorization": f"Bearer {system.token('discharge-system')}"},
        )
        assert refused.status_code == 409
        wrong_key = dict(
            facts[2].body,
            patient=dict(facts[2].body["patient"], ins=facts[2].body["patient"]["ins"][:-2] + "00"),
        )
        answer = await client.post(
            "/v1/facts",
            json=wrong_key,
            headers={"Authorization": f"Bearer {system.token('discharge-system')}"},
        )
        assert answer.status_code == 422
    system.stop_all()
    logs = system.log_text()
    assert len(logs.splitlines()) > 5  # the services did log
    identities = {f.body["patient"]["ins"] for f in facts}
    identities |= {wrong_key["patient"]["ins"]}
    names = {f.body["patient"]["birth_name"] for f in facts} | {
        f.body["patient"]["first_names"] for f in facts
    }
    births = {f.body["patient"]["birth_date"] for f in facts}
    leaks = sorted(value for value in identities | names | births if value in logs)
    assert leaks == [], f"patient identity found in the logs: {leaks[:5]}"
