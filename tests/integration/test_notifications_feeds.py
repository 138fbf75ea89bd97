"""A professional's feed over HTTP: SSE that resumes with Last-Event-ID, the same feed
over WebSocket, their open tasks, and receipts that become events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from contracts import pathway as ev
from contracts.events import patient_stream
from notifications.app import create_app
from parcours.devstack import free_port
from parcours.eventstore import EventStore
from parcours.settings import Settings
from tests.integration.conftest import bearer
from tests.integration.test_notifications_routing import (  # noqa: F401 - fixtures
    System,
    app_nc,
    rpps,
    running,
    scheduled,
)


@contextlib.asynccontextmanager
async def live(settings: Settings) -> AsyncIterator[tuple[System, str]]:
    """The system with the notifications service behind a real HTTP server (for streaming)."""
    settings = settings.replace(digest_hour=-1)
    async with running(settings, with_app=False) as system:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
            )
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                system.http = http
                yield system, f"127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await serving


class SSE:
    """A minimal EventSource: reads `id:` and `data:` fields of each event."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self, within: float = 10.0) -> tuple[int, dict]:
        async def read() -> tuple[int, dict]:
            seq, data = None, None
            async for line in self.lines:
                if line.startswith("id: "):
                    seq = int(line[4:])
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "" and data is not None:
                    return seq, data
            raise EOFError

        return await asyncio.wait_for(read(), within)

    async def following(self, within: float = 10.0) -> str:
        """Waits for the comment the server sends once its subscription is in place."""

        async def read() -> str:
            async for line in self.lines:
                if line.startswith(": following"):
                    return line
            raise EOFError

        return await asyncio.wait_for(read(), within)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[System, str]]:
    async with live(settings) as pair:
        yield pair


async def test_sse_resumes_with_last_event_id_and_delivers_what_was_missed(
    served: tuple[System, str], token: Any
) -> None:
    system, host = served
    nurse = rpps()
    headers = bearer(token("nurse", sub=nurse, zones=["Z1"]))
    url = f"http://{host}/v1/me/notifications/stream"
    first = scheduled(nurse)
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = SSE(response)
            await stream.following()  # the feed follows from "now"
            await system.append(first)
            seen_seq, seen = await stream.next()
            assert seen["task_id"] == str(first.task_id) and seen["kind"] == "scheduled"

        missed = [
            scheduled(nurse, activity="visit-a"),
            scheduled(None, zone="Z1"),
            scheduled(rpps()),
            scheduled(None, zone="Z2"),
        ]
        for task in missed:
            await system.append(task)
        await system.settled()

        resumed = {**headers, "Last-Event-ID": str(seen_seq)}
        async with client.stream("GET", url, headers=resumed) as response:
            stream = SSE(response)
            got = [await stream.next(), await stream.next()]
            assert [d["task_id"] for _, d in got] == [
                str(missed[0].task_id),
                str(missed[1].task_id),
            ]
            assert got[0][0] > seen_seq and got[1][0] > got[0][0]
            marker = scheduled(nurse, activity="marker")  # sent after all the others
            await system.append(marker)
            _, after = await stream.next()  # not another nurse's, not another zone's: the marker
            assert after["task_id"] == str(marker.task_id), after


async def test_the_websocket_feed_is_the_same_feed(served: tuple[System, str], token: Any) -> None:
    system, host = served
    nurse = rpps()
    task = scheduled(nurse)
    await system.append(task)
    await system.settled()
    tok = token("nurse", sub=nurse)
    url = f"ws://{host}/v1/me/notifications/stream?access_token={tok}&last_event_id=0"
    async with websockets.connect(url) as ws:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message.get("notification", {}).get("task_id") == str(task.task_id):
                break
        assert message["subject"].endswith(f".tasks.nurse.{nurse}")
        assert message["seq"] > 0 and message["notification"]["kind"] == "scheduled"


async def test_my_tasks_lists_open_tasks_then_unclaimed_pool_tasks_of_my_zones(
    served: tuple[System, str], token: Any
) -> None:
    system, _ = served
    nurse = rpps()
    mine, done, pool_here, pool_there = (
        scheduled(nurse),
        scheduled(nurse),
        scheduled(None, zone="Z7"),
        scheduled(None, zone="Z8"),
    )
    await system.append(mine, done, pool_here, pool_there)
    await system.append(ev.TaskCompleted(task_id=done.task_id, completed_at=done.due, on_time=True))
    await system.settled()
    answer = await system.http.get(
        "/v1/me/tasks", headers=bearer(token("nurse", sub=nurse, zones=["Z7"]))
    )
    assert answer.status_code == 200, answer.text
    lines = answer.json()["tasks"]
    assert [(line["task_id"], line["pool"]) for line in lines] == [
        (str(mine.task_id), False),
        (str(pool_here.task_id), True),
    ]
    assert lines[0]["patient_id"] == str(system.patient)


async def test_a_seen_receipt_becomes_a_task_seen_event_in_the_patients_stream_once(
    served: tuple[System, str], token: Any
) -> None:
    system, _ = served
    nurse = rpps()
    task = scheduled(nurse, urgent=True)
    await system.append(task)
    await system.settled()
    headers = bearer(token("nurse", sub=nurse))
    url = f"/v1/me/notifications/{task.task_id}/receipt"
    first = await system.http.post(url, json={"status": "seen"}, headers=headers)
    again = await system.http.post(url, json={"status": "seen"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert again.json()["duplicate"] and again.json()["event_id"] == first.json()["event_id"]
    stored = await EventStore(system.pool).read_stream(patient_stream(system.patient))
    seen = [e for e in stored if e.type == "TaskSeen"]
    assert len(seen) == 1
    envelope = seen[0].envelope()
    assert envelope.actor.id == nurse and envelope.actor.role == "nurse"
    assert envelope.data.task_id == task.task_id and envelope.data.by == nurse

    other = await system.http.post(
        url, json={"status": "seen"}, headers=bearer(token("nurse", sub=rpps()))
    )
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    wrong = await system.http.post(url, json={"status": "read"}, headers=headers)
    assert wrong.status_code == 422 and wrong.json()["detail"]


async def test_the_feed_is_for_professionals_and_coordinators(
    served: tuple[System, str], token: Any
) -> None:
    system, _ = served
    answer = await system.http.get(
        "/v1/me/notifications/stream", headers=bearer(token("auditor", sub="AUD-1"))
    )
    assert answer.status_code == 403
    bad = await system.http.get(
        "/v1/me/notifications/stream",
        headers={**bearer(token("nurse", sub=rpps())), "Last-Event-ID": "yesterday"},
    )
    assert bad.status_code == 400 and bad.json()["field"] == "last_event_id"
