"""The small rules of the sign-in that need no provider: PSC's identifier, where a
sign-in may send the browser afterwards, and what production demands."""

from __future__ import annotations

import secrets

import pytest

from parcours.oidc import OidcError, rpps_of
from parcours.settings import Settings, SettingsError
from parcours.signin import safe_next

SERVERS = {"PARCOURS_DATABASE_URL": "postgresql://db/x", "PARCOURS_NATS_URL": "nats://n:4222"}


def test_the_rpps_is_the_subject_name_id_without_its_leading_8() -> None:
    assert rpps_of("810001234567") == "10001234567"


@pytest.mark.parametrize(
    "value",
    ["10001234567", "310001234567", "8100012345678", "81000123456", "8１0001234567", None, 8],
)
def test_a_subject_name_id_that_is_not_8_and_an_rpps_is_refused(value: object) -> None:
    with pytest.raises(OidcError, match="SubjectNameID"):
        rpps_of(value)


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [
        ("/coordinator", "/coordinator"),
        ("/dashboard?period=2026-Q1", "/dashboard?period=2026-Q1"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/coordinator?next=<script>", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_after_the_sign_in_the_browser_goes_to_a_page_of_this_site_only(asked, sent_to) -> None:
    assert safe_next(asked) == sent_to


def test_production_with_an_issuer_needs_no_public_key_but_a_client_id() -> None:
    own = secrets.token_hex(32)
    env = {**SERVERS, "PARCOURS_ENVIRONMENT": "production", "PARCOURS_PSEUDONYM_SECRET": own}
    with pytest.raises(SettingsError, match="PARCOURS_OIDC_CLIENT_ID"):
        Settings.from_env({**env, "PARCOURS_OIDC_ISSUER": "https://psc.example"})
    settings = Settings.from_env(
        {**env, "PARCOURS_OIDC_ISSUER": "https://psc.example", "PARCOURS_OIDC_CLIENT_ID": "c"}
    )
    assert settings.auth.oidc_acr == "eidas1"


def test_the_client_secret_is_read_from_a_file(tmp_path) -> None:
    secret = tmp_path / "client-secret"
    secret.write_text("from-a-file\n")
    settings = Settings.from_env({**SERVERS, "PARCOURS_OIDC_CLIENT_SECRET_FILE": str(secret)})
    assert settings.auth.oidc_client_secret == "from-a-file"
