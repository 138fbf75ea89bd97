"""Production refuses the values published in this repository, and reads secrets from files."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml

from parcours.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
SERVERS = {"PARCOURS_DATABASE_URL": "postgresql://db/x", "PARCOURS_NATS_URL": "nats://n:4222"}
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----"
OWN = secrets.token_hex(32)


def production(**env: str) -> dict[str, str]:
    return {**SERVERS, "PARCOURS_ENVIRONMENT": "production", **env}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PARCOURS_PSEUDONYM_SECRET": OWN}, "PARCOURS_JWT_PUBLIC_KEY"),
        (
            {
                "PARCOURS_JWT_SECRET": "parcours-development-secret-do-not-use-in-production",
                "PARCOURS_ALLOW_HS256": "true",
                "PARCOURS_PSEUDONYM_SECRET": OWN,
            },
            "PARCOURS_JWT_SECRET",
        ),
        ({"PARCOURS_JWT_SECRET": OWN, "PARCOURS_PSEUDONYM_SECRET": OWN}, "PARCOURS_ALLOW_HS256"),
        (
            {"PARCOURS_JWT_SECRET": "short", "PARCOURS_ALLOW_HS256": "true"},
            "PARCOURS_JWT_SECRET",
        ),
        ({"PARCOURS_JWT_PUBLIC_KEY": PUBLIC_KEY}, "PARCOURS_PSEUDONYM_SECRET"),
        (
            {
                "PARCOURS_JWT_PUBLIC_KEY": PUBLIC_KEY,
                "PARCOURS_PSEUDONYM_SECRET": "parcours-development-pseudonym-key",
            },
            "PARCOURS_PSEUDONYM_SECRET",
        ),
        (
            {"PARCOURS_JWKS_URL": "https://idp/jwks", "PARCOURS_PSEUDONYM_SECRET": "x" * 8},
            "PARCOURS_PSEUDONYM_SECRET",
        ),
    ],
    ids=[
        "no key at all",
        "development jwt secret",
        "hs256 not enabled",
        "short hs256 secret",
        "default pseudonym key",
        "published pseudonym key",
        "short pseudonym key",
    ],
)
def test_production_does_not_start_with_a_published_or_weak_secret(env, names):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(production(**env))
    assert names in str(refused.value)


def test_production_starts_with_a_public_key_and_a_pseudonym_key_of_its_own():
    settings = Settings.from_env(
        production(PARCOURS_JWT_PUBLIC_KEY=PUBLIC_KEY, PARCOURS_PSEUDONYM_SECRET=OWN)
    )
    assert settings.auth.jwt_secret is None and settings.auth.pseudonym_secret == OWN


def test_production_accepts_hs256_only_when_enabled_explicitly():
    settings = Settings.from_env(
        production(
            PARCOURS_JWT_SECRET=OWN, PARCOURS_ALLOW_HS256="true", PARCOURS_PSEUDONYM_SECRET=OWN
        )
    )
    assert settings.auth.allow_hs256 and settings.auth.jwt_secret == OWN


def test_development_keeps_its_published_defaults():
    settings = Settings.from_env(SERVERS)
    assert settings.environment == "development" and settings.auth.jwt_secret


def test_secrets_are_read_from_files(tmp_path: Path):
    (tmp_path / "pseudonym").write_text(OWN + "\n")
    (tmp_path / "key.pem").write_text(PUBLIC_KEY + "\n")
    (tmp_path / "db").write_text("postgresql://parcours:s3cret@db/parcours\n")
    settings = Settings.from_env(
        {
            "PARCOURS_NATS_URL": "nats://n:4222",
            "PARCOURS_ENVIRONMENT": "production",
            "PARCOURS_DATABASE_URL_FILE": str(tmp_path / "db"),
            "PARCOURS_PSEUDONYM_SECRET_FILE": str(tmp_path / "pseudonym"),
            "PARCOURS_JWT_PUBLIC_KEY_FILE": str(tmp_path / "key.pem"),
        }
    )
    assert settings.auth.pseudonym_secret == OWN
    assert settings.auth.jwt_public_key == PUBLIC_KEY
    assert settings.database.url == "postgresql://parcours:s3cret@db/parcours"


@pytest.mark.parametrize("case", ["missing file", "both set"])
def test_a_secret_file_that_cannot_be_used_names_its_variable(tmp_path: Path, case):
    env = {**SERVERS, "PARCOURS_PSEUDONYM_SECRET_FILE": str(tmp_path / "absent")}
    if case == "both set":
        (tmp_path / "absent").write_text(OWN)
        env["PARCOURS_PSEUDONYM_SECRET"] = OWN
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert "PARCOURS_PSEUDONYM_SECRET_FILE" in str(refused.value)


def test_compose_runs_production_with_secrets_from_files_and_ports_on_loopback():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("pathways", "notifications", "projections", "migrate"):
        env = services[name]["environment"]
        assert env["PARCOURS_ENVIRONMENT"] == "production", name
        for secret in ("PARCOURS_DATABASE_URL", "PARCOURS_PSEUDONYM_SECRET", "PARCOURS_JWT_SECRET"):
            assert secret not in env, (name, secret)  # from files (…_FILE), never inline
        assert env["PARCOURS_PSEUDONYM_SECRET_FILE"].startswith("/run/secrets/")
        assert env["PARCOURS_DATABASE_URL_FILE"].startswith("/run/secrets/")
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("${PARCOURS_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
    assert "ports" not in services["postgres"] and "ports" not in services["nats"]
    for secret in compose["secrets"].values():
        assert "file" in secret or "environment" in secret
