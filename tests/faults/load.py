"""A steady, seeded load of facts, with an independent record of what became of each one.

Every fifth fact discharges a new heart-failure patient (an enrolment and its 19 tasks); the
others are lab results and GP visits for patients already sent, drawn at random, so that
concurrent facts hit the same patients (version conflicts on their streams). Each fact's
fate is written in the ledger under the phase the test was in when it was sent: its status,
a transport error (no answer), or a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from contracts.identity import INS_TEST_OID, synthetic_ins

TIMEOUT = 5.0  # the client's patience: an answer later than this is a timeout
SLOW = 2.0  # an answer later than this is slow
COMMUNE = "75114"


@dataclass
class Sent:
    event_id: uuid.UUID
    kind: str  # the fact's type
    patient: int
    phase: str  # when it was sent
    ended: str = ""  # the phase when its answer (or error) came
    outcome: str = "pending"  # "201", "503"..., "error" (no answer) or "timeout"
    took: float = 0.0
    error: str = ""  # what the client saw instead of an answer
    body: dict | None = None  # what was posted (to post it again, the same)


@dataclass
class Ledger:
    sent: list[Sent] = field(default_factory=list)
    phase: str = "steady"  # what the test is doing to the system right now

    def by_phase(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for s in self.sent:
            out.setdefault(s.phase, Counter())[s.outcome] += 1
        return out

    def where(self, *outcomes: str, kind: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.outcome in outcomes and kind in (None, s.kind)]

    @property
    def acknowledged(self) -> list[Sent]:
        return [s for s in self.sent if s.outcome.startswith("2")]


def fact_body(kind: str, patient: int, at: dt.datetime, rng: random.Random) -> dict:
    identity = {"ins": synthetic_ins(patient), "oid": INS_TEST_OID, "commune": COMMUNE}
    if kind == "DischargeReported":
        body = {
            "admitted_at": (at - dt.timedelta(days=5)).isoformat(),
            "discharged_at": (at - dt.timedelta(hours=1)).isoformat(),
            "diagnoses": ["I50.1"],
            "finess": "750712184",
        }
    elif kind == "ConsultationReported":
        body = {
            "consulted_at": (at - dt.timedelta(minutes=rng.randint(1, 50))).isoformat(),
            "role": "gp",
            "rpps": "10000000002",
        }
    else:
        body = {
            "collected_at": (at - dt.timedelta(minutes=rng.randint(1, 50))).isoformat(),
            "loinc": rng.choice(["2823-3", "2160-0", "2951-2"]),
            "value": round(rng.uniform(3.0, 140.0), 1),
            "unit": "mmol/L",
        }
    return {"type": kind, "patient": identity, **body}


async def steady_load(
    url: str | list[str],
    token: str,
    at: dt.datetime,
    stop: asyncio.Event,
    rate: float,
    ledger: Ledger,
    seed: int,
    first_patient: int = 50_000,
) -> None:
    """Open loop at ``rate`` facts/s until ``stop``; every fact's fate goes in the ledger.

    Given several URLs (instances of pathways), the facts go to each in turn."""
    rng = random.Random(seed)
    discharged: list[int] = []
    interval = 1.0 / rate
    next_at = time.monotonic()
    # idle connections dropped well before the server's keep-alive timeout (uvicorn: 5 s),
    # so that no request is sent on a connection the server is closing
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=100, keepalive_expiry=1.0)
    urls = [url] if isinstance(url, str) else url
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=one,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=TIMEOUT,
                    limits=limits,
                )
            )
            for one in urls
        ]
        pending: set[asyncio.Task] = set()

        async def send(sent: Sent, body: dict, client: httpx.AsyncClient) -> None:
            started = time.monotonic()
            try:
                answer = await client.post("/v1/facts", json=body)
                sent.outcome = str(answer.status_code)
            except httpx.TimeoutException as exc:
                sent.outcome, sent.error = "timeout", repr(exc)[:120]
            except httpx.HTTPError as exc:
                sent.outcome, sent.error = "error", repr(exc)[:120]
            sent.took = time.monotonic() - started
            sent.ended = ledger.phase

        n = 0
        while not stop.is_set():
            n += 1
            if n % 5 == 1 or not discharged:
                kind, patient = "DischargeReported", first_patient + len(discharged)
                discharged.append(patient)
            else:
                kind = rng.choice(["LabResultReported", "ConsultationReported"])
                patient = rng.choice(discharged[-30:])  # recent patients: facts collide
            body = fact_body(kind, patient, at, rng)
            sent = Sent(uuid.uuid4(), kind, patient, ledger.phase, body=body)
            body["event_id"] = str(sent.event_id)
            ledger.sent.append(sent)
            task = asyncio.create_task(send(sent, body, clients[n % len(clients)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if pending:
            await asyncio.gather(*pending)
