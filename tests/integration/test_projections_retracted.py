"""A cancelled discharge's enrolment, read back through the auditors' API: out of the
indicator (the case list says why) and out of the mission report's inclusions."""

from __future__ import annotations

import datetime as dt

from contracts import facts as f
from tests.integration.test_projections_helpers import flush, running
from tests.integration.test_projections_hf import ANCHOR, HF, hf_patient


async def test_a_cancelled_discharge_leaves_the_indicator_and_the_mission_inclusions(
    settings, token
) -> None:
    auditor = token("auditor", sub="AUDIT-1")
    kept, retracted = hf_patient("K"), hf_patient("R")
    retracted.record(f.DischargeCancelled(cancelled_at=ANCHOR + dt.timedelta(hours=3)))
    async with running(settings) as h:
        await flush(h.pool, kept, retracted)
        await h.settle()
        cases = await h.get("/v1/indicators/HF-GP7/cases", auditor, period="2026-01")
        mission = await h.get("/v1/reports/mission", auditor, period="2026-01")
    statuses = sorted((c["status"], c["reason"]) for c in cases["cases"])
    assert ("excluded", "DischargeCancelled") in statuses
    assert len([s for s in statuses if s[1] == "DischargeCancelled"]) == 1
    hf = next(p for p in mission["pathways"] if p["protocol"] == HF)
    # other tests of this module's database add their own patients: this one adds one
    assert hf["enrolments"] >= 1
    before = hf["enrolments"]
    async with running(settings) as h:
        again = hf_patient("R2")
        again.record(f.DischargeCancelled(cancelled_at=ANCHOR + dt.timedelta(hours=3)))
        await flush(h.pool, again)
        await h.settle()
        mission = await h.get("/v1/reports/mission", auditor, period="2026-01")
    assert next(p for p in mission["pathways"] if p["protocol"] == HF)["enrolments"] == (before)
