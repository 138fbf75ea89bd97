"""One frozen settings object per process, read from ``PARCOURS_*`` variables."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Literal

import msgspec

from parcours import production
from parcours.production import DEV_JWT_SECRET, DEV_PSEUDONYM_SECRET


class SettingsError(ValueError):
    pass


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str
    nats_url: str
    nats_prefix: str = "parcours"
    environment: Literal["development", "production", "test"] = "development"
    log_format: Literal["json", "console"] = "json"
    log_level: str = "info"
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_audience: str | None = None
    pseudonym_secret: str = DEV_PSEUDONYM_SECRET  # production refuses it (parcours.production)
    allow_hs256: bool = False  # production: a shared HS256 secret only when set explicitly
    clock: Literal["wall", "virtual"] = "wall"
    clock_start: dt.datetime | None = None  # where a new virtual clock starts (else: now)
    host: str = "127.0.0.1"
    pathways_port: int = 8000
    notifications_port: int = 8001
    projections_port: int = 8002
    relay_port: int = 8003
    # the relay in the pathways process, or in its own (`parcours serve relay`), where the
    # API's event loop never waits behind it
    relay_in_process: bool = True
    max_body_bytes: int = 1024 * 1024
    batch_max_bytes: int = 64 * 1024 * 1024
    db_pool_size: int = 20
    max_in_flight: int = 128  # requests in flight per process before shedding with 503
    # per token subject and process (429 + Retry-After past it); 0: no limit
    rate_limit_per_second: float = 1000.0
    rate_limit_burst: int = 2000
    notification_retention_days: int = 30
    notification_default_zone: str = (
        "sector"  # pool zone of tasks without one (per CPTS: PUT /v1/directory/sector)
    )
    digest_hour: int = 7  # local hour (Europe/Paris) of the daily digest; -1: no digests
    digest_interval_seconds: float = 30.0  # how often the digest worker reads the clock
    protocols_dir: str | None = None  # protocol files (default: beside the pathways package)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        try:  # PARCOURS_X_FILE: the value of PARCOURS_X read from a file (secrets)
            env = production.with_secret_files(os.environ if environ is None else environ)
        except production.ProductionSettingsError as exc:
            raise SettingsError(str(exc)) from None
        values: dict[str, object] = {}
        for name in cls.__struct_fields__:
            key = f"PARCOURS_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        missing = [f for f in ("database_url", "nats_url") if f not in values]
        if missing:
            names = ", ".join(f"PARCOURS_{m.upper()}" for m in missing)
            raise SettingsError(f"{names} must be set (or use `parcours dev`)")
        try:
            settings = msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc}") from exc
        try:
            production.refuse_published_defaults(settings)
        except production.ProductionSettingsError as exc:
            raise SettingsError(str(exc)) from None
        if settings.jwt_secret is None and settings.environment != "production":
            settings = msgspec.structs.replace(settings, jwt_secret=DEV_JWT_SECRET)
        return settings

    def env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        out = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is not None:
                out[f"PARCOURS_{name.upper()}"] = str(value)
        return out
