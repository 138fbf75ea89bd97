"""What auditors may see and what they may not; worklists for the people who act; the
access log; exports (CSV, JSON, FHIR MeasureReport, mission report)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import msgspec
import pytest

from contracts.identity import INS_TEST_OID, PatientIdentity
from tests.integration.test_projections_helpers import flush, running
from tests.integration.test_projections_hf import ANCHOR, HF, cohort

IDENTITIES = [
    PatientIdentity(
        ins=ins,
        oid=INS_TEST_OID,
        birth_name=name,
        first_names=first,
        birth_date=dt.date(1950 + i, 3, 4 + i),
        sex="F",
    )
    for i, (ins, name, first) in enumerate(
        [
            ("295109912611193", "DUPONTEL", "Jeanne"),
            ("253072B07300470", "MARTINEAU", "Lucienne"),
            ("253072A07300443", "LEFEBVRIER", "Odette"),
            ("182036912345659", "BERNARDIN", "Paulette"),
            ("269054958815780", "GIRARDOT", "Simone"),
        ]
    )
]


@pytest.fixture(scope="module")
def tokens(token) -> dict[str, str]:
    return {
        "auditor": token("auditor", sub="AUDIT-1"),
        "coordinator": token("coordinator", sub="COORD-1"),
        "gp": token("gp", sub="10000000009"),
        "nurse": token("nurse", sub="10000000001", zones=["z1"]),
    }


async def seeded(h, cpts: str = "demo", until: int = 65):  # type: ignore[no-untyped-def]
    ids = []
    for identity in IDENTITIES:  # as the pathways service keeps them: identity table only
        patient_id = uuid.uuid4()
        await h.pool.execute(
            """INSERT INTO patient_identities (cpts, ins, ins_oid, patient_id, traits)
               VALUES ($5, $1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING""",
            identity.ins,
            identity.oid,
            patient_id,
            msgspec.json.encode(identity).decode(),
            cpts,
        )
        ids.append(patient_id)
    people = cohort(ids, cpts, until)
    await flush(h.pool, *people.values())
    await h.settle()
    return people


async def test_no_auditor_answer_names_a_patient(settings, tokens):
    async with running(settings) as h:
        people = await seeded(h)
        auditor = tokens["auditor"]
        bodies: list[str] = []

        async def read(path: str, **params) -> dict | str:  # type: ignore[no-untyped-def]
            r = await h.client.get(
                path, params=params, headers={"Authorization": f"Bearer {auditor}"}
            )
            assert r.status_code == 200, (path, r.text)
            bodies.append(r.text)
            return r.json() if "json" in r.headers["content-type"] else r.text

        listing = await read("/v1/indicators", period="2026-Q1")
        codes = [i["code"] for p in listing["protocols"] for i in p["indicators"]]
        pseudonyms = set()
        for code in codes:
            await read(f"/v1/indicators/{code}", period="2026-Q1")
            cases = await read(f"/v1/indicators/{code}/cases", period="2026-Q1")
            pseudonyms |= {c["case"] for c in cases["cases"]}
            for kind in ("summary", "subject-list"):
                await read(f"/v1/indicators/{code}/measure-report", period="2026-Q1", type=kind)
            await read(f"/v1/exports/indicators/{code}/cases", period="2026-Q1", format="csv")
        assert len(pseudonyms) == 5
        for alias in pseudonyms:
            for lang in ("fr", "en"):
                timeline = await read(f"/v1/cases/{alias}/timeline", lang=lang)
                assert timeline["entries"] and timeline["anchor_month"] == "2026-01"
        for fmt in ("json", "csv"):
            await read("/v1/exports/indicators", period="2026-Q1", format=fmt)
            await read("/v1/reports/mission", period="2026-Q1", format=fmt)
        await read("/dashboard")

        text = "\n".join(bodies)
        forbidden = [str(p.patient) for p in people.values()]
        for identity in IDENTITIES:
            forbidden += [
                identity.ins,
                identity.birth_name,
                identity.first_names,
                identity.birth_date.isoformat(),
            ]
        forbidden.append(ANCHOR.date().isoformat())  # exact dates: days from the anchor only
        # events are named by pseudonyms too: never a sender's raw event id
        forbidden += [str(r["event_id"]) for r in await h.pool.fetch("SELECT event_id FROM events")]
        # nor who did the work: assignees' RPPS
        forbidden += [
            r["rpps"]
            for r in await h.pool.fetch(
                "SELECT DISTINCT coalesce(data->>'assignee', data->>'by') AS rpps FROM events "
                "WHERE coalesce(data->>'assignee', data->>'by') IS NOT NULL"
            )
        ]
        leaks = [f for f in forbidden if f.lower() in text.lower()]
        assert leaks == []


async def test_worklists_show_open_due_and_overdue_tasks_and_are_access_logged(settings, tokens):
    async with running(settings) as h:
        people = await seeded(h, until=9)  # the cohort as it stands on D+9
        mine = {str(p.patient) for p in people.values()}
        at = (ANCHOR + dt.timedelta(days=9)).isoformat()  # after the D+7 windows closed
        gp = await h.get("/v1/worklists/me", tokens["gp"], at=at)
        # the named GP's D+7 consultations still open on D+9: B's (done on D+10 only) and
        # C's, overdue; D's was cancelled by the death, A's and E's done
        overdue = [t for t in gp["tasks"] if t["patient_id"] in mine and t["state"] == "overdue"]
        assert len(overdue) == 2
        assert all(t["assignee"] == "10000000009" for t in gp["tasks"])
        pool = await h.get("/v1/worklists/pool/nurse/z1", tokens["nurse"], at=at)
        assert pool["tasks"] and all(
            t["role"] == "nurse" and t["assignee"] is None for t in pool["tasks"]
        )
        states = {t["state"] for t in pool["tasks"]}
        assert {"due", "upcoming", "overdue"} <= states
        coordinator = await h.get("/v1/worklists/coordinator", tokens["coordinator"])
        assert coordinator["escalations"] and coordinator["tasks"][0]["state"] == "overdue"
        enrolments = await h.get("/v1/enrolments", tokens["coordinator"], status="closed")
        assert [e["close_reason"] for e in enrolments["enrolments"] if e["patient_id"] in mine] == [
            "death"
        ]

        # the pool of another role or zone is not the nurse's
        r = await h.client.get(
            "/v1/worklists/pool/gp/z1", headers={"Authorization": f"Bearer {tokens['nurse']}"}
        )
        assert r.status_code == 403
        r = await h.client.get(
            "/v1/worklists/pool/nurse/z9", headers={"Authorization": f"Bearer {tokens['nurse']}"}
        )
        assert r.status_code == 403
        # auditors read no worklist; professionals read no indicator
        r = await h.client.get(
            "/v1/worklists/coordinator", headers={"Authorization": f"Bearer {tokens['auditor']}"}
        )
        assert r.status_code == 403
        r = await h.client.get(
            "/v1/indicators",
            params={"period": "2026-Q1"},
            headers={"Authorization": f"Bearer {tokens['nurse']}"},
        )
        assert r.status_code == 403

        log = await h.pool.fetch("SELECT sub, role, route, purpose, patient_ids FROM access_log")
        routes = {(r["sub"], r["route"]) for r in log}
        assert ("10000000009", "GET /v1/worklists/me") in routes
        assert ("10000000001", "GET /v1/worklists/pool/{role}/{zone}") in routes
        assert ("COORD-1", "GET /v1/worklists/coordinator") in routes
        assert all(r["patient_ids"] for r in log if r["purpose"] != "enrolment list")


async def test_exports_and_fhir_measure_reports(settings, token):
    async with running(settings) as h:
        await seeded(h, "exports")
        auditor = token("auditor", sub="AUDIT-2", cpts="exports")
        text = await h.get(
            "/v1/exports/indicators", auditor, period="2026-Q1", format="csv", protocol=HF
        )
        rows = {r["code"]: r for r in csv.DictReader(io.StringIO(text))}
        assert (rows["HF-GP7"]["numerator"], rows["HF-GP7"]["denominator"]) == ("2", "4")
        summary = await h.get("/v1/indicators/HF-GP7/measure-report", auditor, period="2026-Q1")
        assert summary["resourceType"] == "MeasureReport" and summary["type"] == "summary"
        pops = {
            p["code"]["coding"][0]["code"]: p["count"] for p in summary["group"][0]["population"]
        }
        assert pops == {
            "initial-population": 5,
            "denominator": 5,  # before exclusions (FHIR quality-reporting convention)
            "denominator-exclusion": 1,
            "numerator": 2,
        }
        assert summary["group"][0]["measureScore"]["value"] == 0.5
        assert summary["period"] == {"start": "2026-01-01", "end": "2026-03-31"}
        subjects = await h.get(
            "/v1/indicators/HF-GP7/measure-report", auditor, period="2026-Q1", type="subject-list"
        )
        lists = {c["id"]: c for c in subjects["contained"]}
        assert len(lists["numerator"]["entry"]) == 2
        refs = [p["subjectResults"]["reference"] for p in subjects["group"][0]["population"]]
        assert refs == [
            "#initial-population",
            "#denominator",
            "#denominator-exclusion",
            "#numerator",
        ]

        mission = await h.get("/v1/reports/mission", auditor, period="2026-Q1")
        hf = next(p for p in mission["pathways"] if p["protocol"] == HF)
        assert (hf["patients"], hf["enrolments"]) == (5, 5)
        # one escalation per task gone overdue by D+65: A visits 15-16 (2); B blood panel,
        # GP, visits 9-16 (10); C blood panel, GP, cardiology, 16 visits (19); D visit 1,
        # overdue on D+3 before the death (1); E none before its readmission: 32
        assert hf["escalations"] == 32 and hf["tasks_due"] == 5 * 19
        # done: A 3 + 14 visits, B 2 + 8, E 2 + 4; on time: all but B's GP consultation
        assert (hf["tasks_done"], hf["tasks_on_time"]) == (17 + 10 + 6, 17 + 9 + 6)
        csv_text = await h.get("/v1/reports/mission", auditor, period="2026-Q1", format="csv")
        assert csv_text.splitlines()[0].startswith("period,protocol,patients")
        json.dumps(mission)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "period"),
        ({"period": "2026-Q5"}, "period"),
        ({"period": "2026-Q1", "as_of": "yesterday"}, "as_of"),
        ({"period": "2026-Q1", "as_of": "2026-01-01T00:00:00"}, "as_of"),
    ],
)
async def test_bad_periods_and_instants_get_problem_details(settings, tokens, params, field):
    async with running(settings) as h:
        r = await h.client.get(
            "/v1/indicators",
            params=params,
            headers={"Authorization": f"Bearer {tokens['auditor']}"},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == field
        r = await h.client.get(
            "/v1/indicators/NOPE",
            params={"period": "2026"},
            headers={"Authorization": f"Bearer {tokens['auditor']}"},
        )
        assert r.status_code == 404
