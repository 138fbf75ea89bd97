"""No patient identity in any log line: a simulated territory runs through the three
services (real processes, JSON logs), then every log line is searched for every seeded
INS, name and birth date."""

from __future__ import annotations

import datetime as dt
import random
import re

import asyncpg
import httpx
import pytest

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


# Identity with hostile characters: quotes and SQL, escapes, line breaks, right-to-left
# override, non-Latin scripts, format strings, markup — and the NUL character, which
# PostgreSQL cannot store (its jsonb error context would quote the traits).
HOSTILE = (
    "O'Brien\"; DROP TABLE patient_identities; --",
    "Zoé\u202eEVIL",
    "名前テスト",
    "Line\nBreak\tTab",
    "back\\slash \\u0000 %s%n{0}",
    "<script>alert(1)</script>",
    "emoji 😀",
)


def hostile_patient(n: int, ins: str, nul: bool = False) -> dict:
    marker = f"HOSTILE{n:03d}"
    name = f"{marker} {HOSTILE[n % len(HOSTILE)]}" + ("\x00" if nul else "")
    return {
        "ins": ins,
        "oid": "1.2.250.1.213.1.4.10",
        "birth_name": name,
        "first_names": f"{marker}-first{chr(0) if nul else ''}",
        "birthplace": f"{marker}-place",
        "commune": "75114",
        "sex": "F",
        "birth_date": "1950-01-01",
    }


async def test_hostile_identity_reaches_no_log_of_any_component(system: System) -> None:
    from contracts.identity import synthetic_ins

    hospital = {"Authorization": f"Bearer {system.token('discharge-system', sub='HOSTILE-HUB')}"}
    answers = []
    async with httpx.AsyncClient(base_url=system.url("pathways"), timeout=30) as api:
        for n in range(2 * len(HOSTILE)):
            nul = n % 2 == 1
            fact = {
                "type": "DischargeReported",
                "patient": hostile_patient(n, synthetic_ins(95_000 + n), nul=nul),
                "admitted_at": "2026-03-01T09:00:00Z",
                "discharged_at": "2026-03-08T14:00:00Z",
                "diagnoses": ["I50.1"],
                "finess": "750712184",
            }
            r = await api.post("/v1/facts", json=fact, headers=hospital)
            answers.append((nul, r.status_code, r.json().get("field")))
            batch = await api.post("/v1/facts:batch", json=[fact], headers=hospital)
            assert batch.status_code == 200, batch.text
            answers.append((nul, batch.json()["results"][0]["status"], None))
    # the NUL is refused at the edge (the field named), everything else recorded
    assert all(status == 422 for nul, status, _ in answers if nul), answers
    assert all(f == "patient.birth_name" for nul, s, f in answers if nul and f is not None)
    assert all(status in (200, 201) for nul, status, _ in answers if not nul), answers

    # and should a statement fail on traits anyway, the server logs no part of them
    conn = await asyncpg.connect(system.settings.database_url)
    try:
        with pytest.raises(asyncpg.PostgresError):
            await conn.fetchval("SELECT $1::jsonb", '{"birth_name": "HOSTILE999 \\u0000 x"}')
        with pytest.raises(asyncpg.PostgresError):
            await conn.fetchval("SELECT $1::text", "HOSTILE998 \x00 x")
    finally:
        await conn.close()

    system.stop_all()
    system.pg.stop()  # type: ignore[attr-defined]
    system.nats.stop()  # type: ignore[attr-defined]
    logs = {
        "services": system.log_text(),
        "postgresql": system.pg.log_path.read_text(errors="replace"),  # type: ignore[attr-defined]
        "nats": system.nats.log_path.read_text(errors="replace"),  # type: ignore[attr-defined]
    }
    assert "ERROR" in logs["postgresql"]  # the failing statements were logged, as messages
    for component, text in logs.items():
        leaks = sorted(set(re.findall(r"HOSTILE\d{3}", text)))
        assert leaks == [], f"identity in the {component} log: {leaks}"
