"""A steady load of facts with an independent count of every fact acknowledged (2xx)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field

import httpx

from contracts.identity import INS_TEST_OID, synthetic_ins


@dataclass
class Ledger:
    acknowledged: set[uuid.UUID] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # transport errors: no answer at all
    slow: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds) over 2 s
    phase: str = "steady"  # what the test is doing to the system


def fact(n: int, at: dt.datetime) -> tuple[uuid.UUID, dict]:
    event_id = uuid.uuid4()
    patient = {"ins": synthetic_ins(50_000 + n), "oid": INS_TEST_OID, "commune": "75114"}
    if n % 5 == 0:
        body = {
            "type": "DischargeReported",
            "admitted_at": (at - dt.timedelta(days=5)).isoformat(),
            "discharged_at": at.isoformat(),
            "diagnoses": ["I50.1"],
            "finess": "750712184",
        }
    else:
        body = {
            "type": "LabResultReported",
            "collected_at": at.isoformat(),
            "loinc": "2823-3",
            "value": 4.1,
            "unit": "mmol/L",
        }
    body.update(event_id=str(event_id), patient=patient)
    return event_id, body


async def steady_load(
    url: str, token: str, at: dt.datetime, stop: asyncio.Event, rate: float, ledger: Ledger
) -> None:
    """Open loop at ``rate`` facts/s until ``stop``; every 2xx is written in the ledger."""
    n = 0
    interval = 1.0 / rate
    next_at = time.monotonic()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ) as client:
        pending: set[asyncio.Task] = set()

        async def send(event_id: uuid.UUID, body: dict) -> None:
            started = time.monotonic()
            phase = ledger.phase
            try:
                answer = await client.post("/v1/facts", json=body)
            except httpx.HTTPError:
                ledger.errors += 1
                return
            took = time.monotonic() - started
            if took > 2:
                ledger.slow.append((phase, round(took, 2)))
            ledger.statuses[answer.status_code] = ledger.statuses.get(answer.status_code, 0) + 1
            if 200 <= answer.status_code < 300:
                ledger.acknowledged.add(event_id)

        while not stop.is_set():
            n += 1
            event_id, body = fact(n, at)
            task = asyncio.create_task(send(event_id, body))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
