"""``POST /v1/facts`` under load: facts written together (group commit) get the answers the
single path gives, one by one, in order for each patient."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

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


def shape(answer: Any) -> tuple:
    """What must not depend on the path: status and the answer's meaning."""
    body = answer.json()
    if answer.status_code >= 400:
        return (answer.status_code, body.get("title"), body.get("field"))
    return (answer.status_code, body["duplicate"], body["consequences"], body["version"])


async def send_all(api: Any, headers: dict, facts: list[dict]) -> list[Any]:
    """The first fact alone (the others refer to it), then all the rest at once."""
    first = await api.post("/v1/facts", headers=headers, json=facts[0])
    rest = await asyncio.gather(
        *(api.post("/v1/facts", headers=headers, json=f) for f in facts[1:])
    )
    return [first, *rest]


async def test_grouped_facts_answer_as_the_single_path_does(virtual: Settings, token) -> None:
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        group_commit = api.app.state.runtime.group_commit

        group_commit.direct_limit = 1_000  # every fact through the single path
        single = await send_all(api, hospital, scenario(600, str(uuid.uuid4()), str(uuid.uuid4())))
        assert group_commit.groups == 0

        group_commit.direct_limit = 0  # every fact through a group
        grouped = await send_all(api, hospital, scenario(700, str(uuid.uuid4()), str(uuid.uuid4())))
        assert group_commit.groups >= 1 and group_commit.grouped >= 6

    assert [shape(a) for a in grouped] == [shape(a) for a in single]
    assert [a.status_code for a in grouped] == [201, 201, 201, 201, 201, 200, 409, 422, 201]
    answers = [a.json() for a in grouped]
    assert answers[0]["consequences"] == 20 and answers[0]["version"] == 21
    assert answers[1]["consequences"] == 1 and answers[1]["version"] == 23  # after the discharge
    assert (
        answers[1]["stream"] == answers[0]["stream"]
        and answers[1]["position"] > answers[0]["position"]
    )
    assert (answers[2]["version"], answers[3]["version"]) == (1, 2)  # in order, one stream
    assert answers[3]["stream"] == answers[2]["stream"] != answers[4]["stream"]
    assert answers[5]["position"] == answers[0]["position"] and answers[5]["duplicate"]
    assert answers[6]["title"] == "Duplicate event id"
    assert answers[7]["field"] == "patient.ins"
    assert answers[8]["event_id"] == grouped[8].json()["event_id"]


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
