"""What HL7 ADT does to care, end to end: real MLLP traffic (python-hl7's asyncio client)
to ``parcours serve mllp`` and the services as processes; every result read back through
the HTTP API (pathways, projections, the notifications feed).

One system for every flow (starting one takes seconds): a discharge without a diagnosis
(the coordinator's question, dismissed), A13 after A03 (the enrolment cancelled, its
tasks' pool told, the indicator case excluded), a provisional identity later qualified,
an A40 merge (open tasks move), and admission and discharge alerts to a nurse who took a
patient's task."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
import msgspec
import pytest

from contracts.identity import synthetic_ins
from tests.hl7_messages import adt, msa, pid, pv1
from tests.hl7_messages import exchange as send
from tests.integration.conftest import eventually
from tests.system.conftest import System
from tests.system.test_hl7_system import fetch, patient, patient_of, start_mllp

NURSE = "10000000042"
ZONE = "75114"  # the commune of every synthetic PID (PID-11)


def mrg(ipp: str) -> str:
    return f"MRG|{ipp}^^^CHU-TEST&750712184&M^PI"


class Feed:
    """A professional's notifications, as their app reads them: the SSE feed of the
    notifications service, from the start of the stream."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.got: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Last-Event-ID": "0"}
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=None) as client,
            client.stream("GET", "/v1/me/notifications/stream", headers=headers) as answer,
        ):
            async for line in answer.aiter_lines():
                if line.startswith("data:"):
                    self.got.append(msgspec.json.decode(line[5:].strip()))

    def start(self) -> Feed:
        self.task = asyncio.create_task(self._follow())
        return self

    async def wait_for(self, what: str, timeout: float = 60) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Every notification so far once one matches ``what`` (kind:patient_id)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(f"{n['kind']}:{n.get('patient_id')}" == what for n in self.got):
                return self.got
            assert self.task is not None and not self.task.done(), "the feed ended"
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout}s; got {[n['kind'] for n in self.got]}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


async def test_hl7_care_flows_end_in_the_expected_enrolments_tasks_and_notifications(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = start_mllp(system, monkeypatch)
    coordinator = {"Authorization": f"Bearer {system.token('coordinator', sub='COORD-1')}"}
    nurse_token = system.token("nurse", sub=NURSE)
    auditor = {"Authorization": f"Bearer {system.token('auditor', sub='AUDIT-1')}"}
    notifications = system.url("notifications")
    async with httpx.AsyncClient(base_url=notifications, headers=coordinator) as directory:
        added = await directory.post(
            "/v1/directory/professionals", json={"rpps": NURSE, "role": "nurse", "zones": [ZONE]}
        )
        assert added.status_code == 201, added.text
    feed = Feed(notifications, nurse_token).start()

    followed = adt("A03", control="C-1", pid_segment=patient(21))
    undiagnosed = adt("A03", control="C-2", pid_segment=patient(22), diagnoses=(), zfm=None)
    retracted = adt("A03", control="C-3", pid_segment=patient(23))
    cancel = adt("A13", control="C-4", pid_segment=patient(23), zbe_segment="ZBE|M4||CANCEL|N")
    provisional = adt(
        "A03", control="C-5", pid_segment=pid(ins=synthetic_ins(24), ipp="IPP-24", status="PROV")
    )
    merged = adt("A03", control="C-6", pid_segment=patient(25))
    surviving = adt("A03", control="C-7", pid_segment=patient(26), diagnoses=("J44.1",))
    acks = await send(
        port, followed, undiagnosed, retracted, cancel, provisional, merged, surviving
    )
    assert [msa(a)[0] for a in acks] == ["AA"] * 7

    pathways = httpx.AsyncClient(base_url=system.url("pathways"), headers=coordinator)
    projections = httpx.AsyncClient(base_url=system.url("projections"), headers=coordinator)
    try:

        async def enrolments_of(control: str, count: int = 1) -> list[dict]:
            patient_id = await patient_of(system, control)

            async def listed() -> list[dict]:
                answer = await projections.get("/v1/enrolments")
                mine = [e for e in answer.json()["enrolments"] if e["patient_id"] == patient_id]
                return mine if len(mine) >= count else []

            found = await eventually(listed, timeout=60)
            return [
                (await pathways.get(f"/v1/enrolments/{e['enrolment_id']}")).json() for e in found
            ]

        # 1. a discharge without a diagnosis: the coordinator is asked to classify it
        [question] = await enrolments_of("C-2")
        assert question["protocol"] == "discharge-classification"
        [task] = question["tasks"]
        assert (task["activity"], task["role"]) == ("classify-discharge", "coordinator")
        assert task["due"] == "2026-11-11T22:59:59Z"  # D+2, 23:59:59 in Paris
        dismissed = await pathways.post(
            f"/v1/tasks/{task['task_id']}/cancel", json={"reason": "not for a pathway"}
        )
        assert dismissed.status_code == 200, dismissed.text

        # 2. A13 after A03: the enrolment is cancelled with its open tasks, nothing rewritten
        async def retracted_view() -> dict | None:
            [view] = await enrolments_of("C-3")
            return view if view["status"] == "closed" else None

        view = await eventually(retracted_view, timeout=60)
        assert view["close_reason"] == "cancelled"
        assert {t["status"] for t in view["tasks"]} == {"cancelled"}
        cancelled_patient = await patient_of(system, "C-3")
        timeline = (await projections.get(f"/v1/patients/{cancelled_patient}/timeline")).json()
        types = [e["type"] for e in timeline["entries"]]
        assert "DischargeReported" in types and "DischargeCancelled" in types

        # 3. a provisional identity: held, then recorded once an A31 qualifies it
        [held] = await fetch(system, "SELECT outcome FROM hl7_messages WHERE control_id = 'C-5'")
        assert held["outcome"] == "held"  # known by IPP only: not recorded yet
        qualify = adt("A31", control="C-8", pid_segment=pid(ins=synthetic_ins(24), ipp="IPP-24"))
        assert [msa(a)[0] for a in await send(port, qualify)] == ["AA"]
        [qualified] = await enrolments_of("C-5")
        assert qualified["protocol"] == "heart-failure-discharge"

        # 4. A40: patient 25's record is merged into patient 26's; its open tasks move
        [before] = await enrolments_of("C-6")
        open_before = {(t["activity"], t["occurrence"]) for t in before["tasks"]}
        a40 = adt(
            "A40", control="C-9", pid_segment=patient(26), zbe_segment=None, zfm=None,
            diagnoses=(), extra=(mrg("IPP-25"),),
        )  # fmt: skip
        assert [msa(a)[0] for a in await send(port, a40)] == ["AA"]
        [after] = await enrolments_of("C-6")
        assert (after["status"], after["close_reason"]) == ("closed", "merged")
        survivor = {e["protocol"]: e for e in await enrolments_of("C-7", count=2)}
        moved = survivor["heart-failure-discharge"]
        assert {(t["activity"], t["occurrence"]) for t in moved["tasks"]} == open_before
        assert survivor["copd-exacerbation"]["status"] == "active"

        # 5. the nurse takes a task of patient 21, who is then admitted and discharged
        followed_patient = await patient_of(system, "C-1")
        nurse = {"Authorization": f"Bearer {nurse_token}"}

        async def pool_task() -> dict | None:
            answer = await httpx.AsyncClient(base_url=notifications).get(
                "/v1/me/tasks", headers=nurse
            )
            mine = [t for t in answer.json()["tasks"] if t["patient_id"] == followed_patient]
            return mine[0] if mine else None

        taken = await eventually(pool_task, timeout=60)
        accepted = await pathways.post(f"/v1/tasks/{taken['task_id']}/accept", headers=nurse)
        assert accepted.status_code == 200, accepted.text
        admitted = adt(
            "A01", control="C-10", pid_segment=patient(21), diagnoses=(), zfm=None,
            pv1_segment=pv1(admitted="20261120090000"),
        )  # fmt: skip
        home = adt(
            "A03", control="C-11", pid_segment=patient(21), diagnoses=("S72.0",),
            pv1_segment=pv1(admitted="20261120090000", discharged="20261125110000"),
        )  # fmt: skip
        assert [msa(a)[0] for a in await send(port, admitted, home)] == ["AA", "AA"]
        got = await feed.wait_for(f"discharged:{followed_patient}")
        alerts = [
            (n["kind"], n["patient_id"]) for n in got if n["kind"] in ("admitted", "discharged")
        ]
        assert alerts == [("admitted", followed_patient), ("discharged", followed_patient)]
        # the pool heard the cancellation of the retracted enrolment's nurse tasks
        assert any(
            n["kind"] == "cancelled" and n["patient_id"] == cancelled_patient
            and n["reason"] == "discharge cancelled by the hospital"
            for n in got
        )  # fmt: skip

        # indicators drop the retracted and the merged cases, and say why
        async def excluded() -> set[str]:
            answer = await projections.get(
                "/v1/indicators/HF-GP7/cases", params={"period": "2026-11"}, headers=auditor
            )
            reasons = {c["reason"] for c in answer.json()["cases"] if c["status"] == "excluded"}
            return reasons if {"DischargeCancelled", "PatientMerged"} <= reasons else set()

        assert await eventually(excluded, timeout=60)
    finally:
        await feed.stop()
        await pathways.aclose()
        await projections.aclose()
    system.stop_all()
    logs = system.log_text()
    assert "hl7.merged" in logs
    identifying = [synthetic_ins(n) for n in range(21, 27)] + ["IPP-2", "DUPONT", "19520317"]
    assert [value for value in identifying if value in logs] == []
