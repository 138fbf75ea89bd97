"""ACI mission 1 on the read side, with a seeded cohort played through the pathways API on
the virtual clock: the anonymised waiting list, GP capacity, and every derived indicator
equal to the values computed by hand below (numerator, denominator, exclusions, per-case
status); then every response of the waiting list and of the auditor views is scanned for
the cohort's identities, and none is found."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from contracts.identity import synthetic_ins
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from tests.integration.access_scenario import GP_A, GP_B, NURSE, PHARMACIST, START, gp_declared
from tests.integration.access_scenario import patient as identity
from tests.integration.clock import on_virtual_clock
from tests.integration.conftest import bearer, serving
from tests.integration.test_projections_helpers import running

OTHER_ZONE = "69001"
# GP-access cohort, all referred on Monday 9 March 2026 (D0) by a nurse:
#   n     criteria  born        zone   priority (score)  then
#   1501  ald       1950 (75)   69123  P1 (65)  GP_A takes D0, GP declared D+10
#   1502  c2s       1985 (40)   69123  P2 (25)  GP_B takes D0, GP declared D+45
#   1503  -         1995 (30)   69001  P3 (0)   moved away D+5
#   1504  ald       1975 (50)   69001  P2 (40)  unreachable D+20
#   1505  ald       1945 (80)   69001  P1 (65)  nothing; judged on D+100
COHORT = {
    1501: (["ald"], "1950-05-01", "69123"),
    1502: (["c2s"], "1985-05-01", "69123"),
    1503: ([], "1995-05-01", OTHER_ZONE),
    1504: (["ald"], "1975-05-01", OTHER_ZONE),
    1505: (["ald"], "1945-05-01", OTHER_ZONE),
}
# SNP (patients 1511..1514, zone 69123, GP_A and GP_B have slots on D0):
#   1511 24 h, GP_A accepts at +2 h (met)     1512 24 h, nobody accepts (missed)
#   1513 48 h, GP_B accepts at +30 h (met)    1514 48 h, withdrawn at once (excluded)
SNP = {1511: 24, 1512: 24, 1513: 48, 1514: 48}


def traits(n: int) -> dict:
    criteria, born, zone = COHORT.get(n, ([], "1960-01-01", "69123"))
    return identity(
        n, born=born, commune=zone, birth_name=f"SECRETNAME{n}", first_names=f"Firstname{n}"
    )


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, START)


async def _advance(api, token, days: float) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(token("admin", sub="ADMIN-1"))
    hours = round(days * 24)
    moved = await api.post("/v1/admin/clock/advance", headers=admin, json={"by": f"{hours}h"})
    assert moved.status_code == 200, moved.text


async def _play(api, token) -> dict:  # type: ignore[no-untyped-def]
    nurse, coordinator = bearer(token("nurse", sub=NURSE)), bearer(token("coordinator", sub="C-1"))
    gp = {g: bearer(token("gp", sub=g)) for g in (GP_A, GP_B)}
    ids, answers = {}, []
    for n, (criteria, _born, _zone) in COHORT.items():
        r = await api.post(
            "/v1/gp-access/requests",
            headers=nurse,
            json={"patient": traits(n), "criteria": criteria},
        )
        assert r.status_code == 201, r.text
        ids[n] = r.json()["request_id"]
    for g, places in ((GP_A, 3), (GP_B, 2)):
        body = {"period_start": "2026-03-01", "period_end": "2026-03-31", "new_patients": places}
        assert (
            await api.post("/v1/gp-access/capacity", headers=gp[g], json=body)
        ).status_code == 201
        slots = {"day": START.date().isoformat(), "zone": "69123", "slots": 3}
        assert (await api.post("/v1/snp/slots", headers=gp[g], json=slots)).status_code == 201
    for n, g in ((1501, GP_A), (1502, GP_B)):
        taken = await api.post(f"/v1/gp-access/requests/{ids[n]}/take", headers=gp[g])
        assert taken.status_code == 200, taken.text
        answers.append(taken.json())
    pharmacist = bearer(token("pharmacist", sub=PHARMACIST))
    snp = {}
    for n, hours in SNP.items():
        r = await api.post(
            "/v1/snp/requests",
            headers=pharmacist,
            json={"patient": traits(n), "within_hours": hours},
        )
        assert r.status_code == 201 and r.json()["offered_to"] == 2, r.text
        snp[n] = r.json()["request_id"]
    withdrawn = await api.post(
        f"/v1/snp/requests/{snp[1514]}/close", headers=coordinator, json={"outcome": "withdrawn"}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await _advance(api, token, 2 / 24)
    assert (
        await api.post(f"/v1/snp/requests/{snp[1511]}/accept", headers=gp[GP_A])
    ).status_code == 200
    await _advance(api, token, 28 / 24)
    assert (
        await api.post(f"/v1/snp/requests/{snp[1513]}/accept", headers=gp[GP_B])
    ).status_code == 200
    await _advance(api, token, 5 - 30 / 24)  # D+5
    moved = await api.post(
        f"/v1/gp-access/requests/{ids[1503]}/close",
        headers=coordinator,
        json={"outcome": "moved-away"},
    )
    assert moved.status_code == 200, moved.text
    await _advance(api, token, 5)  # D+10
    now = START + dt.timedelta(days=10)
    assert (
        await api.post("/v1/facts", headers=gp[GP_A], json=gp_declared(1501, GP_A, now))
    ).status_code == 201
    await _advance(api, token, 10)  # D+20
    lost = await api.post(
        f"/v1/gp-access/requests/{ids[1504]}/close",
        headers=coordinator,
        json={"outcome": "unreachable"},
    )
    assert lost.status_code == 200, lost.text
    await _advance(api, token, 25)  # D+45
    now = START + dt.timedelta(days=45)
    assert (
        await api.post("/v1/facts", headers=gp[GP_B], json=gp_declared(1502, GP_B, now))
    ).status_code == 201
    await _advance(api, token, 55)  # D+100
    return {"gp": ids, "snp": snp, "take_answers": answers}


async def test_indicators_equal_the_hand_computed_values_and_no_identity_leaks(
    virtual: Settings, token
) -> None:  # type: ignore[no-untyped-def]
    auditor = token("auditor", sub="AUDIT-1")
    gp_token = token("gp", sub=GP_A)
    responses: list[str] = []
    async with (
        running(virtual) as h,
        serving(pathways_app(virtual, with_relay=False, with_scheduler=False)) as api,
    ):
        played = await _play(api, token)
        ids = played["gp"]
        await h.settle()

        listed = await h.get("/v1/gp-access/waiting-list", gp_token)
        responses.append(json.dumps(listed))
        # on D+100 only 1505 still waits (1503 moved away, 1504 unreachable, two declared)
        assert [r["request_id"] for r in listed["requests"]] == [ids[1505]]
        [waiting] = listed["requests"]
        assert waiting == {
            "request_id": ids[1505],
            "priority": "P1",
            "criteria": ["ald", "age-70-plus"],
            "age_band": "80+",
            "zone": OTHER_ZONE,
            "days_waiting": 100,
            "declined": 0,
        }

        found = await h.get("/v1/indicators", auditor, period="2026-03")
        responses.append(json.dumps(found))
        [group] = [p for p in found["protocols"] if p["id"] == "access-to-care"]
        values = {i["code"]: i for i in group["indicators"]}
        assert all(i["derived"] for i in group["indicators"])
        expected = {  # code: (value, numerator, denominator, excluded)
            "ACCESS-REQUESTS": (5.0, 5, 5, 0),
            "ACCESS-GP30": (0.25, 1, 4, 1),  # met 1501; missed 1502 (D+45), 1504, 1505
            "ACCESS-GP90": (0.5, 2, 4, 1),  # met 1501, 1502; missed 1504, 1505; 1503 out
            "ACCESS-MEDIAN-DAYS": (27.5, 2, 2, 0),  # median of 10 and 45 days
            "ACCESS-ALD-FOUND": (0.3333, 1, 3, 0),  # 1501 found; 1504 lost; 1505 waits
            "SNP-24H": (0.5, 1, 2, 0),  # 1511 met, 1512 missed
            "SNP-48H": (1.0, 1, 1, 1),  # 1513 met, 1514 withdrawn
            "GP-CAPACITY": (0.4, 2, 5, 0),  # 2 taken of 3 + 2 offered
        }
        got = {
            c: (
                values[c]["value"],
                values[c]["numerator"],
                values[c]["denominator"],
                values[c]["excluded"],
            )
            for c in expected
        }
        assert got == expected

        coordinator = token("coordinator", sub="C-1")
        escalated = await h.get("/v1/gp-access/escalations", coordinator)
        # open on D+100: 1505 (not contacted in 2 working days, past its 30-day target);
        # 1512 (SNP, nobody accepted before the deadline)
        assert [(e["request_id"], e["reasons"]) for e in escalated["escalations"]] == [
            (played["snp"][1512], ["not accepted before the deadline"]),
            (ids[1505], ["contact-overdue", "target-passed"]),
        ]

        by = await h.get("/v1/gp-access/indicators", auditor, period="2026-03")
        responses.append(json.dumps(by))
        gp30 = next(i for i in by["indicators"] if i["code"] == "ACCESS-GP30")
        assert [
            (b["by"], b["group"], b["numerator"], b["denominator"]) for b in gp30["breakdowns"]
        ] == [
            ("priority", "P1", 1, 2),  # 1501 met, 1505 missed
            ("priority", "P2", 0, 2),  # 1502 late, 1504 unreachable
            ("priority", "P3", 0, 0),  # 1503 moved away
            ("zone", "69001", 0, 2),
            ("zone", "69123", 1, 2),
        ]
        median = next(i for i in by["indicators"] if i["code"] == "ACCESS-MEDIAN-DAYS")
        assert [(b["group"], b["value"]) for b in median["breakdowns"]] == [
            ("P1", 10.0),
            ("P2", 45.0),
            ("69123", 27.5),
        ]

        cases = await h.get("/v1/indicators/ACCESS-GP30/cases", auditor, period="2026-03")
        responses.append(json.dumps(cases))
        statuses = sorted((c["status"], c["reason"], c["reason_day"]) for c in cases["cases"])
        assert statuses == [
            ("excluded", "moved-away", None),
            ("met", None, 10),
            ("missed", "declared later", 45),
            ("missed", "no GP declared", None),
            ("missed", "unreachable", None),
        ]
        detail = await h.get("/v1/indicators/ACCESS-GP90", auditor, period="2026-03")
        responses.append(json.dumps(detail))
        assert detail["exclusions"] == [{"status": "excluded", "reason": "moved-away", "cases": 1}]
        assert (detail["numerator"], detail["denominator"]) == (2, 4)

        capacity = await h.get("/v1/gp-access/capacity", auditor, period="2026-03")
        responses.append(json.dumps(capacity))
        assert [(g["gp"], g["offered"], g["used"], g["remaining"]) for g in capacity["gps"]] == [
            (GP_A, 3, 1, 2),
            (GP_B, 2, 1, 1),
        ]
        report = await h.get("/v1/reports/mission", auditor, period="2026-03")
        responses.append(json.dumps(report))
        assert {i["code"]: i["value"] for i in report["access_to_care"]}["ACCESS-GP90"] == 0.5
        csv_report = await h.get("/v1/reports/mission", auditor, period="2026-03", format="csv")
        responses.append(csv_report)
        assert "access-to-care,,,,,,,,,,ACCESS-GP30,True,0.25,1,4" in csv_report
        measure = await h.get("/v1/indicators/SNP-24H/measure-report", auditor, period="2026-03")
        responses.append(json.dumps(measure))
        for code in expected:
            responses.append(
                json.dumps(await h.get(f"/v1/indicators/{code}/cases", auditor, period="2026-03"))
            )
        responses.append(
            json.dumps(await h.get("/v1/exports/indicators", auditor, period="2026-03"))
        )

    secrets = []
    for n in [*COHORT, *SNP]:
        t = traits(n)
        secrets += [synthetic_ins(n), t["birth_name"], t["first_names"]]
        if n in COHORT:
            secrets.append(COHORT[n][1])
    secrets += [a["patient_id"] for a in played["take_answers"]]  # internal ids
    leaks = [
        (s, i) for i, text in enumerate(responses) for s in secrets if s.lower() in text.lower()
    ]
    assert leaks == [], leaks


async def test_the_list_shows_a_request_until_a_gp_takes_it_and_again_once_declined(
    virtual: Settings, token
) -> None:  # type: ignore[no-untyped-def]
    nurse, gp = bearer(token("nurse", sub=NURSE)), bearer(token("gp", sub=GP_A))
    gp_token = token("gp", sub=GP_B)
    async with (
        running(virtual) as h,
        serving(pathways_app(virtual, with_relay=False, with_scheduler=False)) as api,
    ):
        body = {"patient": traits(1520), "criteria": ["pregnancy", "ame"]}
        filed = await api.post("/v1/gp-access/requests", headers=nurse, json=body)
        assert filed.status_code == 201, filed.text
        rid = filed.json()["request_id"]

        async def listed() -> list[str]:
            await h.settle()
            found = await h.get("/v1/gp-access/waiting-list", gp_token)
            return [r["request_id"] for r in found["requests"]]

        assert rid in await listed()
        [entry] = [
            r
            for r in (await h.get("/v1/gp-access/waiting-list", gp_token))["requests"]
            if r["request_id"] == rid
        ]
        assert (entry["priority"], entry["criteria"], entry["age_band"]) == (
            "P2",
            ["precarity", "pregnancy"],
            "60-69",
        )  # 25 + 30 = 55 < 60: P2; born 1960
        taken = await api.post(f"/v1/gp-access/requests/{rid}/take", headers=gp)
        assert taken.status_code == 200, taken.text
        assert rid not in await listed()
        declined = await api.post(
            f"/v1/gp-access/requests/{rid}/decline", headers=gp, json={"reason": "no room"}
        )
        assert declined.status_code == 200, declined.text
        assert rid in await listed()
        [entry] = [
            r
            for r in (await h.get("/v1/gp-access/waiting-list", gp_token))["requests"]
            if r["request_id"] == rid
        ]
        assert (entry["priority"], entry["declined"]) == ("P2", 1)
