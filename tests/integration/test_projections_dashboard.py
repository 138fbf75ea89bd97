"""The auditors' dashboard in headless Chromium (DevTools protocol): the tiles show the
seeded cohort's values, a click on a tile opens its case list; a screenshot is saved
under test-output/."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets

from parcours.devstack import free_port
from projections.app import create_app
from tests.integration.test_projections_helpers import flush, running
from tests.integration.test_projections_hf import cohort
from tests.required_tools import require_tool

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(autouse=True)
def _chromium_required() -> None:
    require_tool(CHROMIUM is not None, "chromium (make chromium: apt-get install -y chromium)")


class DevTools:
    def __init__(self, ws) -> None:  # type: ignore[no-untyped-def]
        self.ws, self.ids = ws, itertools.count(1)

    async def call(self, method: str, **params) -> dict:  # type: ignore[no-untyped-def]
        n = next(self.ids)
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == n:
                assert "error" not in message, message
                return message.get("result", {})

    async def js(self, expression: str):  # type: ignore[no-untyped-def]
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result["result"].get("value")

    async def until(self, expression: str, timeout: float = 15.0):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        for _ in range(int(timeout / 0.1)):
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never true in the page: {expression}")


@contextlib.asynccontextmanager
async def browser():  # type: ignore[no-untyped-def]
    profile = tempfile.mkdtemp(prefix="parcours-chromium-")
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().splitlines()[0])
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            yield DevTools(ws)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.asynccontextmanager
async def http_server(settings):  # type: ignore[no-untyped-def]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, with_consumers=False), host="127.0.0.1", port=port, log_config=None
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_the_dashboard_shows_tiles_and_opens_the_cases_of_a_tile(settings, token):
    async with running(settings) as h:
        await flush(h.pool, *cohort(cpts="dash").values())
        await h.settle()
        auditor = token("auditor", sub="AUDIT-DASH", cpts="dash")
        async with http_server(settings) as base, browser() as page:
            await page.call("Page.enable")
            await page.call(
                "Page.navigate", url=f"{base}/dashboard?period=2026-Q1&access_token={auditor}"
            )
            await page.until("document.body.dataset.loaded === 'true'")
            tiles = dict(
                await page.js(
                    "[...document.querySelectorAll('.tile')].map("
                    "t => [t.dataset.code, t.querySelector('.value').textContent])"
                )
            )
            assert tiles["HF-GP7"] == "50.0 %"
            assert tiles["HF-INCLUDED"] == "5"
            assert tiles["HF-NURSE"] == "49.1 %"  # 26 / 53 (test_projections_hf)
            assert await page.js("location.search.includes('access_token')") is False
            await page.js("document.querySelector('.tile[data-code=\"HF-CARDIO60\"]').click()")
            rows = await page.until(
                "document.querySelectorAll('#cases tbody tr').length && "
                "[...document.querySelectorAll('#cases tbody tr')].map("
                "r => r.children[2].textContent)"
            )
            assert sorted(rows) == ["excluded", "excluded", "met", "met", "not_met"]
            bars = await page.js("document.querySelectorAll('#trend svg rect.bar').length")
            assert bars == 12
            await page.js("document.getElementById('trend-panel').scrollIntoView()")
            shot = await page.call("Page.captureScreenshot", format="png")
            OUTPUT.mkdir(exist_ok=True)
            (OUTPUT / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))
