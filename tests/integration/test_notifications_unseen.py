"""A coordinator knows who has not seen an urgent task: receipts reported by apps take
a task off the list; routine tasks are not listed unless asked for."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import bearer, eventually
from tests.integration.test_notifications_routing import (  # noqa: F401 - fixtures
    System,
    rpps,
    scheduled,
    system,  # noqa: F811 - a fixture
)


async def test_the_coordinator_sees_which_urgent_tasks_nobody_has_opened(
    system: System,  # noqa: F811 - the fixture imported above
    token: Any,
) -> None:
    nurse, gp = rpps(), rpps()
    urgent_seen = scheduled(nurse, urgent=True)
    urgent_delivered = scheduled(gp, role="gp", urgent=True)
    routine = scheduled(nurse)
    await system.append(urgent_seen, urgent_delivered, routine)
    coordinator = bearer(token("coordinator", sub="COORD-1"))

    async def listed() -> list[str]:
        answer = await system.http.get("/v1/coordinator/unseen", headers=coordinator)
        return [t["task_id"] for t in answer.json()["tasks"]]

    await eventually(lambda: _has(listed, 2))
    receipt = "/v1/me/notifications/{}/receipt"
    seen = await system.http.post(
        receipt.format(urgent_seen.task_id), json={"status": "seen"},
        headers=bearer(token("nurse", sub=nurse)),
    )  # fmt: skip
    delivered = await system.http.post(
        receipt.format(urgent_delivered.task_id), json={"status": "delivered"},
        headers=bearer(token("gp", sub=gp)),
    )  # fmt: skip
    assert (seen.status_code, delivered.status_code) == (201, 201)

    answer = (await system.http.get("/v1/coordinator/unseen", headers=coordinator)).json()
    assert [(t["task_id"], t["delivered"]) for t in answer["tasks"]] == [
        (str(urgent_delivered.task_id), True)  # reached the phone, never opened
    ]
    everything = await system.http.get(
        "/v1/coordinator/unseen", params={"urgent_only": "false"}, headers=coordinator
    )
    assert {t["task_id"] for t in everything.json()["tasks"]} == {
        str(urgent_delivered.task_id),
        str(routine.task_id),
    }
    nurse_asks = await system.http.get(
        "/v1/coordinator/unseen", headers=bearer(token("nurse", sub=nurse))
    )
    assert nurse_asks.status_code == 403


async def _has(listed: Any, n: int) -> bool:
    return len(await listed()) == n
