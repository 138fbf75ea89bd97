"""One frozen settings object per process, read from ``PARCOURS_*`` variables.

Settings are grouped by concern; each service reads the groups it needs:

| group | fields (environment variable) |
|---|---|
| ``database`` | ``url`` (PARCOURS_DATABASE_URL), ``pool_size`` (PARCOURS_DB_POOL_SIZE) |
| ``nats`` | ``url`` (PARCOURS_NATS_URL, comma-separated seeds), ``prefix`` (PARCOURS_NATS_PREFIX), ``replicas`` (PARCOURS_NATS_REPLICAS) |
| ``auth`` | ``jwt_secret``, ``jwt_public_key``, ``jwks_url``, ``jwt_audience``, ``pseudonym_secret``, ``allow_hs256``, ``oidc_issuer``, ``oidc_client_id``, ``oidc_client_secret``, ``oidc_audience``, ``oidc_acr``, ``oidc_scopes``, ``oidc_redirect_uri``, ``oidc_jwks_min_refresh_seconds``, ``session_ttl_seconds`` (PARCOURS_<FIELD>; each also as PARCOURS_<FIELD>_FILE) |
| ``http`` | ``host``, ``pathways_port``, ``notifications_port``, ``projections_port``, ``relay_port``, ``max_body_bytes``, ``max_in_flight``, ``rate_limit_per_second``, ``rate_limit_burst``, ``pathways_url``, ``notifications_url`` (PARCOURS_<FIELD>) |
| ``batch`` | ``max_bytes`` (PARCOURS_BATCH_MAX_BYTES) |
| ``access`` | ``break_glass_hours`` (PARCOURS_BREAK_GLASS_HOURS, default 4), ``identity_retention_years`` (PARCOURS_IDENTITY_RETENTION_YEARS, default 20: identities erased that long after the patient's last event) |
| ``notifications`` | ``retention_days`` (PARCOURS_NOTIFICATION_RETENTION_DAYS), ``default_zone`` (PARCOURS_NOTIFICATION_DEFAULT_ZONE), ``digest_hour``, ``digest_interval_seconds`` (PARCOURS_DIGEST_…) |

and, for the whole process: ``environment``, ``log_format``, ``log_level``,
``clock``, ``clock_start``, ``relay_in_process``, ``protocols_dir``.

``from_env`` and ``replace`` take the flat names of the variables (``database_url=…``,
``digest_hour=…``): the environment's vocabulary, unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from parcours import production
from parcours.production import DEV_JWT_SECRET, DEV_PSEUDONYM_SECRET


class SettingsError(ValueError):
    pass


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    pool_size: int = 20


class NatsSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: str  # one URL, or the seeds of a cluster separated by commas
    prefix: str = "parcours"
    replicas: int = 1  # num_replicas of the streams: 3 on a cluster (docs: README)


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens and pseudonyms (``Settings.environment`` says whether defaults may serve)."""

    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_audience: str | None = None
    pseudonym_secret: str = DEV_PSEUDONYM_SECRET  # production refuses it (parcours.production)
    allow_hs256: bool = False  # production: a shared HS256 secret only when set explicitly
    # OpenID Connect (Pro Santé Connect): parcours.oidc; the browser sign-in: parcours.signin
    oidc_issuer: str | None = None  # e.g. https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_audience: str | None = None  # the `aud` tokens must carry (default: the client id)
    oidc_acr: str = "eidas1"  # the `acr` tokens must carry ("" accepts any)
    oidc_scopes: str = "openid scope_all"
    oidc_redirect_uri: str | None = None  # https://<projections>/auth/callback
    oidc_jwks_min_refresh_seconds: float = 30.0  # at most one JWKS refetch per interval
    session_ttl_seconds: int = 8 * 3600  # browser sessions (never beyond the ID token's exp)


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    pathways_port: int = 8000
    notifications_port: int = 8001
    projections_port: int = 8002
    relay_port: int = 8003
    max_body_bytes: int = 1024 * 1024
    max_in_flight: int = 128  # requests in flight per process before shedding with 503
    # per token subject and process (429 + Retry-After past it); 0: no limit
    rate_limit_per_second: float = 1000.0
    rate_limit_burst: int = 2000
    # where the coordinator page's proxy reaches the other services (default: host + port)
    pathways_url: str | None = None
    notifications_url: str | None = None


class BatchSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_bytes: int = 64 * 1024 * 1024  # body limit of POST /v1/facts:batch


class AccessSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Need-to-know access: break-the-glass grants and the identity retention policy."""

    break_glass_hours: Annotated[float, msgspec.Meta(gt=0, le=72)] = 4.0
    identity_retention_years: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class NotificationSettings(msgspec.Struct, frozen=True, kw_only=True):
    retention_days: int = 30
    # pool zone of tasks without one (per CPTS: PUT /v1/directory/sector)
    default_zone: str = "sector"
    digest_hour: int = 7  # local hour (Europe/Paris) of the daily digest; -1: no digests
    digest_interval_seconds: float = 30.0  # how often the digest worker reads the clock


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database: DatabaseSettings
    nats: NatsSettings
    auth: AuthSettings = AuthSettings()
    http: HttpSettings = HttpSettings()
    batch: BatchSettings = BatchSettings()
    notifications: NotificationSettings = NotificationSettings()
    access: AccessSettings = AccessSettings()
    environment: Literal["development", "production", "test"] = "development"
    log_format: Literal["json", "console"] = "json"
    log_level: str = "info"
    clock: Literal["wall", "virtual"] = "wall"
    clock_start: dt.datetime | None = None  # where a new virtual clock starts (else: now)
    # the relay in the pathways process, or in its own (`parcours serve relay`), where the
    # API's event loop never waits behind it
    relay_in_process: bool = True
    protocols_dir: str | None = None  # protocol files (default: beside the pathways package)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        try:  # PARCOURS_X_FILE: the value of PARCOURS_X read from a file (secrets)
            env = production.with_secret_files(os.environ if environ is None else environ)
        except production.ProductionSettingsError as exc:
            raise SettingsError(str(exc)) from None
        values: dict[str, object] = {}
        for name in FLAT:
            key = f"PARCOURS_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        missing = [f for f in ("database_url", "nats_url") if f not in values]
        if missing:
            names = ", ".join(f"PARCOURS_{m.upper()}" for m in missing)
            raise SettingsError(f"{names} must be set (or use `parcours dev`)")
        settings = _grouped(values)
        try:
            production.refuse_published_defaults(settings)
        except production.ProductionSettingsError as exc:
            raise SettingsError(str(exc)) from None
        if settings.auth.jwt_secret is None and settings.environment != "production":
            settings = settings.replace(jwt_secret=DEV_JWT_SECRET)
        return settings

    def flat(self) -> dict[str, Any]:
        """Every setting under the flat name of its environment variable."""
        out: dict[str, Any] = {}
        for name, (group, field) in FLAT.items():
            holder = getattr(self, group) if group else self
            out[name] = getattr(holder, field)
        return out

    def replace(self, **changes: object) -> Settings:
        """A copy with some settings changed, by flat name (``digest_hour=-1``)."""
        unknown = set(changes) - set(FLAT)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return _grouped({**self.flat(), **changes})

    def env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        return {
            f"PARCOURS_{name.upper()}": str(value)
            for name, value in self.flat().items()
            if value is not None
        }


# flat name (PARCOURS_<NAME>) -> (group, field); group "" is the Settings itself
FLAT: dict[str, tuple[str, str]] = {
    "database_url": ("database", "url"),
    "db_pool_size": ("database", "pool_size"),
    "nats_url": ("nats", "url"),
    "nats_prefix": ("nats", "prefix"),
    "nats_replicas": ("nats", "replicas"),
    **{f: ("auth", f) for f in AuthSettings.__struct_fields__},
    **{f: ("http", f) for f in HttpSettings.__struct_fields__},
    "batch_max_bytes": ("batch", "max_bytes"),
    "notification_retention_days": ("notifications", "retention_days"),
    "notification_default_zone": ("notifications", "default_zone"),
    "digest_hour": ("notifications", "digest_hour"),
    "digest_interval_seconds": ("notifications", "digest_interval_seconds"),
    **{f: ("access", f) for f in AccessSettings.__struct_fields__},
    **{
        f: ("", f)
        for f in (
            "environment",
            "log_format",
            "log_level",
            "clock",
            "clock_start",
            "relay_in_process",
            "protocols_dir",
        )
    },
}


def _grouped(values: Mapping[str, object]) -> Settings:
    tree: dict[str, Any] = {}
    for name, value in values.items():
        group, field = FLAT[name]
        (tree.setdefault(group, {}) if group else tree)[field] = value
    try:
        return msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid setting: {exc}") from exc
