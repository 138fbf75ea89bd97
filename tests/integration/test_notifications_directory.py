"""The professional directory: coordinators manage their CPTS's professionals over HTTP;
every mistake is a problem+json answer that says where."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from notifications.app import create_app
from parcours.settings import Settings
from tests.integration.conftest import bearer, serving

NURSE = "10000000011"


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[Any]:
    async with serving(create_app(settings)) as client:
        yield client


@pytest.fixture
def coordinator(token: Any) -> dict[str, str]:
    return bearer(token("coordinator", sub="COORD-1"))


async def test_a_coordinator_adds_lists_and_changes_professionals(
    http: Any, coordinator: dict
) -> None:
    added = await http.post(
        "/v1/directory/professionals",
        json={"rpps": NURSE, "role": "nurse", "zones": ["Rouen Nord", "Z2"]},
        headers=coordinator,
    )
    assert added.status_code == 201, added.text
    assert added.json() == {
        "cpts": "demo",
        "rpps": NURSE,
        "role": "nurse",
        "specialty": None,
        "zones": ["Rouen-Nord", "Z2"],
        "active": True,
    }
    changed = await http.patch(
        f"/v1/directory/professionals/{NURSE}",
        json={"active": False, "zones": ["Z3"]},
        headers=coordinator,
    )
    assert changed.status_code == 200 and changed.json()["zones"] == ["Z3"]
    one = await http.get(f"/v1/directory/professionals/{NURSE}", headers=coordinator)
    assert one.json()["active"] is False
    listed = await http.get(
        "/v1/directory/professionals?role=nurse&active=false", headers=coordinator
    )
    assert [p["rpps"] for p in listed.json()["professionals"]] == [NURSE]


async def test_another_cpts_sees_nothing_of_this_directory(http: Any, token: Any) -> None:
    other = bearer(token("coordinator", sub="COORD-9", cpts="other"))
    listed = await http.get("/v1/directory/professionals", headers=other)
    assert listed.status_code == 200 and listed.json()["professionals"] == []
    missing = await http.get(f"/v1/directory/professionals/{NURSE}", headers=other)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("case", "status", "field"),
    [
        ("duplicate", 409, "rpps"),
        ("bad rpps", 422, "rpps"),
        ("unknown role", 422, "role"),
        ("bad zone", 422, "zones[0]"),
        ("unknown field", 422, "colour"),
        ("nurse manages", 403, None),
    ],
)
async def test_directory_mistakes_get_problem_details(
    http: Any, coordinator: dict, token: Any, case: str, status: int, field: str | None
) -> None:
    body: dict[str, Any] = {"rpps": "10000000012", "role": "nurse", "zones": ["Z1"]}
    headers = coordinator
    if case == "duplicate":
        await http.post("/v1/directory/professionals", json=body, headers=coordinator)
    elif case == "bad rpps":
        body["rpps"] = "12AB"
    elif case == "unknown role":
        body["role"] = "wizard"
    elif case == "bad zone":
        body["zones"] = ["..."]
    elif case == "unknown field":
        body["colour"] = "blue"
    elif case == "nurse manages":
        headers = bearer(token("nurse", sub=NURSE))
    answer = await http.post("/v1/directory/professionals", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field:
        assert answer.json()["field"] == field


async def test_the_cpts_sector_names_the_pool_of_tasks_without_a_zone(
    http: Any, coordinator: dict
) -> None:
    answer = await http.put(
        "/v1/directory/sector", json={"default_zone": "Pays de Caux"}, headers=coordinator
    )
    assert answer.status_code == 200 and answer.json() == {"default_zone": "Pays-de-Caux"}
