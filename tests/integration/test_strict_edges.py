"""Strict edges (issue 11): every identifier is ASCII with its exact shape, every value is
bounded, and what a careless or hostile client sends is a 4xx problem naming the field —
never a 500, never a second patient, never the value echoed back."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
import pytest

from contracts.identity import INS_TEST_OID, synthetic_ins
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.conftest import bearer, serving

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
NAME = "ZORGLUB-EDGECASE"


def patient(ins: str, **traits: Any) -> dict[str, Any]:
    return {"ins": ins, "oid": INS_TEST_OID, "birth_name": NAME, "sex": "F", **traits}


def discharge(ins: str, **over: Any) -> dict[str, Any]:
    body = {
        "type": "DischargeReported",
        "patient": patient(ins),
        "admitted_at": "2026-03-01T09:00:00Z",
        "discharged_at": "2026-03-08T14:00:00Z",
        "diagnoses": ["I50.1"],
        "finess": "750712184",
    }
    body.update(over)
    return body


def refused(r: Any, status: int, field: str | None, *sent: str) -> dict[str, Any]:
    """A problem+json answer with ``status`` naming ``field``, echoing none of ``sent``."""
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    for value in (*sent, NAME):
        assert value not in r.text, f"the answer echoes a sent value: {r.text[:300]}"
    body = r.json()
    assert body["status"] == status and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


async def identities(settings: Any, *ins: str) -> int:
    """Patients recorded under any of these INS (read on a connection of the test's loop)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM patient_identities WHERE ins = ANY($1::text[])", list(ins)
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def hospital(token) -> dict[str, str]:
    return bearer(token("discharge-system", sub="CHU-EDGES"))


# --------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize("digits", [FULLWIDTH, ARABIC_INDIC], ids=["fullwidth", "arabic-indic"])
async def test_an_ins_in_non_ascii_digits_is_refused_and_creates_no_second_patient(
    settings, hospital, digits
):
    ascii_ins = synthetic_ins(91_001)
    lookalike = ascii_ins[0] + ascii_ins[1:].translate(digits)  # passes the old [12378]\d{14}
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        first = await api.post("/v1/facts", json=discharge(ascii_ins), headers=hospital)
        assert first.status_code in (200, 201), first.text
        r = await api.post("/v1/facts", json=discharge(lookalike), headers=hospital)
        refused(r, 422, "patient.ins", lookalike, ascii_ins)
    count = await identities(settings, ascii_ins, lookalike)
    assert count == 1  # the lookalike made no second patient


@pytest.mark.parametrize(
    ("label", "over", "field"),
    [
        ("care team RPPS", {"care_team": [{"role": "gp", "rpps": "10000000001".translate(ARABIC_INDIC)}]}, "care_team[0].rpps"),  # noqa: E501
        ("care team role", {"care_team": [{"role": "Dr. Martin", "rpps": "10000000001"}]}, "care_team[0].role"),  # noqa: E501
        ("FINESS", {"finess": "750712184".translate(FULLWIDTH)}, "finess"),
        ("ICD-10", {"diagnoses": ["I50.1".translate(ARABIC_INDIC)]}, "diagnoses[0]"),
        ("RPPS with a line break", {"care_team": [{"role": "gp", "rpps": "10000000001\n"}]}, "care_team[0].rpps"),  # noqa: E501
    ],
)  # fmt: skip
async def test_identifiers_have_their_exact_ascii_shape(settings, hospital, label, over, field):
    body = discharge(synthetic_ins(91_100 + len(label)), **over)
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        r = await api.post("/v1/facts", json=body, headers=hospital)
    refused(r, 422, field, *_values(over))


def _values(node: Any) -> list[str]:
    """The string values of a JSON-like body (what must not be echoed)."""
    if isinstance(node, dict):
        return [v for x in node.values() for v in _values(x)]
    if isinstance(node, list):
        return [v for x in node for v in _values(x)]
    return [node] if isinstance(node, str) and len(node) > 3 else []


# --------------------------------------------------------------------------- values and dates


def _fact(kind: str, ins: str) -> tuple[dict[str, Any], str]:
    """A fact that a careless or hostile sender could send, and the field at fault."""
    year_one = {"admitted_at": "0001-01-01T09:00:00Z", "discharged_at": "0001-01-08T14:00:00Z"}
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "instant as a number": (discharge(ins, admitted_at=12345), "admitted_at"),
        "NYHA 10^30": (discharge(ins, nyha_class=10**30), "nyha_class"),
        "NYHA 5": (discharge(ins, nyha_class=5), "nyha_class"),
        "discharge in year 1": (discharge(ins, **year_one), "admitted_at"),
        "born 9999-12-31": (
            discharge(ins, patient=patient(ins, birth_date="9999-12-31")),
            "patient.birth_date",
        ),
        "born 1899": (
            discharge(ins, patient=patient(ins, birth_date="1899-12-31")),
            "patient.birth_date",
        ),
        "500 KB birth name": (
            discharge(ins, patient=patient(ins, birth_name="A" * 500_000)),
            "patient.birth_name",
        ),
        "NUL in first names": (
            discharge(ins, patient=patient(ins, first_names="Marie\x00Josèphe")),
            "patient.first_names",
        ),
        "900 KB notes": (
            {"type": "ConsultationReported", "patient": patient(ins), "role": "gp",
             "rpps": "10000000001", "consulted_at": "2026-03-09T10:00:00Z",
             "notes": "n" * 900_000},
            "notes",
        ),
        "more readings above target than readings": (
            {"type": "SelfMonitoringReported", "patient": patient(ins),
             "period_start": "2026-03-01", "period_end": "2026-03-07",
             "readings": 28, "above_target": 29},
            "above_target",
        ),
        "weight of a tonne": (
            {"type": "NursingVisitReported", "patient": patient(ins), "rpps": "10000000001",
             "visited_at": "2026-03-09T10:00:00Z", "weight_kg": 1000.0},
            "weight_kg",
        ),
        "fasting glucose 1e9 g/L": (
            {"type": "GlucoseToleranceTestReported", "patient": patient(ins),
             "tested_at": "2026-03-09T10:00:00Z", "fasting_g_l": 1e9},
            "fasting_g_l",
        ),
    }  # fmt: skip
    return cases[kind]


KINDS = [
    "instant as a number",
    "NYHA 10^30",
    "NYHA 5",
    "discharge in year 1",
    "born 9999-12-31",
    "born 1899",
    "500 KB birth name",
    "NUL in first names",
    "900 KB notes",
    "more readings above target than readings",
    "weight of a tonne",
    "fasting glucose 1e9 g/L",
]


@pytest.mark.parametrize("kind", KINDS)
async def test_implausible_values_are_a_422_on_post_facts(settings, hospital, kind):
    ins = synthetic_ins(91_200 + KINDS.index(kind))
    body, field = _fact(kind, ins)
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        r = await api.post("/v1/facts", json=body, headers=hospital)
        refused(r, 422, field, ins)
    assert await identities(settings, ins) == 0


async def test_a_batch_answers_the_same_422_per_item(settings, hospital):
    kinds = [k for k in KINDS if "KB" not in k]
    items = [_fact(k, synthetic_ins(91_300 + i))[0] for i, k in enumerate(kinds)]
    fine = discharge(synthetic_ins(91_399))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        r = await api.post("/v1/facts:batch", json=[*items, fine], headers=hospital)
    assert r.status_code == 200, r.text[:500]
    results = r.json()["results"]
    assert [x["status"] for x in results] == [422] * len(kinds) + [201], results
    for kind, result in zip(kinds, results, strict=False):
        assert result["problem"]["field"] == _fact(kind, "")[1], (kind, result)
    assert NAME not in r.text


# --------------------------------------------------------------------------- nesting


def _nested(depth: int) -> bytes:
    return b'{"type": "DeathReported", "patient": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("route", "content_type", "body"),
    [
        ("/v1/facts", "application/json", _nested(100_000)),
        ("/v1/facts", "application/json", b"[" * 100_000 + b"]" * 100_000),
        ("/v1/facts", "application/json", _nested(33)),
        ("/v1/facts:batch", "application/json", b"[" + _nested(100_000) + b"]"),
        ("/v1/facts:batch", "application/x-ndjson", _nested(100_000) + b"\n"),
        ("/v1/enrolments", "application/json", b"[" * 100_000 + b"]" * 100_000),
    ],
    ids=["facts", "facts-array", "facts-33", "batch", "batch-ndjson", "enrolments"],
)
async def test_deeply_nested_json_is_a_400(settings, token, route, content_type, body):
    who = bearer(token("coordinator", sub="COORD-DEEP"))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        r = await api.post(route, content=body, headers={**who, "content-type": content_type})
        refused(r, 400, None)
        assert r.json()["title"] == "Nesting too deep", r.json()
        # a fact nested as deep as facts are is decoded as usual (a 422 on the wrong shape)
        shallow = await api.post(
            "/v1/facts", content=_nested(3), headers={**who, "content-type": content_type}
        )
        assert shallow.status_code == 422, shallow.text


# --------------------------------------------------------------------------- commands, clock


async def test_a_reassignment_to_free_text_is_refused(settings, token):
    coordinator = bearer(token("coordinator", sub="COORD-EDGE"))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        for assignee in ("Dr. Martin (remplaçant)", "10000000001".translate(ARABIC_INDIC)):
            r = await api.post(
                f"/v1/tasks/{uuid.uuid4()}/reassign",
                json={"assignee": assignee},
                headers=coordinator,
            )
            refused(r, 422, "assignee", assignee)


async def test_a_clock_advance_beyond_a_century_is_a_422(settings, token):
    virtual = msgspec.structs.replace(settings, clock="virtual")
    admin = bearer(token("admin", sub="ADMIN-EDGE"))
    async with serving(pathways_app(virtual, with_relay=False, with_scheduler=True)) as api:
        for by in ("99999999999d", "40000d"):
            r = await api.post("/v1/admin/clock/advance", json={"by": by}, headers=admin)
            refused(r, 422, "by")
        r = await api.post("/v1/admin/clock/advance", json={"to": "9999-12-31T00:00:00Z"},
                           headers=admin)  # fmt: skip
        refused(r, 422, "to")


# --------------------------------------------------------------------------- periods, as_of

BAD_PERIODS = ["9999", "9999-12", "9999-Q4", "0000", "0001-01", "２０２６"]
BAD_INSTANTS = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "2026-04-01T00:00:00",
]


async def test_periods_and_as_of_outside_the_calendar_are_a_422(settings, token):
    auditor = bearer(token("auditor", sub="AUDIT-EDGE"))
    coordinator = bearer(token("coordinator", sub="COORD-EDGE"))
    nurse = bearer(token("nurse", sub="10000000009"))
    period_routes = [
        "/v1/indicators?protocol=heart-failure-discharge&period={}",
        "/v1/indicators/HF-GP7?period={}",
        "/v1/indicators/HF-GP7/cases?period={}",
        "/v1/indicators/HF-GP7/measure-report?period={}",
        "/v1/reports/mission?period={}",
        "/v1/exports/indicators?period={}",
    ]
    as_of_routes = [
        (auditor, "/v1/indicators?protocol=heart-failure-discharge&period=2026-Q1&as_of={}"),
        (coordinator, f"/v1/patients/{uuid.uuid4()}/timeline?as_of={{}}"),
        (nurse, "/v1/worklists/me?as_of={}"),
        (coordinator, "/v1/worklists/coordinator?as_of={}"),
    ]
    async with serving(projections_app(settings)) as api:
        for route in period_routes:
            for period in BAD_PERIODS:
                r = await api.get(route.format(period), headers=auditor)
                refused(r, 422, "period")
        for who, route in as_of_routes:
            for instant in BAD_INSTANTS:
                r = await api.get(route.format(instant.replace("+", "%2B")), headers=who)
                refused(r, 422, "as_of")


async def test_an_enrolment_anchored_in_year_1_or_9999_is_a_422(settings, token):
    coordinator = bearer(token("coordinator", sub="COORD-ANCHOR"))
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        for n, anchor in enumerate(("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z")):
            ins = synthetic_ins(91_500 + n)
            r = await api.post(
                "/v1/enrolments",
                json={"patient": patient(ins), "protocol": "heart-failure-discharge",
                      "anchor_at": anchor},
                headers=coordinator,
            )  # fmt: skip
            refused(r, 422, "anchor_at", ins)


async def test_traits_with_hostile_characters_are_stored_exactly_through_both_write_paths(
    settings, hospital
):
    """Traits go to PostgreSQL as a text array (no JSON text parsed by the server): quotes,
    backslashes, JSON escapes and line breaks come back exactly as sent, new and updated."""
    odd = {"birth_name": 'O\'Brien "\\u0041" \\ \n', "sex": "F", "birth_date": "1950-02-03"}
    more = {"first_names": "Zoé\u202e}{", "birthplace": '["x"]', "commune": "2A004"}
    single, bulk = synthetic_ins(91_600), synthetic_ins(91_601)
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:
        for ins in (single, bulk):
            first = discharge(ins, patient={"ins": ins, "oid": INS_TEST_OID, **odd})
            later = discharge(ins, patient={"ins": ins, "oid": INS_TEST_OID, **more},
                              discharged_at="2026-03-09T14:00:00Z")  # fmt: skip
            if ins == single:
                for body in (first, later):
                    r = await api.post("/v1/facts", json=body, headers=hospital)
                    assert r.status_code == 201, r.text
            else:
                for body in (first, later):  # a new patient, then a known one
                    r = await api.post("/v1/facts:batch", json=[body], headers=hospital)
                    assert r.json()["results"][0]["status"] == 201, r.text
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT ins, traits::text AS traits, commune FROM patient_identities"
            " WHERE ins = ANY($1::text[])",
            [single, bulk],
        )
    finally:
        await conn.close()
    assert len(rows) == 2
    for row in rows:
        assert msgspec.json.decode(row["traits"]) == {**odd, **more}, row["ins"]
        assert row["commune"] == "2A004"
