"""Operating the pathways service: a broken protocol file stops it, ``parcours protocols
migrate`` moves an enrolment to a new version, ``parcours clock advance`` fires timers, and
erasing a patient's identity leaves the event log intact and no longer identifying."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path

import asyncpg
import msgspec
import pytest

from parcours.cli import main as parcours
from parcours.settings import Settings
from pathways.app import PROTOCOLS_DIR, create_app
from pathways.domain import ProtocolError
from tests.integration.clock import iso
from tests.integration.conftest import bearer, serving

START = dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC)
DISCHARGE = dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return settings.replace(clock="virtual", clock_start=START)


@pytest.fixture
def environment(virtual: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI reads its settings from PARCOURS_* variables: these settings'."""
    for key, value in virtual.env().items():
        monkeypatch.setenv(key, value)
    return virtual


def discharge(ins: str, **patient: object) -> dict:
    return {
        "type": "DischargeReported",
        "patient": {"ins": ins, "oid": "1.2.250.1.213.1.4.10", **patient},
        "admitted_at": iso(DISCHARGE - dt.timedelta(days=5)),
        "discharged_at": iso(DISCHARGE),
        "diagnoses": ["I50.1"],
        "finess": "750712184",
    }


async def fetch(settings: Settings, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database.url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def test_a_broken_protocol_file_stops_the_service_with_file_path_and_reason(
    virtual: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for file in PROTOCOLS_DIR.glob("*.toml"):
        shutil.copy(file, tmp_path)
    broken = tmp_path / "copd-exacerbation.v1.toml"
    broken.write_text(
        broken.read_text().replace(
            "window = { earliest_days = 1, due_days = 60 }",
            'window = { earliest_days = 1, due_days = "sixty" }',
        )
    )
    with pytest.raises(ProtocolError) as stopped:
        create_app(virtual.replace(protocols_dir=str(tmp_path)))
    assert stopped.value.file == str(broken)
    assert stopped.value.path == "activities[1].window.due_days"
    assert "Expected `int | null`, got `str`" in stopped.value.reason

    # the same error from `parcours protocols check DIR`, with a non-zero exit
    assert parcours(["protocols", "check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}: activities[1].window.due_days: Expected" in err
    assert parcours(["protocols", "check", str(PROTOCOLS_DIR)]) == 0
    assert "5 protocol files valid" in capsys.readouterr().out


async def test_protocols_migrate_moves_an_enrolment_to_version_2(
    environment: Settings, token, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = environment
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    coordinator = bearer(token("coordinator", sub="COORD-1"))
    async with serving(create_app(settings, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post("/v1/facts", headers=hospital, json=discharge("295109912611193"))
        assert answer.status_code == 201, answer.text
        stream = answer.json()["stream"]
        gp = {
            "type": "ConsultationReported",
            "patient": {"ins": "295109912611193", "oid": "1.2.250.1.213.1.4.10"},
            "consulted_at": iso(DISCHARGE + dt.timedelta(hours=2)),  # seen the same evening
            "role": "gp",
            "rpps": "10000000002",
        }
        assert (await api.post("/v1/facts", headers=hospital, json=gp)).status_code == 201
        [row] = await fetch(
            settings, "SELECT data->>'enrolment_id' AS id FROM events WHERE stream = $1 "
            "AND type = 'PatientEnrolled'", stream
        )  # fmt: skip
        enrolment = f"/v1/enrolments/{row['id']}"
        before = (await api.get(enrolment, headers=coordinator)).json()
        assert before["version"] == 1

        code = await asyncio.to_thread(
            parcours,
            ["protocols", "migrate", "--protocol", "heart-failure-discharge", "--from", "1", "--to", "2"],
        )  # fmt: skip
        assert code == 0
        out = capsys.readouterr().out
        assert "heart-failure-discharge v1 -> v2: 1 enrolments not closed" in out
        assert "migrated" in out and " 1" in out

        after = (await api.get(enrolment, headers=coordinator)).json()
        assert after["version"] == 2
        old = {t["task_id"]: t for t in before["tasks"]}
        kept = [t for t in after["tasks"] if t["task_id"] in old]
        assert len(kept) == len(before["tasks"])  # history kept: every v1 task is still there
        status = {(t["activity"], t["occurrence"]): t["status"] for t in kept}
        assert status[("gp-consultation", 1)] == "completed"
        assert status[("blood-panel", 1)] == "requested"  # same in both versions: untouched
        assert {s for (a, _), s in status.items() if a == "nursing-visit"} == {"cancelled"}
        assert status[("cardiology-consultation", 1)] == "cancelled"
        new = [t for t in after["tasks"] if t["task_id"] not in old]
        assert sorted((t["activity"], t["occurrence"]) for t in new) == sorted(
            [("cardiology-consultation", 1), *(("nursing-visit", n) for n in range(1, 9))]
        )  # v2: weekly nursing visits for 8 weeks, cardiology D+1..D+30
        cardio = next(t for t in new if t["activity"] == "cardiology-consultation")
        assert cardio["due"].startswith("2026-04-08")

        changed = await fetch(
            settings, "SELECT data::text AS data FROM events WHERE stream = $1 "
            "AND type = 'ProtocolVersionChanged'", stream
        )  # fmt: skip
        data = msgspec.json.decode(changed[0]["data"])
        assert (data["from_version"], data["to_version"]) == ("1", "2")
        [indexed] = await fetch(
            settings, "SELECT version FROM enrolment_index WHERE enrolment_id = $1::uuid", row["id"]
        )
        assert indexed["version"] == "2"

        # nothing left to move: a second run migrates nothing
        assert await asyncio.to_thread(
            parcours,
            ["protocols", "migrate", "--protocol", "heart-failure-discharge", "--from", "1", "--to", "2"],
        ) == 0  # fmt: skip
        assert "0 enrolments not closed" in capsys.readouterr().out


async def test_clock_advance_from_the_command_line_fires_the_timers(
    environment: Settings, token, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = environment
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    admin = bearer(token("admin", sub="ADMIN-1"))
    async with serving(create_app(settings, with_relay=False, with_scheduler=False)) as api:
        answer = await api.post("/v1/facts", headers=hospital, json=discharge("289057511400662"))
        assert answer.status_code == 201, answer.text
        stream = answer.json()["stream"]
        before = (await api.get("/v1/admin/clock", headers=admin)).json()["now"]

        assert await asyncio.to_thread(parcours, ["clock", "advance", "8d"]) == 0
        [out] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("now ")]
        moved = dt.datetime.fromisoformat(before.replace("Z", "+00:00")) + dt.timedelta(days=8)
        assert out.startswith(f"now {moved.isoformat()}  timers fired ")
        assert int(out.split("timers fired ")[1]) > 0
        assert (await api.get("/v1/admin/clock", headers=admin)).json()["now"] == iso(moved)

        overdue = await fetch(
            settings, "SELECT count(*) AS n FROM events WHERE stream = $1 AND type = 'TaskOverdue'",
            stream,
        )  # fmt: skip
        assert overdue[0]["n"] == 4  # blood panel, GP, nursing visits 1 and 2 (due by D+7)

        assert await asyncio.to_thread(parcours, ["clock", "show"]) == 0
        assert f"{moved.isoformat()}  (virtual clock; 0 timers due" in capsys.readouterr().out
        assert await asyncio.to_thread(parcours, ["clock", "advance", "soon"]) == 2


async def test_erasing_an_identity_leaves_events_that_no_longer_identify(
    virtual: Settings, token
) -> None:
    ins, oid = "288077511400844", "1.2.250.1.213.1.4.10"
    traits = {"birth_name": "QUENTINET", "first_names": "Zelie", "birth_date": "1961-04-17"}
    hospital = bearer(token("discharge-system", sub="CHU-1"))
    admin = bearer(token("admin", sub="ADMIN-1"))
    async with serving(create_app(virtual, with_relay=False, with_scheduler=False)) as api:
        first = await api.post("/v1/facts", headers=hospital, json=discharge(ins, **traits))
        assert first.status_code == 201, first.text
        stream = first.json()["stream"]
        kept = len(await fetch(virtual, "SELECT 1 FROM events WHERE stream = $1", stream))

        refused = await api.request(
            "DELETE", "/v1/patients/identity", headers=hospital, json={"ins": ins, "oid": oid}
        )
        assert refused.status_code == 403
        erased = await api.request(
            "DELETE", "/v1/patients/identity", headers=admin, json={"ins": ins, "oid": oid}
        )
        assert erased.status_code == 200, erased.text
        assert erased.json()["stream"] == stream and erased.json()["events_kept"] == kept

        # no table holds the INS or a trait any more; the events are all there
        tables = await fetch(
            virtual,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        for table in [t["table_name"] for t in tables]:
            for secret in (ins, "QUENTINET", "Zelie", "1961-04-17"):
                rows = await fetch(
                    virtual, f'SELECT 1 FROM "{table}" t WHERE t::text LIKE $1', f"%{secret}%"
                )
                assert not rows, f"{table} still holds an identity trait"
        assert len(await fetch(virtual, "SELECT 1 FROM events WHERE stream = $1", stream)) == kept

        again = await api.request(
            "DELETE", "/v1/patients/identity", headers=admin, json={"ins": ins, "oid": oid}
        )
        assert again.status_code == 404

        # expected consequence of erasure: the same INS is a new patient, with a new stream
        later = await api.post("/v1/facts", headers=hospital, json=discharge(ins))
        assert later.status_code == 201
        assert later.json()["stream"] != stream
