"""Plays access-to-care ``Action``s (``simulator.access``) through the HTTP API: each at its
instant (the virtual clock is moved there first, firing the timers due on the way), with
a token of its actor; the ids that filing answers give are kept for the later actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from simulator.access import Action

ROUTES = {
    "capacity": lambda a, ids: "/v1/gp-access/capacity",
    "slots": lambda a, ids: "/v1/snp/slots",
    "refer": lambda a, ids: "/v1/gp-access/requests",
    "take": lambda a, ids: f"/v1/gp-access/requests/{ids[a.key]}/take",
    "decline": lambda a, ids: f"/v1/gp-access/requests/{ids[a.key]}/decline",
    "close": lambda a, ids: f"/v1/gp-access/requests/{ids[a.key]}/close",
    "declare": lambda a, ids: "/v1/facts",
    "snp": lambda a, ids: "/v1/snp/requests",
    "accept": lambda a, ids: f"/v1/snp/requests/{ids[a.key]}/accept",
    "snp-close": lambda a, ids: f"/v1/snp/requests/{ids[a.key]}/close",
}
FILING = ("refer", "snp")


@dataclass
class AccessOutcome:
    calls: int = 0
    ok: int = 0
    conflicts: int = 0  # 409: taken or accepted first by another, already closed
    refused: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def play_actions(
    client: httpx.AsyncClient,
    advance: Callable,  # async (client, to) -> timers fired
    actions: list[Action],
    token_for: Callable[[str, str], str],
    ids: dict[str, str],
    out: AccessOutcome,
) -> int:
    fired = 0
    headers: dict[tuple[str, str], dict[str, str]] = {}
    for a in actions:
        if a.key is not None and a.kind not in FILING and a.key not in ids:
            continue  # its request was refused
        fired += await advance(client, a.at)
        if a.actor not in headers:
            headers[a.actor] = {"Authorization": f"Bearer {token_for(*a.actor)}"}
        answer = await client.post(ROUTES[a.kind](a, ids), json=a.body, headers=headers[a.actor])
        out.calls += 1
        if 200 <= answer.status_code < 300:
            out.ok += 1
            if a.kind in FILING and a.key is not None:
                ids[a.key] = answer.json()["request_id"]
        elif answer.status_code == 409:
            out.conflicts += 1
        else:
            out.refused[answer.status_code] = out.refused.get(answer.status_code, 0) + 1
            if len(out.problems) < 10:
                out.problems.append(f"{a.kind}: {answer.status_code} {answer.text[:200]}")
    return fired


def actions_by_day(actions: list[Action]) -> dict[dt.date, list[Action]]:
    days: dict[dt.date, list[Action]] = {}
    for a in actions:
        days.setdefault(a.at.date(), []).append(a)
    return days
