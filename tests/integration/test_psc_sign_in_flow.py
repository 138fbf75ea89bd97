"""The browser sign-in's protocol, step by step over HTTP against the real provider: the
redirect carries PKCE (S256), state and nonce and no token; a callback's state works
once; the cookie is HTTP-only and SameSite; sign-out needs the CSRF token; production
ignores the development ``?access_token=``."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import asyncpg
import httpx
import pytest

from parcours.settings import Settings
from projections.app import create_app as projections_app
from tests.integration.conftest import serving
from tests.integration.psc_provider import CLIENT_ID, CLIENT_SECRET, PscProvider, psc_provider

BASE = "http://testserver.local"  # the test client's own base URL
CALLBACK = f"{BASE}/auth/callback"
RPPS = "10000000091"


@pytest.fixture(scope="module")
def psc() -> Iterator[PscProvider]:
    with psc_provider({"camille": {"SubjectNameID": "8" + RPPS}}, [CALLBACK]) as provider:
        yield provider


def flow_settings(settings: Settings, psc: PscProvider, **more: object) -> Settings:
    return settings.replace(
        oidc_issuer=psc.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_redirect_uri=CALLBACK,
        **more,
    )


async def provider_says_yes(authorize_url: str) -> str:
    """The provider's side, as the browser lives it: login form, then back with a code."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        answer = await browser.get(authorize_url)
        for _ in range(10):
            location = answer.headers.get("location", "")
            if location.startswith(CALLBACK):
                return location
            if answer.status_code == 200 and "/interaction/" in answer.url.path:
                answer = await browser.post(f"{answer.url}/login", data={"login": "camille"})
            else:
                answer = await browser.get(answer.url.join(location))
    raise AssertionError("the provider never sent the browser back")


async def test_the_code_flow_with_pkce_opens_a_session_once(settings, psc):
    conn = await asyncpg.connect(settings.database.url)
    await conn.execute(
        "INSERT INTO directory_professionals (cpts, rpps, role) VALUES ('flow', $1, "
        "'coordinator') ON CONFLICT DO NOTHING",
        RPPS,
    )
    await conn.close()
    async with serving(projections_app(flow_settings(settings, psc), with_consumers=False)) as c:
        start = await c.get("/coordinator", follow_redirects=False)
        assert start.status_code == 303 and start.headers["location"].startswith("/auth/login")
        login = await c.get(start.headers["location"], follow_redirects=False)
        assert login.status_code == 303
        authorize = login.headers["location"]
        asked = parse_qs(urlparse(authorize).query)
        assert authorize.startswith(psc.issuer)
        assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
        assert asked["state"][0] and asked["nonce"][0] and asked["acr_values"] == ["eidas1"]
        assert asked["redirect_uri"] == [CALLBACK]

        back = await provider_says_yes(authorize)
        assert "token" not in back  # a code comes back, never a token
        callback = back.removeprefix(BASE)
        opened = await c.get(callback, follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/coordinator"
        cookie = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "parcours_session=" in cookie
        session = opened.cookies["parcours_session"]
        page = await c.get("/coordinator", headers={"cookie": f"parcours_session={session}"})
        assert page.status_code == 200 and RPPS in page.text

        replayed = await c.get(callback, follow_redirects=False)  # the same state again
        assert replayed.status_code == 400
        assert "set-cookie" not in replayed.headers

        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        refused = await c.post(
            "/auth/logout",
            data={"csrf": "wrong"},
            headers={"cookie": f"parcours_session={session}"},
        )
        assert refused.status_code == 403
        out = await c.post(
            "/auth/logout",
            data={"csrf": csrf},
            headers={"cookie": f"parcours_session={session}"},
            follow_redirects=False,
        )
        assert out.status_code == 303 and out.headers["location"].startswith(psc.issuer)
        gone = await c.get(
            "/v1/worklists/coordinator", headers={"cookie": f"parcours_session={session}"}
        )
        assert gone.status_code == 401


async def test_production_ignores_the_development_access_token(settings, psc, token):
    production = flow_settings(settings, psc, environment="production")
    coordinator = token("coordinator", sub="COORD-9", cpts="flow")
    async with serving(projections_app(production, with_consumers=False)) as c:
        answer = await c.get(f"/coordinator?access_token={coordinator}", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/auth/login")
        assert "set-cookie" not in answer.headers
    async with serving(projections_app(flow_settings(settings, psc), with_consumers=False)) as c:
        # in development it opens a session, and the token leaves the URL
        answer = await c.get(f"/coordinator?access_token={coordinator}", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/coordinator"
        assert "parcours_session" in answer.cookies
