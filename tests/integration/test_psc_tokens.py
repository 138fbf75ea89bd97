"""Pro Santé Connect tokens at the API, against a real OpenID provider (oidc-provider):
a genuine ID token opens the routes with the role, CPTS and zones of the directory;
tokens signed by another key, expired, for another audience, from another issuer, of a
lower assurance level, or naming an RPPS the directory does not list are refused; a
key rotation is followed (one refetch per interval, however many unknown keys)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from notifications import directory
from notifications.app import create_app as notifications_app
from parcours.oidc import OidcError
from parcours.settings import Settings
from projections.app import create_app as projections_app
from tests.integration.conftest import bearer, serving
from tests.integration.psc_provider import CLIENT_ID, PscProvider, psc_provider, rsa_key

COORDINATOR = "10000000071"  # RPPS; PSC's SubjectNameID is "8" + RPPS
NURSE = "10000000072"
REDIRECT = "http://127.0.0.1:1/auth/callback"  # never followed: sign_in stops at the code
ACCOUNTS = {
    "coord": {"SubjectNameID": "8" + COORDINATOR, "given_name": "Camille", "family_name": "C"},
    "nurse": {"SubjectNameID": "8" + NURSE, "given_name": "Inès", "family_name": "N"},
}


@pytest.fixture(scope="module")
def psc() -> Iterator[PscProvider]:
    with psc_provider(ACCOUNTS, [REDIRECT]) as provider:
        yield provider


def oidc_settings(settings: Settings, psc: PscProvider, **more: Any) -> Settings:
    return settings.replace(
        oidc_issuer=psc.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret="unused", **more
    )


@pytest.fixture
async def listed(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database.url)
    try:
        await conn.execute(
            """INSERT INTO directory_professionals (cpts, rpps, role, zones) VALUES
               ('psc', $1, 'coordinator', '{}'), ('psc', $2, 'nurse', '{75011}')
               ON CONFLICT (cpts, rpps) DO UPDATE SET role = excluded.role""",
            COORDINATOR,
            NURSE,
        )
    finally:
        await conn.close()


async def test_a_genuine_id_token_opens_the_routes_with_the_directory_role(settings, psc, listed):
    token = psc.sign_in("coord", REDIRECT)
    async with serving(projections_app(oidc_settings(settings, psc), with_consumers=False)) as c:
        answer = await c.get("/v1/worklists/coordinator", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        # the nurse's token has no role claim: the directory makes her a nurse, not staff
        nurse = psc.sign_in("nurse", REDIRECT)
        assert (await c.get("/v1/worklists/me", headers=bearer(nurse))).status_code == 200
        refused = await c.get("/v1/worklists/coordinator", headers=bearer(nurse))
        assert refused.status_code == 403


async def test_staff_are_listed_through_the_directory_api_and_sign_in(settings, psc, token, listed):
    admin = token("admin", sub="ADMIN-1", cpts="psc-dir")
    async with serving(notifications_app(settings)) as notifications:
        added = await notifications.post(
            "/v1/directory/professionals",
            json={"rpps": COORDINATOR, "role": "coordinator"},
            headers=bearer(admin),
        )
        assert added.status_code == 201, added.text
    conn = await asyncpg.connect(settings.database.url)
    try:  # staff hear no pool: no NATS user, no digest
        listed_staff = {(p.cpts, p.rpps) for p in await directory.active_professionals(conn)}
        assert ("psc-dir", COORDINATOR) not in listed_staff
        everyone = {(p.cpts, p.rpps) for p in await directory.all_professionals(conn, "psc-dir")}
        assert ("psc-dir", COORDINATOR) not in everyone
    finally:
        await conn.close()
    signed = psc.sign_in("coord", REDIRECT)
    async with serving(projections_app(oidc_settings(settings, psc), with_consumers=False)) as c:
        # listed in two CPTS ('psc' and 'psc-dir'): the caller names one
        ambiguous = await c.get("/v1/worklists/coordinator", headers=bearer(signed))
        assert ambiguous.status_code == 401
        assert "X-Parcours-CPTS" in ambiguous.json()["detail"]
        chosen = await c.get(
            "/v1/worklists/coordinator",
            headers={**bearer(signed), "X-Parcours-CPTS": "psc-dir"},
        )
        assert chosen.status_code == 200, chosen.text


@pytest.mark.parametrize(
    ("case", "claims", "reason"),
    [
        ("expired", {"exp": 1_000_000_000, "iat": 999_999_000}, "expired"),
        ("another audience", {"aud": "another-client"}, "audience"),
        ("another issuer", {"iss": "https://elsewhere.example"}, "issuer"),
        ("a lower assurance level", {"acr": "eidas0"}, "acr"),
        ("no RPPS", {"SubjectNameID": "3" + COORDINATOR}, "SubjectNameID"),
    ],
)
async def test_tokens_the_provider_would_not_vouch_for_are_refused(
    settings, psc, listed, case, claims, reason
):
    forged = psc.sign({"SubjectNameID": "8" + COORDINATOR, **claims})
    async with serving(projections_app(oidc_settings(settings, psc), with_consumers=False)) as c:
        answer = await c.get("/v1/worklists/coordinator", headers=bearer(forged))
    assert answer.status_code == 401, case
    assert reason in answer.json()["detail"], answer.json()


async def test_a_token_signed_by_another_key_is_refused(settings, psc, listed):
    other, _ = rsa_key("attacker")
    kid = next(iter(psc.keys))  # claims the provider's key id, signed with another key
    async with serving(projections_app(oidc_settings(settings, psc), with_consumers=False)) as c:
        same_kid = psc.sign({"SubjectNameID": "8" + COORDINATOR}, kid=kid, key=other)
        answer = await c.get("/v1/worklists/coordinator", headers=bearer(same_kid))
        assert answer.status_code == 401
        assert "signature" in answer.json()["detail"].lower()
        unknown_kid = psc.sign({"SubjectNameID": "8" + COORDINATOR}, kid="attacker", key=other)
        answer = await c.get("/v1/worklists/coordinator", headers=bearer(unknown_kid))
        assert answer.status_code == 401
        assert "does not publish" in answer.json()["detail"]


async def test_an_rpps_the_directory_does_not_list_is_forbidden(settings, psc, listed):
    stranger = psc.sign({"SubjectNameID": "810000000099"})
    async with serving(projections_app(oidc_settings(settings, psc), with_consumers=False)) as c:
        answer = await c.get("/v1/worklists/coordinator", headers=bearer(stranger))
    assert answer.status_code == 403
    assert "directory" in answer.json()["detail"]


async def test_a_key_rotation_is_followed_and_refetches_are_rate_limited(settings, psc, listed):
    interval = 2.0
    app = projections_app(
        oidc_settings(settings, psc, oidc_jwks_min_refresh_seconds=interval), with_consumers=False
    )
    oidc = app.state["token_verifier"].oidc
    async with serving(app) as c:
        before = psc.sign({"SubjectNameID": "8" + NURSE})
        assert (await c.get("/v1/worklists/me", headers=bearer(before))).status_code == 200
        assert oidc.jwks_fetches == 1
        psc.add_key("psc-ec-2", "ec")  # the provider rotates: a new ES256 key signs
        psc.restart()
        while time.monotonic() - oidc._fetched_at < interval:  # noqa: ASYNC110 - a time window
            await asyncio.sleep(0.05)
        rotated = psc.sign({"SubjectNameID": "8" + NURSE}, kid="psc-ec-2")
        answer = await c.get("/v1/worklists/me", headers=bearer(rotated))
        assert answer.status_code == 200, answer.text
        assert oidc.jwks_fetches == 2  # one refetch, on the unknown kid
        for n in range(5):  # made-up key ids: no more refetches within the interval
            bogus = psc.sign(
                {"SubjectNameID": "8" + NURSE, "jti": str(n)}, kid=f"x{n}", key=psc.keys["psc-ec-2"]
            )
            assert (await c.get("/v1/worklists/me", headers=bearer(bogus))).status_code == 401
        assert oidc.jwks_fetches == 2


async def test_the_standard_discovery_path_serves_when_the_wallet_one_is_absent(settings):
    with psc_provider(ACCOUNTS, [REDIRECT]) as plain:
        plain.wallet_discovery = False
        plain.restart()
        app = projections_app(oidc_settings(settings, plain), with_consumers=False)
        meta = await app.state["token_verifier"].oidc.metadata()
        assert meta.issuer == plain.issuer
        assert meta.jwks_uri.startswith(plain.issuer)


async def test_a_provider_that_cannot_be_reached_is_asked_once_per_interval(settings, psc, listed):
    app = projections_app(
        oidc_settings(settings, psc, oidc_jwks_min_refresh_seconds=3600), with_consumers=False
    )
    oidc = app.state["token_verifier"].oidc
    tokens = [psc.sign({"SubjectNameID": "8" + NURSE, "jti": str(n)}) for n in range(4)]
    psc.stop()
    try:
        async with serving(app) as c:
            for t in tokens:
                answer = await c.get("/v1/worklists/me", headers=bearer(t))
                assert answer.status_code == 401
        assert oidc.jwks_fetches == 1  # one attempt, not one per request
    finally:
        psc.start()


async def test_an_id_token_from_another_sign_in_is_refused_by_its_nonce(settings, psc):
    app = projections_app(oidc_settings(settings, psc), with_consumers=False)
    oidc = app.state["token_verifier"].oidc
    theirs = psc.sign({"SubjectNameID": "8" + NURSE, "nonce": "their-sign-in"})
    assert (await oidc.verify(theirs, nonce="their-sign-in"))["nonce"] == "their-sign-in"
    with pytest.raises(OidcError, match="nonce"):
        await oidc.verify(theirs, nonce="my-sign-in")
