"""Bad input, by hand: each mistake a sender can make gets the status it deserves, a
problem+json body that names the field (or the reason), and no patient identity echoed.

Every answer of this module goes through ``answered``, which checks that its body never
contains an INS or a name that was sent, successes included.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from contracts.identity import INS_TEST_OID, ins_key, synthetic_ins
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.conftest import bearer, eventually, serving

NAMES = ("LEGRAND-ABADIE", "Marie-Josèphe", "Ajaccio")
SENT_INS: set[str] = set()  # every INS this module sends, valid or not

CORSICA_2A = "2850" + "52A" + "123456"  # 13 characters, 2A in the departement position
CORSICA_2B = "1920" + "22B" + "004017"


def ins(number13: str, key_offset: int = 0) -> str:
    """``number13`` and its key; ``key_offset`` != 0 gives a wrong key."""
    key = (int(ins_key(number13)) + key_offset - 1) % 97 + 1
    value = f"{number13}{key:02d}"
    SENT_INS.add(value)
    return value


def patient(value: str) -> dict[str, Any]:
    SENT_INS.add(value)
    return {
        "ins": value,
        "oid": INS_TEST_OID,
        "birth_name": NAMES[0],
        "first_names": NAMES[1],
        "birthplace": NAMES[2],
        "sex": "F",
        "birth_date": "1948-02-29",
    }


def discharge(value: str, **over: Any) -> dict[str, Any]:
    body = {
        "type": "DischargeReported",
        "patient": patient(value),
        "admitted_at": "2026-03-01T09:00:00Z",
        "discharged_at": "2026-03-08T14:00:00Z",
        "diagnoses": ["I50.1"],
        "finess": "750712184",
    }
    body.update(over)
    return body


def answered(r: Any, status: int, field: str | None = None, reason: str | None = None) -> dict:
    """Check one answer; return its JSON body."""
    for secret in (*SENT_INS, *NAMES):
        assert secret not in r.text, f"the answer echoes patient identity: {r.text[:300]}"
    assert r.status_code == status, r.text
    body = r.json()
    if status >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        assert body["status"] == status and body["detail"], body
        if field is not None:
            assert body.get("field") == field, body
        if reason is not None:
            assert reason in body["detail"], body
    return body


@pytest.fixture(scope="module")
def hospital(token) -> dict[str, str]:
    return bearer(token("discharge-system", sub="CHU-BAD-1"))


# --------------------------------------------------------------------------- INS


@pytest.mark.parametrize(
    ("label", "value", "reason"),
    [
        ("wrong key", ins("2851099126111", key_offset=1), "key"),
        ("2A with a wrong key", ins(CORSICA_2A, key_offset=5), "key"),
        ("2B with a wrong key", ins(CORSICA_2B, key_offset=-1), "key"),
        # the key of 2A computed as if 2A were 20 (not 19): a classic sender bug
        ("2A keyed as 20", CORSICA_2A + ins_key(CORSICA_2A.replace("2A", "20")), "key"),
        ("2C is no departement", "185052C123456" + "01", "digits"),
        ("14 characters", "28510991261119", "15 characters"),
        ("letters", "2851099126111AB", "digits"),
    ],
)
async def test_an_invalid_ins_is_a_422_naming_patient_ins(settings, hospital, label, value, reason):
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        r = await client.post("/v1/facts", json=discharge(value), headers=hospital)
    answered(r, 422, "patient.ins", reason)


async def test_valid_corsican_ins_are_accepted(settings, hospital):
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        for number in (CORSICA_2A, CORSICA_2B):
            r = await client.post("/v1/facts", json=discharge(ins(number)), headers=hospital)
            answered(r, 201)


async def test_an_invalid_ins_on_an_enrolment_is_a_422(settings, token):
    coordinator = bearer(token("coordinator", sub="COORD-A"))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        r = await client.post(
            "/v1/enrolments",
            json={
                "patient": patient(ins(CORSICA_2B, key_offset=3)),
                "protocol": "heart-failure-discharge",
                "anchor_at": "2026-03-08T14:00:00Z",
            },
            headers=coordinator,
        )
    answered(r, 422, "patient.ins", "key")


# --------------------------------------------------------------------------- protocols


async def test_enrolling_in_an_unknown_protocol_is_a_422_naming_protocol(settings, token):
    coordinator = bearer(token("coordinator", sub="COORD-A"))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        r = await client.post(
            "/v1/enrolments",
            json={
                "patient": patient(synthetic_ins(7001)),
                "protocol": "teleportation-follow-up",
                "anchor_at": "2026-03-08T14:00:00Z",
            },
            headers=coordinator,
        )
        answered(r, 422, "protocol")
        r = await client.get("/v1/protocols/teleportation-follow-up/1", headers=coordinator)
        answered(r, 404)


# --------------------------------------------------------------------------- dates


async def test_a_discharge_before_its_admission_is_a_422_naming_discharged_at(settings, hospital):
    body = discharge(synthetic_ins(7002), discharged_at="2026-02-27T14:00:00Z")
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        r = await client.post("/v1/facts", json=body, headers=hospital)
    answered(r, 422, "discharged_at", "before `admitted_at`")


@pytest.mark.parametrize(
    ("fact", "field"),
    [
        ("discharge in a month", "discharged_at"),
        ("lab result in 2100", "collected_at"),
        ("death tomorrow evening", "died_at"),
        ("self-monitoring period ending next week", "period_end"),
    ],
)
async def test_a_fact_dated_more_than_a_day_ahead_of_the_clock_is_a_422(
    settings, token, hospital, fact, field
):
    admin = bearer(token("admin"))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        now = dt.datetime.fromisoformat(
            (await client.get("/v1/admin/clock", headers=admin)).json()["now"]
        )
        someone = patient(synthetic_ins(7100 + len(fact)))
        if fact == "discharge in a month":
            body = discharge(
                someone["ins"],
                admitted_at=(now - dt.timedelta(days=2)).isoformat(),
                discharged_at=(now + dt.timedelta(days=30)).isoformat(),
            )
        elif fact == "lab result in 2100":
            body = {"type": "LabResultReported", "patient": someone,
                    "collected_at": "2100-01-01T08:00:00Z", "loinc": "2160-0",
                    "value": 82.0, "unit": "umol/L"}  # fmt: skip
        elif fact == "death tomorrow evening":
            body = {"type": "DeathReported", "patient": someone,
                    "died_at": (now + dt.timedelta(hours=36)).isoformat()}  # fmt: skip
        else:
            body = {"type": "SelfMonitoringReported", "patient": someone,
                    "period_start": (now - dt.timedelta(days=7)).date().isoformat(),
                    "period_end": (now + dt.timedelta(days=7)).date().isoformat(),
                    "readings": 28, "above_target": 3}  # fmt: skip
        r = await client.post("/v1/facts", json=body, headers=hospital)
        answered(r, 422, field, "after the current time")

        # within the tolerance (a sender's clock a few hours ahead) it is accepted
        soon = {"type": "DeathReported", "patient": someone,
                "died_at": (now + dt.timedelta(hours=3)).isoformat()}  # fmt: skip
        answered(await client.post("/v1/facts", json=soon, headers=hospital), 201)


# --------------------------------------------------------------------------- duplicates


async def test_a_reused_event_id_with_other_content_is_a_409(settings, hospital):
    event_id = str(uuid.uuid4())
    value = synthetic_ins(7003)
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        first = await client.post("/v1/facts", json=discharge(value, event_id=event_id),
                                  headers=hospital)  # fmt: skip
        answered(first, 201)
        same = await client.post("/v1/facts", json=discharge(value, event_id=event_id),
                                 headers=hospital)  # fmt: skip
        assert answered(same, 200)["position"] == first.json()["position"]
        other = discharge(value, event_id=event_id, discharged_at="2026-03-09T10:00:00Z")
        answered(await client.post("/v1/facts", json=other, headers=hospital), 409, reason=event_id)
        # the same id for another patient, another fact type: a conflict too
        lab = {"type": "LabResultReported", "patient": patient(synthetic_ins(7004)),
               "event_id": event_id, "collected_at": "2026-03-08T08:00:00Z",
               "loinc": "2160-0", "value": 82.0, "unit": "umol/L"}  # fmt: skip
        answered(await client.post("/v1/facts", json=lab, headers=hospital), 409)


# --------------------------------------------------------------------------- tenants


async def test_another_cpts_sees_nothing_of_a_patient_and_cannot_act_on_their_tasks(
    settings: Settings, token
):
    coordinator_a = bearer(token("coordinator", sub="COORD-A", cpts="cpts-a"))
    coordinator_b = bearer(token("coordinator", sub="COORD-B", cpts="cpts-b"))
    nurse_b = bearer(token("nurse", sub="10000000002", cpts="cpts-b"))
    hospital_a = bearer(token("discharge-system", sub="CHU-A", cpts="cpts-a"))
    async with (
        serving(pathways_app(settings)) as pathways,
        serving(projections_app(settings)) as projections,
    ):
        value = synthetic_ins(7005)
        # two days ago on the wall clock: the pathway stays open while the test reads it
        # (a fixed date months back let the scheduler close it between two reads)
        day = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
        lab = {"type": "LabResultReported", "patient": patient(value),
               "collected_at": day.replace(hour=8, minute=0).isoformat(), "loinc": "2160-0",
               "value": 82.0, "unit": "umol/L"}  # fmt: skip
        posted = await pathways.post("/v1/facts", json=lab, headers=hospital_a)
        patient_id = answered(posted, 201)["stream"].removeprefix("patient-")
        enrolled = await pathways.post(
            "/v1/enrolments",
            json={"patient": patient(value), "protocol": "heart-failure-discharge",
                  "anchor_at": day.replace(hour=14, minute=0).isoformat()},
            headers=coordinator_a,
        )  # fmt: skip
        enrolment_id = answered(enrolled, 201)["enrolment_id"]

        async def enrolment_of_a() -> Any:
            r = await pathways.get(f"/v1/enrolments/{enrolment_id}", headers=coordinator_a)
            return r if r.status_code == 200 else None

        view = answered(await eventually(enrolment_of_a), 200)
        task_id = view["tasks"][0]["task_id"]

        async def timeline_of_a() -> Any:
            r = await projections.get(f"/v1/patients/{patient_id}/timeline", headers=coordinator_a)
            return r if r.status_code == 200 and r.json().get("entries") else None

        answered(await eventually(timeline_of_a), 200)  # the read model has the patient

        # the timeline answers any unknown patient with an empty one (200): nothing of A shows,
        # and B cannot tell a patient of A from an id that does not exist
        foreign = await projections.get(
            f"/v1/patients/{patient_id}/timeline", headers=coordinator_b
        )
        assert foreign.status_code in (200, 403, 404), foreign.text
        if foreign.status_code == 200:
            assert answered(foreign, 200)["entries"] == []
        refusals = [
            await pathways.get(f"/v1/enrolments/{enrolment_id}", headers=coordinator_b),
            await pathways.post(f"/v1/tasks/{task_id}/accept", headers=nurse_b),
            await pathways.post(
                f"/v1/tasks/{task_id}/cancel", json={"reason": "test"}, headers=coordinator_b
            ),  # fmt: skip
        ]
        for r in refusals:
            assert r.status_code in (403, 404), r.text
            body = answered(r, r.status_code)
            assert not {"tasks", "entries", "protocol", "status_history"} & body.keys(), body
        listed = await projections.get("/v1/enrolments", headers=coordinator_b)
        assert listed.status_code == 200 and str(enrolment_id) not in listed.text
        assert patient_id not in listed.text
        # and CPTS A's task is untouched
        still = await pathways.get(f"/v1/enrolments/{enrolment_id}", headers=coordinator_a)
        assert answered(still, 200)["tasks"][0]["status"] == view["tasks"][0]["status"]


# --------------------------------------------------------------------------- tokens, sizes


async def test_an_expired_token_is_a_401_on_every_service(settings, token):
    expired = bearer(token("coordinator", ttl_seconds=-30))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        r = await client.post("/v1/facts", json=discharge(synthetic_ins(7006)), headers=expired)
        answered(r, 401, reason="expired")
        assert r.headers["www-authenticate"].startswith("Bearer")
        answered(await client.get("/v1/protocols", headers=expired), 401, reason="expired")


async def test_an_oversized_body_is_a_413(settings, hospital):
    body = discharge(
        synthetic_ins(7007), care_team=[{"role": "gp", "rpps": "10000000001"}] * 40_000
    )
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as client:
        r = await client.post("/v1/facts", content=json.dumps(body).encode(),
                              headers={**hospital, "content-type": "application/json"})  # fmt: skip
    answered(r, 413)


# --------------------------------------------------------------------------- batches


def _has_batch_route(app: Any) -> bool:
    return any(getattr(r, "path", "") == "/v1/facts:batch" for r in app.routes)


async def test_a_batch_over_the_item_limit_is_a_413(settings, hospital):
    app = pathways_app(settings, with_relay=False, with_scheduler=False)
    if not _has_batch_route(app):
        pytest.skip("POST /v1/facts:batch is not there yet")
    one = json.dumps(discharge(synthetic_ins(7008))).encode()
    ndjson = b"\n".join([one] * 10_001)
    async with serving(app) as client:
        r = await client.post("/v1/facts:batch", content=ndjson,
                              headers={**hospital, "content-type": "application/x-ndjson"})  # fmt: skip
    body = answered(r, 413)
    assert body.get("max_items") == 10_000


async def test_ndjson_with_a_broken_line_fails_that_line_only(settings, hospital):
    app = pathways_app(settings, with_relay=False, with_scheduler=False)
    if not _has_batch_route(app):
        pytest.skip("POST /v1/facts:batch is not there yet")
    lines = [
        json.dumps(discharge(synthetic_ins(7010))).encode(),
        b'{"type": "DischargeReported", "patient": {"ins": "' + synthetic_ins(7011).encode(),
        json.dumps(discharge(ins(CORSICA_2A, key_offset=2))).encode(),
        json.dumps(discharge(synthetic_ins(7012), discharged_at="2026-02-01T00:00:00Z")).encode(),
        json.dumps(discharge(synthetic_ins(7013))).encode(),
    ]
    SENT_INS.update({synthetic_ins(7011)})
    async with serving(app) as client:
        r = await client.post("/v1/facts:batch", content=b"\n".join(lines),
                              headers={**hospital, "content-type": "application/x-ndjson"})  # fmt: skip
    results = answered(r, 200)["results"]
    assert [x["status"] for x in results[:3]] == [201, 422, 422], results
    assert results[4]["status"] == 201, results
    broken = results[1]["problem"]
    assert broken["detail"] and results[1].get("line", broken.get("line")) == 2, results[1]
    assert results[2]["problem"]["field"].endswith("patient.ins"), results[2]


async def test_a_batch_refuses_implausible_dates_as_post_facts_does(settings, hospital):
    """The checks of ``pathways.fact_checks`` apply to every item of a batch."""
    app = pathways_app(settings, with_relay=False, with_scheduler=False)
    if not _has_batch_route(app):
        pytest.skip("POST /v1/facts:batch is not there yet")
    items = [
        discharge(synthetic_ins(7020)),
        discharge(synthetic_ins(7021), discharged_at="2026-02-01T00:00:00Z"),
        {"type": "LabResultReported", "patient": patient(synthetic_ins(7022)),
         "collected_at": "2100-01-01T08:00:00Z", "loinc": "2160-0", "value": 82.0,
         "unit": "umol/L"},
    ]  # fmt: skip
    async with serving(app) as client:
        r = await client.post("/v1/facts:batch", json=items, headers=hospital)
    results = answered(r, 200)["results"]
    assert [x["status"] for x in results] == [201, 422, 422], results
    assert results[1]["problem"]["field"].endswith("discharged_at"), results[1]
    assert results[2]["problem"]["field"].endswith("collected_at"), results[2]
