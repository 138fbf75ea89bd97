"""What the stateful fuzzer (``test_stateful_fuzz.py``) shares: its sizes, who acts, the
values it draws views with, the running services and cohort (``Context``), the faults it
saw, and ``request``: one call to a service, counted per rule and held to the contract
(no 5xx; every 4xx an RFC 9457 problem with a detail)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.cohort import GP, NURSE, ZONE, World
from tests.fuzz.live_apps import LiveApps
from tests.fuzz.statuses import STATUSES, error_answer_fault
from tests.integration.conftest import bearer

LONG = os.environ.get("PARCOURS_FUZZ") == "long"
SEQUENCES = 100 if LONG else 40
STEPS = 80 if LONG else 50
ALPHA = "alpha"
# who acts: (role, subject, extra claims); the nurse and the GP are the cohort's care team
ACTORS = {
    "nurse": ("nurse", NURSE, {"zones": [ZONE]}),
    "gp": ("gp", GP, {}),
    "cardiologist": ("specialist", "10000000003", {"specialty": "cardiologist"}),
    "coordinator": ("coordinator", "COORD-1", {}),
    "admin": ("admin", "ADMIN-1", {}),
    "auditor": ("auditor", "AUDIT-1", {}),
    "hospital": ("discharge-system", "CHU-1", {}),
}
ROLES = st.sampled_from(sorted(ACTORS))
NEXT = {"requested": "accept", "accepted": "start", "in-progress": "complete"}
ACTIONS = st.sampled_from(["accept", "start", "complete", "reject", "fail", "reassign", "cancel"])
AS_OF = st.sampled_from(
    [None, "2026-03-20T11:00:00Z", "2026-03-01T00:00:00+14:00", "0001-01-01T00:00:00Z",
     "9999-12-31T23:59:59-12:00", "2026-02-30T00:00:00Z"]
)  # fmt: skip
PERIODS = st.sampled_from(["2026-03", "2026-Q1", "2026", "1900", "2099-Q4", "9999-12", "2026-13"])
ZONES = st.sampled_from([ZONE, "2A004", "Secteur Nord", "a.b-c_d", "Z" * 64])


class Context:
    apps: LiveApps
    world: World
    token: Any
    beta_patients = 0
    # what broke, kept here too: a failing sequence cannot be replayed exactly (the system
    # moved on), and hypothesis then reports its replay as flaky instead of the failure
    faults: list[str] = []


def fault(message: str) -> AssertionError:
    Context.faults.append(message)
    return AssertionError(message)


def request(rule_name: str, service: str, method: str, path: str, actor: Any, **kw: Any):
    role, sub, claims = ACTORS[actor] if isinstance(actor, str) else actor
    headers = bearer(Context.token(role, sub=sub, cpts=ALPHA, **claims))
    client = Context.apps.clients[service]
    response = Context.apps.run(client.request(method, path, headers=headers, **kw))
    STATUSES.setdefault(f"[stateful] {rule_name}", Counter())[
        f"{response.status_code // 100}xx"
    ] += 1
    why = error_answer_fault(
        response.status_code, response.headers.get("content-type", ""), response.content
    )
    if why is not None:
        raise fault(f"{method} {path} as {actor} -> {why}")
    return response
