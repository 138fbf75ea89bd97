"""GP access and unscheduled care through the API, on the virtual clock (issue 14): a
request, a GP takes it (the second GP gets 409), the declaration closes it; declined, it
is back on the list; past its target it escalates; a discharge without a GP files one;
two GPs accept the same SNP request at once: one 200, one 409."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from parcours.eventstore import EventStore
from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.access_scenario import (
    GP_A,
    GP_B,
    GP_C,
    NURSE,
    PHARMACIST,
    START,
    ZONE,
    gp_declared,
    hf_discharge,
    patient,
)
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, serving


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, START)


def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings, with_relay=False, with_scheduler=False)


async def stream_types(settings: Settings, stream: str) -> list[str]:
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        return [r.type for r in await EventStore(pool).read_stream(stream)]
    finally:
        await pool.close()


async def _refer(api, token, n: int, criteria: list[str], **traits) -> dict:  # type: ignore[no-untyped-def]
    nurse = bearer(token("nurse", sub=NURSE))
    body = {"patient": patient(n, **traits), "criteria": criteria}
    answer = await api.post("/v1/gp-access/requests", headers=nurse, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_request_taken_by_one_gp_then_declared(virtual: Settings, token) -> None:  # type: ignore[no-untyped-def]
    async with serving(app(virtual)) as api:
        filed = await _refer(api, token, 1401, ["ald"])  # born 1950: 75 on 9 March 2026
        assert (filed["priority"], filed["target_days"]) == ("P1", 30)
        assert filed["criteria"] == ["ald", "age-70-plus"]
        rid = filed["request_id"]
        take = f"/v1/gp-access/requests/{rid}/take"
        first = await api.post(take, headers=bearer(token("gp", sub=GP_A)))
        second = await api.post(take, headers=bearer(token("gp", sub=GP_B)))
        assert (first.status_code, second.status_code) == (200, 409), second.text
        # she took it: she joins the patient's care circle (the circle's rule)
        assert first.json()["events"] == ["GPAccessTaken", "CareCircleChanged"]
        assert second.json()["current_status"] == "taken"
        # she took it: she may read who the patient is; the GP who lost the race may not
        identity = f"/v1/patients/{first.json()['patient_id']}/identity"
        mine = await api.get(identity, headers=bearer(token("gp", sub=GP_A)))
        theirs = await api.get(identity, headers=bearer(token("gp", sub=GP_B)))
        assert (mine.status_code, theirs.status_code) == (200, 403), theirs.text
        assert mine.json()["birth_date"] == "1950-05-01"
        hospital = bearer(token("gp", sub=GP_A))
        declared = await api.post(
            "/v1/facts", headers=hospital, json=gp_declared(1401, GP_A, START)
        )
        assert declared.status_code == 201, declared.text
        assert declared.json()["consequences"] == 1  # closed; she is in the circle already
        types = await stream_types(virtual, declared.json()["stream"])
        assert types == [
            "GPAccessRequested",
            "GPAccessTaken",
            "CareCircleChanged",
            "GPDeclared",
            "GPAccessClosed",
        ]


async def test_declined_goes_back_on_the_list(virtual: Settings, token) -> None:  # type: ignore[no-untyped-def]
    async with serving(app(virtual)) as api:
        rid = (await _refer(api, token, 1402, ["c2s"], born="1990-01-01"))["request_id"]
        base = f"/v1/gp-access/requests/{rid}"
        assert (
            await api.post(f"{base}/take", headers=bearer(token("gp", sub=GP_A)))
        ).status_code == 200
        no_reason = await api.post(f"{base}/decline", headers=bearer(token("gp", sub=GP_A)))
        assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
        declined = await api.post(
            f"{base}/decline", headers=bearer(token("gp", sub=GP_A)), json={"reason": "list full"}
        )
        assert declined.status_code == 200, declined.text
        again = await api.post(f"{base}/take", headers=bearer(token("gp", sub=GP_B)))
        assert again.status_code == 200, again.text


async def test_past_its_target_the_wait_escalates(virtual: Settings, token) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(token("admin", sub="ADMIN-1"))
    async with serving(app(virtual)) as api:
        early = (await _refer(api, token, 1403, [], born="1980-01-01"))["request_id"]  # P3: 90 d
        late = (await _refer(api, token, 1404, [], born="1980-01-01"))["request_id"]
        moved = await api.post("/v1/admin/clock/advance", headers=admin, json={"by": "89d"})
        assert moved.status_code == 200, moved.text
        coordinator = bearer(token("coordinator", sub="COORD-1"))
        closed = await api.post(
            f"/v1/gp-access/requests/{early}/close",
            headers=coordinator,
            json={"outcome": "withdrawn"},
        )
        assert closed.status_code == 200, closed.text
        await api.post("/v1/admin/clock/advance", headers=admin, json={"by": "2d"})
    pool = await asyncpg.create_pool(virtual.database.url, min_size=1, max_size=2)
    try:
        rows = await pool.fetch(
            "SELECT data->>'request_id' AS rid, data->>'reason' AS reason FROM events "
            "WHERE type = 'GPAccessEscalated' AND data->>'request_id' = ANY($1::text[]) "
            "ORDER BY position",
            [early, late],
        )
    finally:
        await pool.close()
    reasons = {rid: [r["reason"] for r in rows if r["rid"] == rid] for rid in (early, late)}
    # both: not contacted within 2 working days; only the one still waiting passes 90 days
    assert reasons == {early: ["contact-overdue"], late: ["contact-overdue", "target-passed"]}


async def test_a_followed_discharge_without_a_gp_files_a_request(virtual: Settings, token) -> None:  # type: ignore[no-untyped-def]
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    async with serving(app(virtual)) as api:
        now = dt.datetime.fromisoformat(
            (await api.get("/v1/admin/clock", headers=bearer(token("admin")))).json()["now"]
        )
        alone = await api.post("/v1/facts", headers=hospital, json=hf_discharge(1405, now))
        with_gp = await api.post(
            "/v1/facts",
            headers=hospital,
            json=hf_discharge(1406, now, [{"role": "gp", "rpps": GP_A}]),
        )
        assert (alone.status_code, with_gp.status_code) == (201, 201)
    assert "GPAccessRequested" in await stream_types(virtual, alone.json()["stream"])
    assert "GPAccessRequested" not in await stream_types(virtual, with_gp.json()["stream"])


async def test_two_gps_accept_one_snp_request_at_once(virtual: Settings, token) -> None:  # type: ignore[no-untyped-def]
    gps = {gp: bearer(token("gp", sub=gp)) for gp in (GP_A, GP_B)}
    async with serving(app(virtual)) as one, serving(app(virtual)) as other:
        now = dt.datetime.fromisoformat(
            (await one.get("/v1/admin/clock", headers=bearer(token("admin")))).json()["now"]
        )
        for headers in gps.values():
            body = {"day": now.date().isoformat(), "zone": ZONE, "slots": 2}
            assert (await one.post("/v1/snp/slots", headers=headers, json=body)).status_code == 201
        pharmacist = bearer(token("pharmacist", sub=PHARMACIST))
        for n in range(1407, 1410):  # three races, each on two service instances
            asked = await one.post(
                "/v1/snp/requests",
                headers=pharmacist,
                json={"patient": patient(n), "within_hours": 24, "reason": "fever"},
            )
            assert asked.status_code == 201, asked.text
            assert asked.json()["offered_to"] == 2
            accept = f"/v1/snp/requests/{asked.json()['request_id']}/accept"
            answers = await asyncio.gather(
                one.post(accept, headers=gps[GP_A]), other.post(accept, headers=gps[GP_B])
            )
            assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        outsider = bearer(token("gp", sub=GP_C))
        asked = await one.post(
            "/v1/snp/requests",
            headers=pharmacist,
            json={"patient": patient(1410), "within_hours": 48},
        )
        rid = asked.json()["request_id"]
        refused = await one.post(f"/v1/snp/requests/{rid}/accept", headers=outsider)
        assert refused.status_code == 403
        ok = await one.post(f"/v1/snp/requests/{rid}/accept", headers=gps[GP_B])
        seen = await one.post(
            f"/v1/snp/requests/{rid}/close", headers=gps[GP_B], json={"outcome": "seen"}
        )
        assert (ok.status_code, seen.status_code) == (200, 200), seen.text
