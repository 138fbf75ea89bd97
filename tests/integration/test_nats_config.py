"""``parcours notifications nats-config`` renders a configuration the real ``nats-server``
accepts (``-t``) when one professional belongs to several CPTS, and a directory row with
a malformed RPPS neither enters the directory through its API nor stops the rendering."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from contracts.subjects import Subjects
from notifications import natsauth
from notifications.app import create_app as notifications_app
from parcours.devstack.nats import _nats_server_bin
from parcours.settings import Settings
from tests.integration.conftest import bearer, serving

RPPS = "10000000077"  # a nurse in two CPTS
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def accepted_by_nats_server(config: Path) -> subprocess.CompletedProcess[str]:
    """``nats-server -t``: parse and check the configuration, start nothing."""
    return subprocess.run(
        [str(_nats_server_bin()), "-t", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def nats_config(settings: Settings, out: Path, passwords: Path) -> subprocess.CompletedProcess[str]:
    """``parcours notifications nats-config``, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "parcours.cli", "notifications", "nats-config",
         "--out", str(out), "--passwords", str(passwords)],
        env={**os.environ, **settings.env()},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_one_rpps_in_two_cpts_renders_a_configuration_nats_server_accepts(
    tmp_path: Path,
) -> None:
    subjects = Subjects("parcours")
    users = [
        natsauth.professional(
            subjects, cpts=cpts, role="nurse", rpps=RPPS, zones=["Z1"], password=f"pw-{cpts}"
        )
        for cpts in ("cpts-a", "cpts-b")
    ]
    assert len({u.user for u in users}) == 2
    config = tmp_path / "users.conf"
    config.write_text(natsauth.render(users))
    checked = accepted_by_nats_server(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_the_directory_refuses_a_malformed_rpps_and_nats_config_skips_an_old_one(
    settings: Settings, token: Any, tmp_path: Path
) -> None:
    coordinators = {c: bearer(token("coordinator", sub=f"COORD-{c}", cpts=c)) for c in ("na", "nb")}
    async with serving(notifications_app(settings)) as api:
        for who in coordinators.values():
            r = await api.post(
                "/v1/directory/professionals",
                json={"rpps": RPPS, "role": "nurse", "zones": ["Z1"]},
                headers=who,
            )
            assert r.status_code == 201, r.text
        lookalike = RPPS.translate(ARABIC_INDIC)
        r = await api.post(
            "/v1/directory/professionals",
            json={"rpps": lookalike, "role": "nurse"},
            headers=coordinators["na"],
        )
        assert r.status_code == 422 and r.json()["field"] == "rpps", r.text
        assert lookalike not in r.text
        r = await api.post(
            "/v1/directory/professionals",
            json={
                "rpps": "10000000078",
                "role": "nurse",
                "zones": [f"Z{n}" for n in range(100_000)],
            },
            headers=coordinators["na"],
        )
        assert r.status_code in (413, 422), r.text
    # a row written before the directory checked shapes (straight into the table)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            """INSERT INTO directory_professionals (cpts, rpps, role, specialty, zones, active)
               VALUES ('na', $1, 'nurse', NULL, ARRAY['Z1'], true)""",
            RPPS.translate(ARABIC_INDIC),
        )
    finally:
        await conn.close()

    out = tmp_path / "parcours.conf"
    rendered = await asyncio.to_thread(nats_config, settings, out, tmp_path / "passwords.json")
    assert rendered.returncode == 0, rendered.stderr
    assert "left out" in rendered.stderr
    text = out.read_text()
    assert f'"{RPPS}-na"' in text and f'"{RPPS}-nb"' in text
    checked = await asyncio.to_thread(accepted_by_nats_server, out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
