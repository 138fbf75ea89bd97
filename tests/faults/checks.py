"""What must hold after the faults, each check returning the problems it found (empty: holds).

- the store: every acknowledged fact is there; every acknowledged discharge has its
  enrolment and its 19 tasks (caused by it); a fact answered 503, or never answered, is
  absent or complete — never a fact without its consequences;
- NATS: every task's notifications, counted raw on the stream, exactly once per subject
  (the stream drops a re-sent message id; this counts what a different id would add);
- the projections: each indicator's totals equal the totals recomputed from its cases, and
  the heart-failure cases are the enrolments in the store.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg
import httpx
from nats.js import JetStreamContext

from contracts.subjects import Subjects
from tests.faults.load import Ledger
from tests.integration.jetstream_reading import stored_notifications

TASKS_PER_DISCHARGE = 19  # PROTOCOLS.md § 1: blood panel, GP, 16 nursing visits, cardiology


async def _consequences(conn: asyncpg.Connection, ids: list[str]) -> dict[str, Counter[str]]:
    rows = await conn.fetch(
        """SELECT causation_id, type, count(*) AS n FROM events
           WHERE causation_id = ANY($1::text[]) GROUP BY 1, 2""",
        ids,
    )
    out: dict[str, Counter[str]] = {}
    for r in rows:
        out.setdefault(r["causation_id"], Counter())[r["type"]] = r["n"]
    return out


def _discharge_problem(consequences: Counter[str] | None) -> str | None:
    got = consequences or Counter()
    if got["PatientEnrolled"] == 1 and got["TaskScheduled"] == TASKS_PER_DISCHARGE:
        return None
    return f"enrolments {got['PatientEnrolled']}, tasks {got['TaskScheduled']}"


async def store_problems(conn: asyncpg.Connection, ledger: Ledger) -> list[str]:
    problems: list[str] = []
    ids = [str(s.event_id) for s in ledger.sent]
    stored = {
        str(r["event_id"]): r["n"]
        for r in await conn.fetch(
            "SELECT event_id, count(*) AS n FROM events WHERE event_id = ANY($1::uuid[]) GROUP BY 1",
            ids,
        )
    }
    discharges = [str(s.event_id) for s in ledger.sent if s.kind == "DischargeReported"]
    caused = await _consequences(conn, [i for i in discharges if i in stored])
    for s in ledger.sent:
        key, answered = str(s.event_id), s.outcome.startswith("2")
        if answered and stored.get(key) != 1:
            problems.append(f"{s.kind} {key} answered {s.outcome}, stored {stored.get(key, 0)}x")
        if key in stored and s.kind == "DischargeReported":
            if (why := _discharge_problem(caused.get(key))) is not None:
                problems.append(f"discharge {key} answered {s.outcome}, half-written: {why}")
    return problems


async def notification_problems(
    conn: asyncpg.Connection, js: JetStreamContext, subjects: Subjects
) -> tuple[list[str], int]:
    """(problems, tasks checked): each scheduled task announced once, nothing twice."""
    tasks = {
        r["task_id"]
        for r in await conn.fetch(
            "SELECT data->>'task_id' AS task_id FROM events WHERE type = 'TaskScheduled'"
        )
    }
    stored = await stored_notifications(
        js, subjects.notifications_stream, subjects.notifications_wildcards
    )
    counts = Counter((subject, str(n.task_id), n.kind) for subject, n in stored)
    scheduled = Counter(task for (_, task, kind) in counts if kind == "scheduled")
    problems = [f"{key} published {n} times" for key, n in counts.items() if n > 1]
    problems += [
        f"task {t} announced on {scheduled[t]} subjects" for t in tasks if scheduled[t] != 1
    ]
    return problems, len(tasks)


async def indicator_problems(
    client: httpx.AsyncClient, headers: dict[str, str], period: str, enrolled: int
) -> list[str]:
    listed = await client.get("/v1/indicators", params={"period": period}, headers=headers)
    assert listed.status_code == 200, listed.text
    problems: list[str] = []
    for protocol in listed.json()["protocols"]:
        for indicator in protocol["indicators"]:
            code = indicator["code"]
            got = await client.get(
                f"/v1/indicators/{code}/cases", params={"period": period}, headers=headers
            )
            assert got.status_code == 200, got.text
            cases: list[dict[str, Any]] = got.json()["cases"]
            statuses = Counter(c["status"] for c in cases)
            recomputed = {
                "numerator": sum(c["numerator"] or 0 for c in cases),
                "denominator": sum(c["denominator"] or 0 for c in cases),
                "cases": len(cases),
                **{k: statuses[k] for k in ("met", "excluded", "ineligible")},
            }
            totals = {k: indicator[k] for k in recomputed}
            if totals != recomputed:
                problems.append(f"{code}: totals {totals}, from its cases {recomputed}")
            if protocol["id"] == "heart-failure-discharge" and len(cases) != enrolled:
                problems.append(f"{code}: {len(cases)} cases for {enrolled} enrolments")
    return problems
