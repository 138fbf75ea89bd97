"""Another tenant is still served: a normal heart-failure discharge in CPTS ``beta``
produces its tasks (the coordinator's worklist), its task notifications on NATS and its
timeline, each within seconds (polled with a deadline), through the running services."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import nats
from nats.js.api import DeliverPolicy

from contracts.identity import INS_TEST_OID
from contracts.subjects import Subjects
from tests.fuzz.cohort import GP, NOW, NURSE, ZONE
from tests.integration.clock import iso
from tests.integration.conftest import bearer, eventually

BETA = "beta"
WITHIN = 20.0  # seconds


def heart_failure_discharge(ins: str) -> dict[str, Any]:
    out = NOW - dt.timedelta(days=1)
    return {
        "type": "DischargeReported",
        "patient": {"ins": ins, "oid": INS_TEST_OID, "commune": ZONE},
        "admitted_at": iso(out - dt.timedelta(days=5)),
        "discharged_at": iso(out),
        "diagnoses": ["I50.1"],
        "finess": "750712184",
        "care_team": [{"role": "nurse", "rpps": NURSE}, {"role": "gp", "rpps": GP}],
    }


async def beta_still_served(apps: Any, token: Any, ins: str) -> None:
    settings = apps.settings
    pathways, projections = apps.clients["pathways"], apps.clients["projections"]
    nc = await nats.connect(settings.nats.url)
    try:
        sub = await nc.jetstream().subscribe(
            f"{settings.nats.prefix}.{BETA}.>",
            stream=Subjects(settings.nats.prefix).notifications_stream,
            deliver_policy=DeliverPolicy.NEW,
        )
        hospital = bearer(token("discharge-system", sub="CHU-B", cpts=BETA))
        posted = await pathways.post(
            "/v1/facts", json=heart_failure_discharge(ins), headers=hospital
        )
        assert posted.status_code == 201, posted.text
        patient = posted.json()["stream"].removeprefix("patient-")
        coordinator = bearer(token("coordinator", sub="COORD-B", cpts=BETA))
        nurse = bearer(token("nurse", sub=NURSE, cpts=BETA, zones=[ZONE]))

        async def tasks() -> Any:
            r = await projections.get("/v1/worklists/coordinator", headers=coordinator)
            assert r.status_code == 200, r.text
            return [t for t in r.json()["tasks"] if t["patient_id"] == patient]

        notified: set[str] = set()

        async def notifications() -> bool:
            while True:  # every message there (earlier beta patients are notified too)
                try:
                    msg = await sub.next_msg(timeout=0.2)
                except nats.errors.TimeoutError:
                    return "scheduled" in notified
                note = json.loads(msg.data)
                if note.get("patient_id") == patient:
                    notified.add(note["kind"])

        async def timeline() -> Any:
            r = await projections.get(f"/v1/patients/{patient}/timeline", headers=nurse)
            return r.status_code == 200 and r.json()["entries"]

        for what, check in (("tasks", tasks), ("notifications", notifications),
                            ("timeline", timeline)):  # fmt: skip
            try:
                await eventually(check, timeout=WITHIN)
            except AssertionError as exc:
                raise AssertionError(f"its {what}: {exc}") from None
    finally:
        await nc.close()
