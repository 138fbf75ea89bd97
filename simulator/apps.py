"""The territory's professionals, played as their apps would, through the public API.

Once a virtual day's facts are posted, each pool (a role in a commune) is looked at
by the app of one of its professionals (``GET /v1/worklists/pool/{role}/{zone}``);
she claims (``POST /v1/tasks/{id}/accept``) the tasks she takes on. Sometimes a
colleague of the same pool tries the same task too: one wins, the other gets 409
and moves on. Professionals with tasks assigned to them (a declared GP, a hospital
care team) look at their own worklist every few days and accept what is theirs.

Once she holds a task she reads the patient's identity (allowed after the claim).
When the territory would report one of her consultations of that patient, her app
completes the task instead (``POST /v1/tasks/{id}/complete`` with findings, at the
share ``APP_COMPLETION``) and the consultation fact is not posted: the task's
completion is the record, so the indicators count each act once. Every other act is
still reported by the territory's facts, which complete the tasks she claimed; the
rates of PROTOCOLS.md (on time, late, never) stay those of ``behaviour.py``. Choices are drawn from a seeded generator keyed by day and pool, so
the same seed plays the same professionals.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field

import httpx

from simulator.territory import Professional, Territory

CLAIM_PER_DAY = 0.7  # share of the visible pool tasks a professional takes on each day
CLAIM_AHEAD = 3  # days: a task that opens later waits in its pool
CONTENTION = 0.25  # share of claims a colleague of the same pool also tries
OWN_LIST_EVERY = 3  # days between two looks at one's own worklist
APP_COMPLETION = 0.5  # share of her consultations a professional records in her app
FINDINGS = (
    "Patient vu, examen clinique sans particularité, traitement poursuivi.",
    "Consultation faite, traitement ajusté, prochain rendez-vous programmé.",
    "Patient vu, éducation thérapeutique reprise, pas de signe de décompensation.",
)


@dataclass
class AppsOutcome:
    pool_looks: int = 0
    claims: int = 0
    lost_races: int = 0
    accepted_own: int = 0
    completed_in_app: int = 0
    stale: int = 0  # a task done meanwhile (a lagging list, a fact): 409, moves on
    refused: dict[int, int] = field(default_factory=dict)


class Apps:
    """Plays the professionals of ``territory`` against projections and pathways."""

    def __init__(
        self,
        territory: Territory,
        *,
        seed: int,
        pathways_url: str,
        projections_url: str,
        token_for,  # Professional -> bearer token  # type: ignore[no-untyped-def]
        concurrency: int = 8,
    ) -> None:
        self.territory, self.seed, self.token_for = territory, seed, token_for
        self.pathways_url, self.projections_url = pathways_url, projections_url
        self.concurrency = concurrency
        self.out = AppsOutcome()
        self.pools: dict[tuple[str, str], list[Professional]] = defaultdict(list)
        for p in territory.professionals:
            for zone in p.zones:
                self.pools[(p.role, zone)].append(p)
        self._tokens: dict[str, str] = {}
        self.followed: set[str] = set()  # RPPS of the professionals with tasks of their own
        self.by_rpps = {p.rpps: p for p in territory.professionals}
        # INS -> the tasks professionals hold for that patient: (rpps, role, task)
        self.held: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)

    def follow(self, rpps: str) -> None:
        self.followed.add(rpps)

    def _headers(self, p: Professional) -> dict[str, str]:
        if p.rpps not in self._tokens:
            self._tokens[p.rpps] = self.token_for(p)
        return {"Authorization": f"Bearer {self._tokens[p.rpps]}"}

    def _count(self, status: int) -> None:
        self.out.refused[status] = self.out.refused.get(status, 0) + 1

    async def day(self, day: dt.date) -> None:
        """The apps' work at the end of ``day`` (after its facts were posted)."""
        async with (
            httpx.AsyncClient(base_url=self.projections_url, timeout=60) as reads,
            httpx.AsyncClient(base_url=self.pathways_url, timeout=60) as writes,
        ):
            jobs = [(role, zone) for (role, zone) in sorted(self.pools)]
            own = [
                p
                for p in self.territory.professionals
                if p.rpps in self.followed and (day.toordinal() + int(p.rpps)) % OWN_LIST_EVERY == 0
            ]

            async def pools() -> None:
                while jobs:
                    await self._pool(reads, writes, day, *jobs.pop(0))

            async def owns() -> None:
                while own:
                    await self._own(reads, writes, own.pop(0))

            workers = [pools() for _ in range(self.concurrency)]
            workers += [owns() for _ in range(max(1, self.concurrency // 2))]
            await asyncio.gather(*workers)

    async def _pool(
        self,
        reads: httpx.AsyncClient,
        writes: httpx.AsyncClient,
        day: dt.date,
        role: str,
        zone: str,
    ) -> None:
        rng = random.Random(f"{self.seed}:{day.isoformat()}:{role}:{zone}")
        members = sorted(self.pools[(role, zone)], key=lambda p: p.rpps)
        looker = rng.choice(members)
        answer = await reads.get(f"/v1/worklists/pool/{role}/{zone}", headers=self._headers(looker))
        self.out.pool_looks += 1
        if answer.status_code != 200:
            self._count(answer.status_code)
            return
        tasks = sorted(
            answer.json()["tasks"],
            key=lambda t: (t["earliest"], t["due"], t["activity"], t["occurrence"]),
        )
        horizon = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(days=CLAIM_AHEAD)
        for task in tasks:
            if _instant(task["earliest"]) > horizon or rng.random() >= CLAIM_PER_DAY:
                continue
            claimants = [looker]
            if len(members) > 1 and rng.random() < CONTENTION:
                claimants.append(rng.choice([m for m in members if m is not looker]))
                rng.shuffle(claimants)
            won = False
            for who in claimants:
                answer = await writes.post(
                    f"/v1/tasks/{task['task_id']}/accept", headers=self._headers(who)
                )
                if answer.status_code == 200:
                    won = True
                    self.out.claims += 1
                    self.follow(who.rpps)
                    await self._hold(writes, who, task)
                elif answer.status_code == 409 and won:  # her colleague was first
                    self.out.lost_races += 1
                elif answer.status_code == 409:  # the pool list lagged: taken or done
                    self.out.stale += 1
                else:
                    self._count(answer.status_code)

    async def _own(
        self, reads: httpx.AsyncClient, writes: httpx.AsyncClient, p: Professional
    ) -> None:
        answer = await reads.get("/v1/worklists/me", headers=self._headers(p))
        if answer.status_code != 200:
            self._count(answer.status_code)
            return
        for task in answer.json()["tasks"]:
            if task["status"] != "requested":
                continue
            answer = await writes.post(
                f"/v1/tasks/{task['task_id']}/accept", headers=self._headers(p)
            )
            if answer.status_code == 200:
                self.out.accepted_own += 1
                await self._hold(writes, p, task)
            elif answer.status_code == 409:  # the worklist lagged: done meanwhile
                self.out.stale += 1
            else:
                self._count(answer.status_code)

    async def _hold(self, writes: httpx.AsyncClient, p: Professional, task: dict) -> None:
        """After a claim her app shows the patient: the identity names the INS."""
        answer = await writes.get(
            f"/v1/patients/{task['patient_id']}/identity", headers=self._headers(p)
        )
        if answer.status_code != 200:
            self._count(answer.status_code)
            return
        self.held[answer.json()["ins"]].append((p.rpps, p.role, task))

    async def before_day(self, day: dt.date, facts: list) -> list:  # type: ignore[type-arg]
        """Today's facts minus the consultations the professionals record in their apps."""
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        kept = []
        async with httpx.AsyncClient(base_url=self.pathways_url, timeout=60) as writes:
            for f in facts:
                if not await self._completes(writes, f, midnight):
                    kept.append(f)
        return kept

    async def _completes(self, writes: httpx.AsyncClient, f, midnight: dt.datetime) -> bool:  # type: ignore[no-untyped-def]
        body = f.body
        if body["type"] != "ConsultationReported" or body["rpps"] not in self.by_rpps:
            return False
        held = self.held.get(body["patient"]["ins"], [])
        for i, (rpps, role, task) in enumerate(held):
            if (
                rpps != body["rpps"]
                or role != body["role"]
                or _instant(task["earliest"]) > midnight
            ):
                continue
            rng = random.Random(f"{self.seed}:{body['event_id']}")
            if rng.random() >= APP_COMPLETION:
                return False
            answer = await writes.post(
                f"/v1/tasks/{task['task_id']}/complete",
                headers=self._headers(self.by_rpps[rpps]),
                json={"findings": rng.choice(FINDINGS)},
            )
            del held[i]
            if answer.status_code == 200:
                self.out.completed_in_app += 1
                return True
            if answer.status_code == 409:
                self.out.stale += 1
            else:
                self._count(answer.status_code)
            return False
        return False


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def followed_in(facts) -> set[str]:  # type: ignore[no-untyped-def]
    """RPPS of the professionals tasks are assigned to: hospital care teams."""
    out: set[str] = set()
    for f in facts:
        for member in f.body.get("care_team", ()):
            out.add(member["rpps"])
    return out
