"""A simulated run of access-to-care traffic (``simulator.access``) through the pathways
API on the virtual clock: the calls succeed (or lose a race: 409), the views fill, and no
response of the waiting list nor of the auditor views carries a simulated identity."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from simulator.access import access_actions
from simulator.access_driver import AccessOutcome, play_actions
from simulator.territory import make_territory
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.test_projections_helpers import running

START = dt.datetime(2026, 3, 2, 0, tzinfo=dt.UTC)
DAYS = 40


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, START)


async def test_a_simulated_run_fills_the_views_and_shows_no_identity(virtual, token) -> None:  # type: ignore[no-untyped-def]
    territory = make_territory("demo", 40_000, random.Random(11))
    actions = access_actions(territory, inhabitants=40_000, start=START, days=DAYS, seed=11)
    admin = bearer(token("admin", sub="SIM-ADMIN"))

    async def advance(client, to: dt.datetime) -> int:  # type: ignore[no-untyped-def]
        now = dt.datetime.fromisoformat(
            (await client.get("/v1/admin/clock", headers=admin)).json()["now"]
        )
        if to <= now:
            return 0
        moved = await client.post(
            "/v1/admin/clock/advance", headers=admin, json={"to": to.isoformat()}
        )
        assert moved.status_code == 200, moved.text
        return moved.json()["fired"]

    out = AccessOutcome()
    auditor, gp = token("auditor", sub="AUDIT-1"), token("gp", sub=territory.of_role("gp")[0].rpps)
    async with (
        running(virtual) as h,
        serving(pathways_app(virtual, with_relay=False, with_scheduler=False)) as api,
    ):
        await play_actions(api, advance, actions, lambda role, sub: token(role, sub=sub), {}, out)
        assert out.refused == {}, out.problems
        assert out.ok > 0.9 * out.calls, out
        await advance(api, START + dt.timedelta(days=DAYS))
        await h.settle()
        responses = [json.dumps(await h.get("/v1/gp-access/waiting-list", gp))]
        for period in ("2026-03", "2026-04", "2026-Q1", "2026"):
            listed = await h.get("/v1/indicators", auditor, period=period)
            responses.append(json.dumps(listed))
            [group] = [p for p in listed["protocols"] if p["id"] == "access-to-care"]
            for i in group["indicators"]:
                responses.append(
                    json.dumps(
                        await h.get(f"/v1/indicators/{i['code']}/cases", auditor, period=period)
                    )
                )
                responses.append(
                    json.dumps(await h.get(f"/v1/indicators/{i['code']}", auditor, period=period))
                )
            responses.append(
                json.dumps(await h.get("/v1/gp-access/indicators", auditor, period=period))
            )
            responses.append(
                json.dumps(await h.get("/v1/gp-access/capacity", auditor, period=period))
            )
            responses.append(json.dumps(await h.get("/v1/reports/mission", auditor, period=period)))
            responses.append(
                await h.get("/v1/reports/mission", auditor, period=period, format="csv")
            )
        march = json.loads(responses[1])
        values = {i["code"]: i for p in march["protocols"] for i in p["indicators"]}
        assert values["ACCESS-REQUESTS"]["value"] > 0 and values["SNP-24H"]["denominator"] > 0
    identities = {
        v
        for a in actions
        if "patient" in a.body
        for k, v in a.body["patient"].items()
        if k in ("ins", "birth_date") or (k in ("birth_name", "first_names") and len(v) > 4)
    }
    text = "\n".join(responses)
    assert [s for s in identities if s in text] == []
