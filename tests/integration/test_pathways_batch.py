"""``POST /v1/facts:batch``: per-item answers, one bad item never rejects the others,
re-sending is idempotent, bodies above 1 MiB, NDJSON, and the 10,000-item limit."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import msgspec
import pytest

from contracts.events import payload_decoder
from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.eventstore import EventStore
from parcours.settings import Settings
from pathways.app import create_app
from pathways.domain import fold
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.hf_facts import DISCHARGE, discharge, gp_visit


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC))


async def count_events(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.database.url)
    try:
        return await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()


async def test_each_item_gets_its_answer_and_a_bad_item_does_not_reject_the_others(
    virtual: Settings, token
) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    bad_key = synthetic_ins(101)[:-2] + ("00" if synthetic_ins(101)[-2:] != "00" else "01")
    items = [
        discharge(100, event_id=str(uuid.uuid4())),  # 0: enrols
        gp_visit(
            100, dt.timedelta(hours=3), event_id=str(uuid.uuid4())
        ),  # 1: same patient, completes the GP task
        {**discharge(101), "patient": {"ins": bad_key, "oid": INS_TEST_OID}},  # 2: bad INS
        {**discharge(102), "discharged_at": "yesterday"},  # 3: schema violation
        {**discharge(103), "type": "Teleported"},  # 4: unknown type
        {k: v for k, v in discharge(104).items() if k != "finess"},  # 5: missing field
        discharge(105, nickname="Bob"),  # 6: unknown field
        discharge(106),  # 7: enrols, no event id of the sender
        discharge(108, discharged_at=iso(DISCHARGE + dt.timedelta(days=30))),  # 8: not yet
    ]
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post("/v1/facts:batch", headers=hospital, json=items)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        results = body["results"]
        assert [r["index"] for r in results] == list(range(9))
        assert [r["status"] for r in results] == [201, 201, 422, 422, 422, 422, 422, 201, 422]
        assert (body["items"], body["created"], body["duplicates"], body["failed"]) == (9, 3, 0, 6)
        # enrolled, 19 tasks, and a GP-access request: the discharge names no GP (issue 14)
        assert results[0]["consequences"] == 21
        assert results[1]["consequences"] == 2  # the GP task completed, the GP joined the circle
        assert results[0]["stream"] == results[1]["stream"] != results[7]["stream"]
        assert results[1]["position"] > results[0]["position"]
        problems = {r["index"]: r["problem"] for r in results if r["status"] == 422}
        assert problems[2]["field"] == "patient.ins" and "key" in problems[2]["detail"]
        assert problems[3]["field"] == "discharged_at"
        assert problems[4]["field"] == "type" and "DischargeReported" in problems[4]["accepted"]
        assert problems[5]["field"] == "finess" and "missing" in problems[5]["detail"]
        assert problems[6]["field"] == "nickname"
        assert (problems[8]["title"], problems[8]["field"]) == (
            "Date in the future",
            "discharged_at",
        )

        # the same batch again: the items with an event id answer 200 and nothing is written
        before = await count_events(virtual)
        again = (await api.post("/v1/facts:batch", headers=hospital, json=items[:2])).json()
        assert [r["status"] for r in again["results"]] == [200, 200]
        assert [r["position"] for r in again["results"]] == [
            results[0]["position"],
            results[1]["position"],
        ]
        assert await count_events(virtual) == before

        # a known event id with other content is a conflict, the rest is recorded
        reused = {**gp_visit(100, dt.timedelta(hours=3)), "event_id": items[0]["event_id"]}
        mixed = (
            await api.post("/v1/facts:batch", headers=hospital, json=[reused, discharge(107)])
        ).json()
        assert [r["status"] for r in mixed["results"]] == [409, 201]
        assert mixed["results"][0]["problem"]["field"] == "event_id"


async def test_ndjson_names_the_line_of_a_malformed_item(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    lines = [
        msgspec.json.encode(discharge(200)),
        b"",
        b'{"type": "DischargeReported", "patient": ',
        msgspec.json.encode(discharge(201)),
    ]
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post(
            "/v1/facts:batch",
            headers={**hospital, "Content-Type": "application/x-ndjson"},
            content=b"\n".join(lines) + b"\n",
        )
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == [201, 422, 201]
        assert results[1]["problem"]["title"] == "Malformed JSON"
        assert results[1]["problem"]["line"] == 3


async def test_repeated_event_id_inside_a_batch_is_recorded_once(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    item = discharge(300, event_id=str(uuid.uuid4()))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        results = (await api.post("/v1/facts:batch", headers=hospital, json=[item, item])).json()[
            "results"
        ]
        assert [r["status"] for r in results] == [201, 200]
        assert results[0]["position"] == results[1]["position"]


async def test_limits_and_media_types(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        too_many = await api.post(
            "/v1/facts:batch",
            headers={**hospital, "Content-Type": "application/x-ndjson"},
            content=b"{}\n" * 10_001,
        )
        assert too_many.status_code == 413
        assert too_many.json()["title"] == "Too many facts" and "10000" in too_many.json()["detail"]
        array = await api.post("/v1/facts:batch", headers=hospital, json=[{}] * 10_001)
        assert array.status_code == 413
        text = await api.post(
            "/v1/facts:batch", headers={**hospital, "Content-Type": "text/plain"}, content=b"[]"
        )
        assert text.status_code == 415
        broken = await api.post(
            "/v1/facts:batch",
            headers={**hospital, "Content-Type": "application/json"},
            content=b"[{",
        )
        assert broken.status_code == 400 and broken.json()["title"] == "Malformed batch"
        nurse = await api.post(
            "/v1/facts:batch", headers=bearer(token("auditor", sub="AUD-1")), json=[]
        )
        assert nurse.status_code == 403


async def test_a_body_above_one_mebibyte_is_recorded_in_bulk(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    items = [discharge(10_000 + n, event_id=str(uuid.uuid4())) for n in range(4_000)]
    for n, item in enumerate(items):
        item["patient"] = {**item["patient"], "birth_name": f"DUPONT{n}", "sex": "F"}
    content = msgspec.json.encode(items)
    assert len(content) > 1024 * 1024
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post(
            "/v1/facts:batch",
            headers={**hospital, "Content-Type": "application/json"},
            content=content,
        )
        assert answer.status_code == 200, answer.text[:500]
        body = answer.json()
        assert body["created"] == 4_000
        assert len({r["stream"] for r in body["results"]}) == 4_000

        # the write path's cache holds each patient's state as written: the fold of its stream
        stream = body["results"][1234]["stream"]
        version, cached = api.app.state.runtime.streams.cache.get(stream)
        conn = await asyncpg.connect(virtual.database.url)
        try:
            stored = await EventStore(conn).read_stream(stream)
        finally:
            await conn.close()
        assert version == stored[-1].version == 22  # the discharge's 21, a GP-access request
        assert cached == fold([(e.event_id, payload_decoder.decode(e.data)) for e in stored])
    conn = await asyncpg.connect(virtual.database.url)
    try:
        scheduled = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'TaskScheduled' AND stream = ANY($1)",
            [r["stream"] for r in body["results"]],
        )
        identities = await conn.fetchval(
            "SELECT count(*) FROM patient_identities WHERE ins = ANY($1)",
            [i["patient"]["ins"] for i in items],
        )
    finally:
        await conn.close()
    assert scheduled == 4_000 * 19 and identities == 4_000
