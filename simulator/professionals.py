"""The territory's professionals in the CPTS directory, registered through the public API.

``register`` adds every simulated professional (RPPS, role, specialty, zones) with
``POST /v1/directory/professionals`` on the notifications service; one already listed
(409) is brought up to date with ``PATCH``. The sector's default zone (for pool tasks
of a patient without a commune) is set to the territory's first commune.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from simulator.territory import COMMUNES, Professional, Territory


@dataclass
class Registration:
    added: int = 0
    updated: int = 0


def _entry(p: Professional) -> dict:
    # a cardiologist is listed with her own role (the directory's ``specialty`` is for a
    # "specialist" role); the territory's specialty names are the facts' ("cardiology")
    return {"rpps": p.rpps, "role": p.role, "zones": list(p.zones)}


async def _retried(client: httpx.AsyncClient, method: str, path: str, body: dict) -> httpx.Response:
    """The directory's changes are one event stream: a concurrent change is a version
    conflict (409), tried again."""
    while True:
        answer = await client.request(method, path, json=body)
        if answer.status_code != 409 or "version-conflict" not in answer.text:
            return answer


async def register(
    territory: Territory, *, notifications_url: str, admin_token: str, concurrency: int = 4
) -> Registration:
    out = Registration()
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=notifications_url, headers=headers, timeout=60) as client:
        answer = await client.put("/v1/directory/sector", json={"default_zone": COMMUNES[0]})
        answer.raise_for_status()
        queue = list(territory.professionals)

        async def worker() -> None:
            while queue:
                p = queue.pop()
                entry = _entry(p)
                answer = await _retried(client, "POST", "/v1/directory/professionals", entry)
                if answer.status_code == 409:
                    change = {k: v for k, v in entry.items() if k != "rpps"}
                    path = f"/v1/directory/professionals/{p.rpps}"
                    answer = await _retried(client, "PATCH", path, change)
                    answer.raise_for_status()
                    out.updated += 1
                else:
                    answer.raise_for_status()
                    out.added += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def professional_token(settings, cpts: str):  # type: ignore[no-untyped-def]
    """A development token per professional, as her app would hold after signing in."""
    from parcours.auth import mint

    def token_for(p: Professional) -> str:
        return mint(
            settings, sub=p.rpps, role=p.role, cpts=cpts, ttl_seconds=7 * 86400,
            zones=list(p.zones),
        )  # fmt: skip

    return token_for


def psc_accounts(territory: Territory, per_role: int = 2) -> dict:
    """Accounts of the OpenID provider of the demo (tools/node/psc-provider.mjs) for the
    first professionals of each role: login ``<role>-<n>``, ``SubjectNameID`` "8" + RPPS."""
    accounts: dict = {}
    for role in sorted({p.role for p in territory.professionals}):
        for n, p in enumerate(territory.of_role(role)[:per_role], start=1):
            accounts[f"{role}-{n}"] = {"SubjectNameID": f"8{p.rpps}", "given_name": f"{role} {n}"}
    return accounts
