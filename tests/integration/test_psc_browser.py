"""Sign-in in headless Chromium against a real OpenID provider (oidc-provider, PSC-like):
a coordinator signs in (authorization code + PKCE) and sees the coordinator page with
her CPTS's worklists, assigns a task through the page (the pathways command, with the
session's CSRF token), is refused without that token, signs out; an auditor signs in
and sees the dashboard. Screenshots of both pages are saved under test-output/."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import uvicorn

from notifications.app import create_app as notifications_app
from parcours.devstack import free_port
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.integration.psc_provider import CLIENT_ID, CLIENT_SECRET, psc_provider
from tests.integration.test_projections_dashboard import CHROMIUM, OUTPUT, DevTools, browser
from tests.integration.test_projections_helpers import flush, running
from tests.integration.test_projections_hf import cohort, on
from tests.required_tools import require_tool

COORDINATOR, AUDITOR, NURSE = "10000000081", "10000000082", "10000000083"
CPTS = "psc-ui"
ACCOUNTS = {
    "coord": {"SubjectNameID": "8" + COORDINATOR, "given_name": "Camille"},
    "audit": {"SubjectNameID": "8" + AUDITOR, "given_name": "Alex"},
}


@contextlib.asynccontextmanager
async def serve(app: Any, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def sign_in(page: DevTools, base: str, path: str, login: str) -> None:
    """Open ``path``: the service sends the browser to the provider, which asks who it is."""
    await page.call("Page.navigate", url=f"{base}{path}")
    await page.until("!!document.getElementById('login')")
    assert await page.js("location.pathname.startsWith('/interaction/')")
    await page.js(
        f"document.getElementById('login').value = {login!r};"
        "document.getElementById('submit').click()"
    )
    await page.until(f"location.href.startsWith({base + path!r})")


async def screenshot(page: DevTools, name: str) -> None:
    shot = await page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / name).write_bytes(base64.b64decode(shot["data"]))


async def test_a_coordinator_signs_in_acts_and_signs_out_an_auditor_sees_the_dashboard(
    settings,
):
    require_tool(CHROMIUM is not None, "chromium (make chromium: apt-get install -y chromium)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with psc_provider(ACCOUNTS, [f"{base}/auth/callback"]) as psc:
        ports = free_port(), free_port()
        s = settings.replace(
            oidc_issuer=psc.issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            oidc_redirect_uri=f"{base}/auth/callback",
            pathways_url=f"http://127.0.0.1:{ports[0]}",
            notifications_url=f"http://127.0.0.1:{ports[1]}",
            clock="virtual",
            clock_start=on(20, 9),
        )
        conn = await asyncpg.connect(s.database.url)
        await conn.execute(
            """INSERT INTO directory_professionals (cpts, rpps, role, zones) VALUES
               ($1, $2, 'coordinator', '{}'), ($1, $3, 'auditor', '{}'),
               ($1, $4, 'nurse', '{75011}') ON CONFLICT DO NOTHING""",
            CPTS,
            COORDINATOR,
            AUDITOR,
            NURSE,
        )
        await conn.close()
        async with running(s, with_consumers=True) as h:
            await flush(h.pool, *cohort(cpts=CPTS, until=20).values())
            await h.settle()
            async with (
                serve(pathways_app(s, with_relay=False, with_scheduler=False), ports[0]),
                serve(notifications_app(s), ports[1]),
                serve(projections_app(s, with_consumers=False), port),
                browser() as page,
            ):
                await page.call("Page.enable")
                await sign_in(page, base, "/coordinator", "coord")
                await page.until("document.body.dataset.loaded === 'true'")
                assert "access_token" not in await page.js("location.href")
                who = await page.js("document.getElementById('who').textContent")
                assert COORDINATOR in who and CPTS in who  # from the directory
                cookies = (await page.call("Network.getAllCookies"))["cookies"]
                session = next(c for c in cookies if c["name"] == "parcours_session")
                assert session["httpOnly"] is True and session["sameSite"] == "Lax"
                counts = await page.js(
                    "['today', 'overdue', 'escalated'].map(id => "
                    "document.querySelectorAll('#' + id + ' tr.task').length)"
                )
                assert sum(counts) > 0, counts
                # the access report lists the reads of this CPTS (her own page loads read
                # patients' worklist entries: at least one row, French headings)
                await page.until("document.querySelectorAll('#access-report tr.access').length > 0")
                heads = await page.js(
                    "[...document.querySelectorAll('#access-report th')].map(h => h.textContent)"
                )
                assert "Accès d'urgence" in heads, heads
                await screenshot(page, "coordinator.png")
                await page.call(  # a tablet held upright: no sideways scrolling of the page
                    "Emulation.setDeviceMetricsOverride",
                    width=820,
                    height=1180,
                    deviceScaleFactor=1,
                    mobile=True,
                )
                await asyncio.sleep(0.3)  # a layout pass (the assertion below is the check)
                assert await page.js("document.documentElement.scrollWidth") <= 820
                await screenshot(page, "coordinator-tablet.png")
                await page.call("Emulation.clearDeviceMetricsOverride")

                # a POST without the session's CSRF token is refused before it is forwarded
                task_id = await page.js("document.querySelector('tr.task').dataset.task")
                no_csrf = await page.js(
                    f"fetch('/ui/pathways/v1/tasks/{task_id}/reassign', {{method: 'POST', "
                    "headers: {'Content-Type': 'application/json'}, "
                    f"body: JSON.stringify({{assignee: '{NURSE}'}})}}).then(r => r.status)"
                )
                assert no_csrf == 403
                # through the page: assign the task to the nurse (pathways decides, 200)
                await page.js(
                    f"const row = document.querySelector('tr.task[data-task=\"{task_id}\"]');"
                    f"row.querySelector('.rpps').value = '{NURSE}';"
                    "row.querySelector('.assign').click()"
                )
                said = await page.until("document.getElementById('message').textContent")
                assert said == "Tâche attribuée.", said
                await page.until(
                    f"[...document.querySelectorAll('tr.task[data-task=\"{task_id}\"]')]"
                    f".some(r => r.children[2].textContent === '{NURSE}')"
                )

                # cancel another task, with a reason, and enrol a patient: through the page
                other = await page.js(
                    f"[...document.querySelectorAll('#overdue tr.task')]"
                    f".find(r => r.dataset.task !== '{task_id}').dataset.task"
                )
                await page.js(
                    f"const r2 = document.querySelector('#overdue tr.task[data-task=\"{other}\"]');"
                    "r2.querySelector('.reason').value = 'patient suivi ailleurs';"
                    "r2.querySelector('.cancel').click()"
                )
                await page.until(
                    "document.getElementById('message').textContent === 'Tâche annulée.'"
                )
                await page.until(
                    f"!document.querySelector('tr.task[data-task=\"{other}\"]')"
                )  # cancelled: off the lists once the projection has it
                await page.js(
                    "const f = document.getElementById('enrol');"
                    "f.ins.value = '295109912611193';"
                    "f.protocol.value = 'heart-failure-discharge';"
                    "f.anchor_at.value = '2025-12-20T14:00';"
                    "f.querySelector('button').click()"
                )
                said = await page.until(
                    "document.getElementById('message').textContent.startsWith('Patient inscrit')"
                    " && document.getElementById('message').textContent"
                )
                assert (
                    said.startswith("Patient inscrit (") and said != "Patient inscrit (0 tâches)."
                ), said

                await page.js("document.getElementById('signout').click()")
                await page.until(f"!location.href.startsWith({base + '/coordinator'!r})")
                cookies = (await page.call("Network.getAllCookies"))["cookies"]
                assert not any(c["name"] == "parcours_session" for c in cookies)
                left = await h.pool.fetchval(
                    "SELECT count(*) FROM web_sessions WHERE sub = $1", COORDINATOR
                )
                assert left == 0  # ended on the server, not only in the browser

            async with serve(projections_app(s, with_consumers=False), port), browser() as page:
                await page.call("Page.enable")
                await sign_in(page, base, "/dashboard?period=2026-Q1", "audit")
                await page.until("document.body.dataset.loaded === 'true'")
                tiles = dict(
                    await page.js(
                        "[...document.querySelectorAll('.tile')].map("
                        "t => [t.dataset.code, t.querySelector('.value').textContent])"
                    )
                )
                assert tiles["HF-INCLUDED"] == "5"  # the cohort (the page enrolled one in 2025-Q4)
                assert (
                    await page.js(
                        "getComputedStyle(document.querySelector('.token-field')).display"
                    )
                    == "none"
                )
                await screenshot(page, "dashboard-signed-in.png")


async def test_a_professional_listed_in_two_cpts_chooses_one_at_the_sign_in(settings):
    require_tool(CHROMIUM is not None, "chromium (make chromium: apt-get install -y chromium)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    twice = "10000000084"
    with psc_provider({"twice": {"SubjectNameID": "8" + twice}}, [f"{base}/auth/callback"]) as psc:
        s = settings.replace(
            oidc_issuer=psc.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET
        )
        conn = await asyncpg.connect(s.database.url)
        await conn.execute(
            """INSERT INTO directory_professionals (cpts, rpps, role) VALUES
               ('psc-north', $1, 'coordinator'), ('psc-south', $1, 'coordinator')
               ON CONFLICT DO NOTHING""",
            twice,
        )
        await conn.close()
        async with serve(projections_app(s, with_consumers=False), port), browser() as page:
            await page.call("Page.enable")
            await page.call("Page.navigate", url=f"{base}/coordinator")
            await page.until("!!document.getElementById('login')")
            await page.js(
                "document.getElementById('login').value = 'twice';"
                "document.getElementById('submit').click()"
            )
            choices = await page.until(
                "document.querySelectorAll('a.cpts').length && "
                "[...document.querySelectorAll('a.cpts')].map(a => a.textContent)"
            )
            assert choices == ["psc-north", "psc-south"]
            await page.js("document.querySelectorAll('a.cpts')[1].click()")
            # the provider remembers her: no second login form, straight back, into psc-south
            await page.until(f"location.href === {base + '/coordinator'!r}")
            await page.until("document.body.dataset.loaded === 'true'")
            who = await page.js("document.getElementById('who').textContent")
            assert "CPTS psc-south" in who
