"""``POST /v1/facts`` under load: facts written together (group commit) get the answers the
single path gives, one by one, in order for each patient."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from contracts.identity import INS_TEST_OID
from parcours.settings import Settings
from pathways.app import create_app
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.hf_facts import discharge, gp_visit, lab_result


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, dt.datetime(2026, 3, 9, 18, tzinfo=dt.UTC))


def scenario(base: int, resent: str, reused: str) -> list[dict]:
    """Facts sent at once: per patient in order; a re-sent id, a reused id, a bad INS."""
    return [
        discharge(base, event_id=resent),  # 0: enrols (fact + enrolment + 19 tasks)
        gp_visit(base),  # 1: same patient after it: completes the GP task
        lab_result(base + 1),  # 2: another patient, nothing follows
        lab_result(base + 1),  # 3: the same patient again
        discharge(base + 2),  # 4: a third patient enrols
        discharge(base, event_id=resent),  # 5: 0 sent again: 200, nothing written
        lab_result(base + 2, event_id=resent),  # 6: 0's id, other content: 409
        {**lab_result(base + 3), "patient": {"ins": "123", "oid": INS_TEST_OID}},  # 7: 422
        lab_result(base + 4, event_id=reused),  # 8: recorded
    ]


def meanings(answers: list[Any], sent: list[dict]) -> list[tuple]:
    """What must not depend on the path, with the ids of one run replaced by their roles:
    streams by their order of first appearance, event ids by "sent" (the body's own id) or
    "chosen" (a new one), positions by "as answer k" when they repeat an earlier answer's."""
    streams: dict[str, int] = {}
    positions: dict[int, int] = {}
    out: list[tuple] = []
    for k, (answer, body) in enumerate(zip(answers, sent, strict=True)):
        got = answer.json()
        if answer.status_code >= 400:
            detail = got.get("detail", "")
            for i, other in enumerate(sent):  # a detail may name an id of this run
                if "event_id" in other:
                    detail = detail.replace(other["event_id"], f"<id of fact {i}>")
            out.append((answer.status_code, got.get("title"), got.get("field"), detail))
            continue
        event_id = "sent" if got["event_id"] == body.get("event_id") else "chosen"
        assert uuid.UUID(got["event_id"])
        stream = streams.setdefault(got["stream"], len(streams))
        position = (
            f"as answer {positions[got['position']]}" if got["position"] in positions else "new"
        )
        positions.setdefault(got["position"], k)
        out.append(
            (answer.status_code, got["duplicate"], got["consequences"], got["version"], stream)
            + (event_id, position)
        )
    return out


async def stored_streams(database_url: str, answers: list[Any]) -> list[list[tuple]]:
    """The events written on each answered stream: (version, type), in version order."""
    streams = list(dict.fromkeys(a.json()["stream"] for a in answers if a.status_code < 300))
    conn = await asyncpg.connect(database_url)
    try:
        return [
            [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT version, type FROM events WHERE stream = $1 ORDER BY version", stream
                )
            ]
            for stream in streams
        ]
    finally:
        await conn.close()


async def send_all(api: Any, headers: dict, facts: list[dict]) -> list[Any]:
    """The first fact alone (the others refer to it), then all the rest at once."""
    first = await api.post("/v1/facts", headers=headers, json=facts[0])
    rest = await asyncio.gather(
        *(api.post("/v1/facts", headers=headers, json=f) for f in facts[1:])
    )
    return [first, *rest]


async def test_grouped_facts_answer_as_the_single_path_does(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    single_facts = scenario(600, str(uuid.uuid4()), str(uuid.uuid4()))
    grouped_facts = scenario(700, str(uuid.uuid4()), str(uuid.uuid4()))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        group_commit = api.app.state.runtime.group_commit

        group_commit.direct_limit = 1_000  # every fact through the single path
        single = await send_all(api, hospital, single_facts)
        assert group_commit.groups == 0

        group_commit.direct_limit = 0  # every fact through a group
        grouped = await send_all(api, hospital, grouped_facts)
        assert group_commit.groups >= 1 and group_commit.grouped >= 6

    # the spec of each answer (scenario above), then: the grouped answers are the single ones
    assert [a.status_code for a in single] == [201, 201, 201, 201, 201, 200, 409, 422, 201]
    expected = meanings(single, single_facts)
    # fact + enrolment + 19 tasks + a GP-access request (the discharge names no GP, issue 14)
    assert expected[0][1:5] == (False, 21, 22, 0)
    # after the discharge: completes the GP task, and the GP joins the patient's care circle
    assert expected[1][1:5] == (False, 2, 25, 0)
    assert (expected[2][3:5], expected[3][3:5]) == ((1, 1), (2, 1))  # in order, one stream
    assert expected[4][3:5] == (22, 2)
    assert expected[5][:3] == (200, True, 0) and expected[5][4:] == (0, "sent", "as answer 0")
    assert expected[6][1] == "Duplicate event id" and expected[7][2] == "patient.ins"
    assert expected[8][5] == "sent"
    assert meanings(grouped, grouped_facts) == expected
    assert [a.json()["position"] for a in grouped[1:2]] > [
        a.json()["position"] for a in grouped[:1]
    ]
    assert await stored_streams(virtual.database.url, grouped) == await stored_streams(
        virtual.database.url, single
    )


async def test_a_group_that_cannot_be_written_fails_every_request_in_it(
    virtual: Settings, token
) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        group_commit = api.app.state.runtime.group_commit
        group_commit.direct_limit = 0

        async def unavailable(*_: object, **__: object) -> None:
            raise OSError("connection refused")

        group_commit._write = unavailable  # PostgreSQL gone while the group is written
        answers = await asyncio.gather(
            *(api.post("/v1/facts", headers=hospital, json=lab_result(800 + n)) for n in range(4))
        )
        assert [a.status_code for a in answers] == [503] * 4
        assert all(a.headers.get("retry-after") == "2" for a in answers)
