"""HL7 v2 ADT over real MLLP to ``parcours serve mllp`` (its own process), with
python-hl7's asyncio MLLP client; what follows is read back through the HTTP API."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import asyncpg
import hl7
import httpx
import pytest
from hl7.mllp import open_hl7_connection

from contracts.identity import synthetic_ins
from parcours.devstack import free_port
from tests.hl7_messages import adt, msa, pid
from tests.hl7_messages import exchange as send
from tests.integration.conftest import eventually
from tests.system.conftest import System


def start_mllp(system: System, monkeypatch: pytest.MonkeyPatch) -> int:
    port = getattr(system, "mllp_port", None) or free_port()
    system.mllp_port = port  # type: ignore[attr-defined]
    monkeypatch.setenv("PARCOURS_MLLP_PORT", str(port))
    monkeypatch.setenv("PARCOURS_MLLP_CPTS", "demo")
    system.start("mllp", wait=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert system.procs["mllp"].poll() is None, f"mllp exited; see {system.logs}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the MLLP listener did not open its port")


def patient(n: int, **kwargs: Any) -> str:
    return pid(ins=synthetic_ins(n), ipp=f"IPP-{n}", **kwargs)


async def fetch(system: System, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(system.settings.database.url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def patient_of(system: System, control: str) -> str:
    [row] = await fetch(system, "SELECT stream FROM hl7_messages WHERE control_id = $1", control)
    return row["stream"].removeprefix("patient-")


async def test_adt_flows_end_in_the_expected_enrolments_and_tasks(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = start_mllp(system, monkeypatch)
    hf = adt("A03", control="HF-1", pid_segment=patient(1), diagnoses=("I50.1",))
    copd = adt("A03", control="COPD-1", pid_segment=patient(2), diagnoses=("J44.1",))
    elsewhere = adt("A03", control="XFER-1", pid_segment=patient(3), zfm="7")
    acks = await send(port, hf, copd, elsewhere)
    assert [msa(a)[0] for a in acks] == ["AA"] * 3
    [again] = await send(port, hf)  # the same MSH-10 again
    assert str(again) == str(acks[0])
    bad = await send(
        port,
        adt(kind="ORU", trigger="R01", control="ORU-1"),
        "MSH|^~\\&|broken",
        adt("A99", control="A99-1"),
    )
    assert [msa(a)[0] for a in bad] == ["AR", "AR", "AR"]

    coordinator = {"Authorization": f"Bearer {system.token('coordinator', sub='COORD-1')}"}
    async with (
        httpx.AsyncClient(base_url=system.url("projections"), headers=coordinator) as projections,
        httpx.AsyncClient(base_url=system.url("pathways"), headers=coordinator) as pathways,
    ):

        async def enrolments() -> dict[str, dict]:
            listed = (await projections.get("/v1/enrolments")).json()["enrolments"]
            by_patient = {e["patient_id"]: e for e in listed}
            return by_patient if len(by_patient) >= 2 else {}

        by_patient = await eventually(enrolments, timeout=60)
        hf_enrolment = by_patient[await patient_of(system, "HF-1")]
        copd_enrolment = by_patient[await patient_of(system, "COPD-1")]
        assert hf_enrolment["protocol"] == "heart-failure-discharge"
        assert copd_enrolment["protocol"] == "copd-exacerbation"
        for enrolment, roles in (
            (hf_enrolment, {"gp", "nurse", "cardiologist"}),
            (copd_enrolment, {"gp", "pulmonologist", "physiotherapist"}),
        ):
            view = (await pathways.get(f"/v1/enrolments/{enrolment['enrolment_id']}")).json()
            assert view["status"] == "active"
            assert roles <= {t["role"] for t in view["tasks"]}
        # a discharge to another hospital: recorded, no pathway (a discharge without a
        # diagnosis, A13, A40, provisional identities: test_hl7_care_system)
        for control in ("XFER-1",):
            patient_id = await patient_of(system, control)
            assert patient_id not in by_patient
            timeline = await eventually(
                lambda p=patient_id: _timeline_types(projections, p), timeout=30
            )
            assert "DischargeReported" in timeline and "PatientEnrolled" not in timeline
    # no identity in any log line of any process, the MLLP listener's included
    system.stop_all()
    logs = system.log_text()
    assert "hl7.accepted" in logs  # the listener did log
    identifying = [synthetic_ins(n) for n in range(1, 4)] + ["IPP-1", "DUPONT", "MARIE", "19520317"]
    assert [value for value in identifying if value in logs] == []


async def _timeline_types(client: httpx.AsyncClient, patient_id: str) -> list[str]:
    answer = await client.get(f"/v1/patients/{patient_id}/timeline")
    return [e["type"] for e in answer.json()["entries"]] if answer.status_code == 200 else []


async def test_kill_9_mid_stream_loses_no_acknowledged_message_and_stores_resends_once(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = start_mllp(system, monkeypatch)
    texts = {
        f"K-{n}": adt("A03", control=f"K-{n}", pid_segment=patient(100 + n)) for n in range(60)
    }
    acknowledged: set[str] = set()
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    for text in texts.values():
        writer.writeblock(text.encode())
    await writer.drain()
    try:
        while True:
            code, control = msa(await asyncio.wait_for(reader.readmessage(), 30))
            assert code == "AA"
            acknowledged.add(control)
            if len(acknowledged) == 10:
                system.kill("mllp")  # kill -9 with messages read and not yet answered
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, hl7.mllp.InvalidBlockError):
        pass
    writer.close()
    assert 10 <= len(acknowledged) < len(texts)
    port = start_mllp(system, monkeypatch)
    # the client sends again everything it got no ACK for
    resent = [text for control, text in texts.items() if control not in acknowledged]
    acks = await send(port, *resent)
    assert all(msa(a)[0] == "AA" for a in acks)
    discharges = await fetch(
        system,
        """SELECT i.ins, count(*) AS n FROM events e JOIN patient_identities i
           ON e.stream = 'patient-' || i.patient_id::text
           WHERE e.type = 'DischargeReported' GROUP BY i.ins""",
    )
    counts = {r["ins"]: r["n"] for r in discharges}
    assert {synthetic_ins(100 + n) for n in range(60)} <= set(counts)
    assert all(counts[synthetic_ins(100 + n)] == 1 for n in range(60))
    logged = await fetch(
        system, "SELECT control_id, outcome FROM hl7_messages WHERE control_id LIKE 'K-%'"
    )
    assert sorted(r["control_id"] for r in logged) == sorted(texts)  # each stored once
    assert {r["outcome"] for r in logged} == {"accepted"}
