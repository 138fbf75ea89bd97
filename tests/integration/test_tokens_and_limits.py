"""Token claims and abuse limits (issue 11): a signed token whose claims do not have their
shape is a 401 saying which claim; one subject cannot take a process for itself (429 +
Retry-After, health exempt); only the stream routes skip load shedding, whatever the
Accept header says; ``?access_token=`` works on the stream and dashboard routes only."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from notifications.app import create_app as notifications_app
from parcours.devstack import free_port
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from tests.integration.conftest import bearer, serving
from tests.integration.test_load_shedding import lab


@pytest.mark.parametrize(
    ("claims", "claim"),
    [
        ({"zones": 5}, "zones"),
        ({"zones": ["Z1"] * 51}, "zones"),
        ({"zones": ["Saint-Étienne"]}, "zones[0]"),
        ({"cpts": ["demo", "other"]}, "cpts"),
        ({"cpts": "demo.other"}, "cpts"),
        ({"cpts": "DEMO"}, "cpts"),
        ({"sub": "10000000001.x"}, "sub"),
        ({"sub": "١٠٠٠٠٠٠٠٠٠١"}, "sub"),
        ({"specialty": "astrologer"}, "specialty"),
        ({"role": "superuser"}, "role"),
    ],
    ids=lambda v: str(v)[:30],
)
async def test_a_token_whose_claims_have_no_valid_shape_is_a_401_naming_the_claim(
    settings: Settings, token, claims: dict[str, Any], claim: str
) -> None:
    values = {"role": "nurse", "sub": "10000000001", "cpts": "demo", **claims}
    bad = token(values.pop("role"), sub=values.pop("sub"), cpts=values.pop("cpts"), **values)
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        r = await api.post("/v1/facts", json=lab(1), headers=bearer(bad))
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert f"`{claim}`" in r.json()["detail"], r.json()
    assert "١٠٠٠" not in r.text


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task, int]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    running = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    return server, running, port


async def test_one_subject_past_its_rate_gets_429_with_retry_after_others_and_health_do_not(
    settings: Settings, token
) -> None:
    limited = msgspec.structs.replace(settings, rate_limit_per_second=0.5, rate_limit_burst=3)
    greedy = bearer(token("discharge-system", sub="GREEDY-HUB"))
    polite = bearer(token("discharge-system", sub="POLITE-HUB"))
    async with serving(pathways_app(limited, with_relay=False, with_scheduler=False)) as api:
        answers = [await api.post("/v1/facts", json=lab(n), headers=greedy) for n in range(5)]
        assert [r.status_code for r in answers] == [201, 201, 201, 429, 429]
        refused = answers[3]
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["status"] == 429
        # another subject has its own bucket; health has none
        assert (await api.post("/v1/facts", json=lab(10), headers=polite)).status_code == 201
        for _ in range(10):
            assert (await api.get("/health/live")).status_code == 200
        assert (await api.get("/health/ready")).status_code == 200


async def test_an_event_stream_accept_header_does_not_skip_load_shedding(
    settings: Settings, token
) -> None:
    small = msgspec.structs.replace(settings, max_in_flight=2)
    hospital = bearer(token("discharge-system", sub="SHED-HUB"))
    server, running, port = await _serve(
        pathways_app(small, with_relay=False, with_scheduler=False)
    )
    try:
        headers = {**hospital, "accept": "text/event-stream"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=100)
        ) as api:
            burst = await asyncio.gather(
                *(api.post("/v1/facts", json=lab(100 + n), headers=headers) for n in range(40))
            )
        statuses = [r.status_code for r in burst]
        assert 503 in statuses, statuses  # shed like any other request
    finally:
        server.should_exit = True
        await running


async def test_access_token_in_the_query_only_opens_streams(settings: Settings, token) -> None:
    nurse = token("nurse", sub="10000000001")
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        r = await api.get(f"/v1/protocols?access_token={nurse}")
        assert r.status_code == 401, r.text
        assert (await api.get("/v1/protocols", headers=bearer(nurse))).status_code == 200
    server, running, port = await _serve(notifications_app(settings))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            r = await api.get(f"/v1/me/tasks?access_token={nurse}")
            assert r.status_code == 401, r.text
            url = f"/v1/me/notifications/stream?access_token={nurse}"
            async with api.stream("GET", url) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
    finally:
        server.should_exit = True
        await running
