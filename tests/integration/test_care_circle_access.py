"""Need-to-know, end to end (pathways and projections, real PostgreSQL and NATS, the virtual
clock): the care circle reads a patient's timeline and identity, others get 403; a pool
task's patient only once claimed; an opposition is honoured; break-the-glass is granted,
logged and over after its hours; pools need the zone; the access report lists exactly the
reads made."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import asyncpg
import pytest

from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.clock import iso, on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.patient_tasks import open_pool_task
from tests.integration.test_projections_helpers import views_caught_up

START = dt.datetime(2026, 4, 6, 18, tzinfo=dt.UTC)
OID = "1.2.250.1.213.1.4.10"
ANNE = {"ins": "253072B07300470", "oid": OID, "birth_name": "LEGRAND", "commune": "75114"}
PAUL = {"ins": "182036912345659", "oid": OID, "birth_name": "BERNARDIN", "commune": "75114"}
GP, NURSE, GP_NO_ZONE, NURSE_2 = "10000000021", "10000000022", "10000000023", "10000000024"
TIMELINE, IDENTITY = (
    "GET /v1/patients/{patient_id}/timeline",
    "GET /v1/patients/{patient_id}/identity",
)
POOL = "GET /v1/worklists/pool/{role}/{zone}"
MINE = "GET /v1/worklists/me"


def discharge(patient: dict[str, str], care_team: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "type": "DischargeReported",
        "patient": patient,
        "admitted_at": "2026-04-01T08:00:00Z",
        "discharged_at": "2026-04-06T15:00:00Z",
        "diagnoses": ["I50.9"],
        "finess": "750712184",
        "care_team": care_team,
    }


@pytest.fixture(scope="module")
def people(token) -> dict[str, dict[str, str]]:
    return {
        "hospital": bearer(token("discharge-system", sub="CHU-1")),
        "gp": bearer(token("gp", sub=GP)),
        "nurse": bearer(token("nurse", sub=NURSE, zones=["75114"])),
        "nurse_2": bearer(token("nurse", sub=NURSE_2, zones=["75114"])),
        "gp_no_zone": bearer(token("gp", sub=GP_NO_ZONE)),
        "coordinator": bearer(token("coordinator", sub="COORD-1")),
        "dpo": bearer(token("dpo", sub="DPO-1")),
        "admin": bearer(token("admin", sub="ADMIN-1")),
        "auditor": bearer(token("auditor", sub="AUDIT-1")),
        "elsewhere": bearer(token("coordinator", sub="COORD-9", cpts="other")),
    }


async def test_the_care_circle_reads_others_do_not_and_the_report_lists_every_read(
    settings: Settings, people
) -> None:
    virtual = on_virtual_clock(settings, START)
    db = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    async with (
        serving(pathways_app(virtual, with_scheduler=False)) as pathways,
        serving(projections_app(virtual)) as projections,
    ):

        async def settled() -> None:
            await views_caught_up(db)

        async def status(service, path: str, who: str) -> int:  # type: ignore[no-untyped-def]
            r = await service.get(path, headers=people[who])
            if r.status_code == 403:
                assert r.headers["content-type"].startswith("application/problem+json")
            assert "LEGRAND" not in r.text or r.status_code == 200
            return r.status_code

        posted = await pathways.post(
            "/v1/facts",
            json=discharge(ANNE, [{"role": "gp", "rpps": GP}]),
            headers=people["hospital"],
        )
        assert posted.status_code == 201, posted.text
        anne = posted.json()["stream"].removeprefix("patient-")
        posted = await pathways.post(
            "/v1/facts", json=discharge(PAUL, []), headers=people["hospital"]
        )
        paul = posted.json()["stream"].removeprefix("patient-")
        timeline, identity = f"/v1/patients/{anne}/timeline", f"/v1/patients/{anne}/identity"
        await settled()

        # the GP named on the discharge is in the circle; a nurse of the CPTS is not
        assert await status(projections, timeline, "gp") == 200
        refused = await projections.get(timeline, headers=people["nurse"])
        assert refused.status_code == 403
        assert "not in this patient's care circle" in refused.json()["detail"]
        assert await status(pathways, identity, "nurse") == 403
        # a GP with no zone, and Paul's GP consultation open in the GP pool: no identity
        assert await status(pathways, f"/v1/patients/{paul}/identity", "gp_no_zone") == 403
        # ... and no GP pool without a zone of hers
        assert await status(projections, "/v1/worklists/pool/gp/75114", "gp_no_zone") == 403
        # other CPTS: not found; auditors: not their read
        assert await status(projections, timeline, "elsewhere") == 404
        assert await status(projections, timeline, "auditor") == 403

        # the nurse claims one of Anne's nursing visits: she joins the circle
        task = await open_pool_task(settings.database.url, anne, "nurse")
        accepted = await pathways.post(f"/v1/tasks/{task}/accept", headers=people["nurse"])
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["events"] == ["TaskAccepted", "CareCircleChanged"]
        await settled()
        assert await status(projections, timeline, "nurse") == 200
        assert await status(pathways, identity, "nurse") == 200
        mine = await projections.get("/v1/worklists/me", headers=people["nurse"])
        assert [t["patient_id"] for t in mine.json()["tasks"]] == [anne]

        # Anne opposes sharing with her: out, and she stays out
        opposed = await pathways.post(
            "/v1/facts",
            json={
                "type": "SharingOpposed",
                "patient": ANNE,
                "opposed_at": iso(START),
                "rpps": NURSE,
            },
            headers=people["coordinator"],
        )
        assert opposed.status_code == 201, opposed.text
        await settled()
        assert await status(projections, timeline, "nurse") == 403
        assert await status(pathways, identity, "nurse") == 403
        # her task of Anne went back to the pool: not on her worklist any more
        mine = await projections.get("/v1/worklists/me", headers=people["nurse"])
        assert mine.json()["tasks"] == []
        glass = await pathways.post(
            f"/v1/patients/{anne}/break-glass", json={"reason": "urgent"}, headers=people["nurse"]
        )
        assert glass.status_code == 403

        # break-the-glass: another nurse, 4 hours, then over on its own
        glass = await pathways.post(
            f"/v1/patients/{anne}/break-glass",
            json={"reason": "found unconscious at home, no GP reachable"},
            headers=people["nurse_2"],
        )
        assert glass.status_code == 200, glass.text
        assert glass.json()["granted"] is True
        assert glass.json()["expires_at"] == "2026-04-06T22:00:00Z"
        await settled()
        assert await status(projections, timeline, "nurse_2") == 200
        assert await status(pathways, identity, "nurse_2") == 200
        pool = await projections.get("/v1/worklists/pool/nurse/75114", headers=people["nurse_2"])
        assert {t["patient_id"] for t in pool.json()["tasks"]} == {anne, paul}
        # the opposed nurse's pool does not show Anne's tasks
        pool = await projections.get("/v1/worklists/pool/nurse/75114", headers=people["nurse"])
        assert {t["patient_id"] for t in pool.json()["tasks"]} == {paul}
        moved = await pathways.post(
            "/v1/admin/clock/advance", json={"by": "4h"}, headers=people["admin"]
        )
        assert moved.status_code == 200, moved.text
        after = moved.json()["now"]
        assert await status(projections, timeline, "nurse_2") == 403
        assert await status(pathways, identity, "nurse_2") == 403

        # a coordinator reads every patient, and adds a professional with a reason
        assert await status(projections, timeline, "coordinator") == 200
        added = await pathways.post(
            f"/v1/patients/{anne}/care-circle",
            json={"rpps": GP_NO_ZONE, "role": "gp", "change": "added", "reason": "GP on call"},
            headers=people["coordinator"],
        )
        assert added.status_code == 200 and added.json()["events"] == ["CareCircleChanged"]
        by_a_nurse = await pathways.post(
            f"/v1/patients/{anne}/care-circle",
            json={"rpps": NURSE_2, "role": "nurse", "change": "added", "reason": "me"},
            headers=people["nurse_2"],
        )
        assert by_a_nurse.status_code == 403
        await settled()
        assert await status(projections, timeline, "gp_no_zone") == 200

        # the access report of Anne: exactly the reads above, in order (15)
        report = await projections.get(
            "/v1/access-report", params={"patient": anne}, headers=people["dpo"]
        )
        assert report.status_code == 200, report.text
        rows = [
            (e["professional"], e["route"], e["granted"], e["break_glass"])
            for e in report.json()["entries"]
        ]
        assert rows == [
            (GP, TIMELINE, True, False),
            (NURSE, TIMELINE, False, False),
            (NURSE, IDENTITY, False, False),
            (NURSE, TIMELINE, True, False),
            (NURSE, IDENTITY, True, False),
            (NURSE, MINE, True, False),
            (NURSE, TIMELINE, False, False),
            (NURSE, IDENTITY, False, False),
            (NURSE_2, TIMELINE, True, True),
            (NURSE_2, IDENTITY, True, True),
            (NURSE_2, POOL, True, False),
            (NURSE_2, TIMELINE, False, False),
            (NURSE_2, IDENTITY, False, False),
            ("COORD-1", TIMELINE, True, False),
            (GP_NO_ZONE, TIMELINE, True, False),
        ]
        # filters: a professional, a period; CSV for a spreadsheet
        mine = await projections.get(
            "/v1/access-report",
            params={"patient": anne, "professional": NURSE_2, "since": after},
            headers=people["coordinator"],
        )
        assert [(e["route"], e["granted"]) for e in mine.json()["entries"]] == [
            (TIMELINE, False),
            (IDENTITY, False),
        ]
        text = await projections.get(
            "/v1/access-report", params={"patient": anne, "format": "csv"}, headers=people["dpo"]
        )
        table = list(csv.DictReader(io.StringIO(text.text)))
        assert len(rows) == 15
        assert len(table) == len(rows) and table[8]["break_glass"] == "True"
        assert {r["patient_id"] for r in table} == {anne}
        # Paul's report: the refused identity read, and the two pool reads
        paul_rows = await projections.get(
            "/v1/access-report", params={"patient": paul}, headers=people["dpo"]
        )
        assert [
            (e["professional"], e["route"], e["granted"]) for e in paul_rows.json()["entries"]
        ] == [
            (GP_NO_ZONE, IDENTITY, False),
            (NURSE_2, POOL, True),
            (NURSE, POOL, True),
        ]
        # professionals and auditors read no access report
        for who in ("nurse", "auditor"):
            r = await projections.get("/v1/access-report", headers=people[who])
            assert r.status_code == 403
        bad = await projections.get(
            "/v1/access-report", params={"professional": "a b"}, headers=people["dpo"]
        )
        assert bad.status_code == 422 and bad.json()["field"] == "professional"
    # the circle view rebuilds from the event store to the same copy
    from projections.rebuild import rebuild
    from projections.views.circle import CircleView

    tables = ("proj_care_circle", "proj_break_glass", "proj_sharing_opposed")
    before = {t: sorted(map(tuple, await db.fetch(f"SELECT * FROM {t}"))) for t in tables}
    assert before["proj_care_circle"] and before["proj_break_glass"]
    await rebuild(db, CircleView(), batch=7)
    after = {t: sorted(map(tuple, await db.fetch(f"SELECT * FROM {t}"))) for t in tables}
    assert after == before
    await db.close()
    assert uuid.UUID(anne) and uuid.UUID(paul)
