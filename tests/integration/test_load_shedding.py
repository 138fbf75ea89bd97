"""Past its limit of requests in flight a service answers 503 with Retry-After at once,
rather than queueing until clients time out, and serves normally when the burst is over."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn

from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.devstack import free_port
from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.conftest import bearer


def lab(n: int) -> dict:
    return {
        "type": "LabResultReported",
        "patient": {"ins": synthetic_ins(7_000_000 + n), "oid": INS_TEST_OID},
        "collected_at": "2026-03-02T10:00:00Z",
        "loinc": "2823-3",
        "value": 4.2,
        "unit": "mmol/L",
    }


async def test_a_burst_beyond_the_limit_is_shed_with_retry_after_then_served(
    settings: Settings, token
) -> None:
    small = settings.replace(max_in_flight=4)
    hospital = bearer(token("discharge-system"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(small, with_relay=False, with_scheduler=False),
            host="127.0.0.1", port=port, log_config=None, lifespan="on",
        )
    )  # fmt: skip
    running = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    limits = httpx.Limits(max_connections=100)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as api:
            await _burst(api, hospital)
    finally:
        server.should_exit = True
        await running


async def _burst(api: httpx.AsyncClient, hospital: dict[str, str]) -> None:
    burst = await asyncio.gather(
        *(api.post("/v1/facts", json=lab(n), headers=hospital) for n in range(60))
    )
    statuses = [r.status_code for r in burst]
    assert set(statuses) <= {201, 503}
    shed = [r for r in burst if r.status_code == 503]
    assert shed and statuses.count(201) >= 4
    assert all(r.headers["retry-after"] == "1" for r in shed)
    assert all(r.headers["content-type"] == "application/problem+json" for r in shed)
    assert (await api.get("/health/ready")).status_code == 200  # health is never shed
    after = [await api.post("/v1/facts", json=lab(100 + n), headers=hospital) for n in range(5)]
    assert [r.status_code for r in after] == [201] * 5
