"""Plays a simulated territory through the public HTTP API, one virtual day at a time.

For each day: move the virtual clock to the start of the day (the pathways
service fires every timer due on the way), then post the day's facts, the
facts of one patient in order, patients in parallel. Tokens are minted for the
integration engine of the territory's hospitals (development secret).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from simulator.access import Action
from simulator.access_driver import AccessOutcome, actions_by_day, play_actions
from simulator.behaviour import Fact


@dataclass
class Outcome:
    posted: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    days: int = 0
    timers_fired: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    access: AccessOutcome = field(default_factory=AccessOutcome)


class Progress:
    def __init__(self, total: int, stream=sys.stderr) -> None:  # type: ignore[no-untyped-def]
        self.total, self.stream, self.start = max(1, total), stream, time.monotonic()

    def show(self, done: int, label: str) -> None:
        width = 30
        filled = int(width * done / self.total)
        rate = done / max(1e-6, time.monotonic() - self.start)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * done / self.total:5.1f}% "
            f"{label}  {rate:6.0f} facts/s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def by_day(facts: list[Fact]) -> dict[dt.date, list[Fact]]:
    days: dict[dt.date, list[Fact]] = defaultdict(list)
    for f in facts:
        days[f.at.date()].append(f)
    return days


async def _post_patient(client: httpx.AsyncClient, facts: list[Fact], out: Outcome) -> None:
    for f in facts:
        answer = await client.post("/v1/facts", json=f.body)
        out.posted += 1
        if answer.status_code == 201:
            out.accepted += 1
        elif answer.status_code == 200:
            out.duplicates += 1
        else:
            out.refused[answer.status_code] = out.refused.get(answer.status_code, 0) + 1
            if len(out.problems) < 10:
                out.problems.append(f"{f.body['type']}: {answer.status_code} {answer.text[:200]}")


async def _drain(client: httpx.AsyncClient, queue: list[list[Fact]], out: Outcome) -> None:
    while queue:
        await _post_patient(client, queue.pop(), out)


async def play(
    facts: list[Fact],
    *,
    pathways_url: str,
    token: str,
    admin_token: str,
    end: dt.datetime,
    concurrency: int = 16,
    progress: Progress | None = None,
    actions: list[Action] = (),  # type: ignore[assignment]  # access to care (GP, SNP)
    token_for: Callable[[str, str], str] | None = None,  # a token for (role, sub)
    after_day: Callable[[dt.date], Awaitable[None]] | None = None,
    before_day: Callable[[dt.date, list[Fact]], Awaitable[list[Fact]]] | None = None,
) -> Outcome:
    out = Outcome()
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"}
    admin = {"Authorization": f"Bearer {admin_token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=pathways_url, headers=headers, limits=limits, timeout=60
    ) as client:
        clock = await client.get("/v1/admin/clock", headers=admin)
        clock.raise_for_status()
        if not clock.json()["virtual"]:
            raise SystemExit(
                "the pathways service runs on the wall clock: start it with PARCOURS_CLOCK=virtual (make run does)"
            )
        done = 0
        access, ids = actions_by_day(list(actions)), {}
        fact_days = by_day(facts)
        for day in sorted(set(fact_days) | set(access)):
            todays = fact_days.get(day, [])
            midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
            out.timers_fired += await _advance(client, admin, midnight)
            if before_day is not None:  # what the professionals' apps record instead
                todays = await before_day(day, todays)
            patients: dict[str, list[Fact]] = defaultdict(list)
            for f in todays:
                patients[f.body["patient"]["ins"]].append(f)
            queue = list(patients.values())

            await asyncio.gather(
                *(_drain(client, queue, out) for _ in range(min(concurrency, len(queue))))
            )
            if day in access and token_for is not None:
                out.timers_fired += await play_actions(
                    client,
                    lambda c, to: _advance(c, admin, to),
                    access[day],
                    token_for,
                    ids,
                    out.access,
                )
            if after_day is not None:  # the professionals' apps (simulator/apps.py)
                await after_day(day)
            out.days += 1
            done += len(todays)
            if progress:
                progress.show(done, f"{day.isoformat()}")
        out.timers_fired += await _advance(client, admin, end)
    if progress:
        progress.close()
    out.seconds = time.monotonic() - started
    return out


async def _advance(client: httpx.AsyncClient, admin: dict[str, str], to: dt.datetime) -> int:
    now = dt.datetime.fromisoformat(
        (await client.get("/v1/admin/clock", headers=admin)).json()["now"]
    )
    if to <= now:
        return 0
    answer = await client.post(
        "/v1/admin/clock/advance", headers=admin, json={"to": to.isoformat()}
    )
    answer.raise_for_status()
    return int(answer.json().get("fired", 0))
