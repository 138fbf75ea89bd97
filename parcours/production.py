"""Production refuses published defaults, and reads secrets from files.

``parcours.settings`` calls two functions of this module:

- ``with_secret_files(environ)``: every ``PARCOURS_<NAME>_FILE`` variable names a
  file whose content (trailing newline removed) is the value of
  ``PARCOURS_<NAME>``: Docker and Kubernetes secrets are mounted as files, and a
  secret in a file stays out of ``docker inspect`` and ``/proc/<pid>/environ``.
  Setting both the variable and its ``_FILE`` is an error (which one wins would
  be a guess).
- ``refuse_published_defaults(settings)``: with ``PARCOURS_ENVIRONMENT=production``
  the process does not start with a value anyone can read in this repository:
  the development JWT secret, the default pseudonym key, or a shared HS256
  secret at all unless ``PARCOURS_ALLOW_HS256=true`` says so explicitly (and
  then of at least 32 bytes). Each error names the variable to set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEV_JWT_SECRET = "parcours-development-secret-do-not-use-in-production"
DEV_PSEUDONYM_SECRET = "parcours-development-pseudonym-key"
MIN_SECRET_BYTES = 32
_SUFFIX = "_FILE"


class ProductionSettingsError(ValueError):
    """A production process would start with a published or missing secret."""


def with_secret_files(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with each ``PARCOURS_X_FILE`` replaced by ``PARCOURS_X`` = the file's content."""
    out = dict(environ)
    for key, path in environ.items():
        if not (key.startswith("PARCOURS_") and key.endswith(_SUFFIX)):
            continue
        target = key[: -len(_SUFFIX)]
        if target in environ:
            raise ProductionSettingsError(f"set {target} or {key}, not both")
        try:
            out[target] = Path(path).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ProductionSettingsError(
                f"{key} names a file that cannot be read ({exc.strerror})"
            ) from None
        del out[key]
    return out


def refuse_published_defaults(settings: Any) -> None:
    """Raise ``ProductionSettingsError`` when a production process would use a published value."""
    if settings.environment != "production":
        return
    auth = settings.auth
    asymmetric = bool(auth.jwt_public_key or auth.jwks_url or auth.oidc_issuer)
    if not asymmetric and not auth.jwt_secret:
        raise ProductionSettingsError(
            "production needs PARCOURS_OIDC_ISSUER (or PARCOURS_JWT_PUBLIC_KEY, "
            "PARCOURS_JWKS_URL) to verify tokens"
        )
    if auth.oidc_issuer and not auth.oidc_client_id:
        raise ProductionSettingsError("PARCOURS_OIDC_ISSUER needs PARCOURS_OIDC_CLIENT_ID")
    if auth.jwt_secret == DEV_JWT_SECRET:
        raise ProductionSettingsError(
            "PARCOURS_JWT_SECRET is the published development secret: unset it and set "
            "PARCOURS_JWT_PUBLIC_KEY (or PARCOURS_JWKS_URL)"
        )
    if auth.jwt_secret and not asymmetric:
        if not auth.allow_hs256:
            raise ProductionSettingsError(
                "production verifies tokens with PARCOURS_JWT_PUBLIC_KEY or PARCOURS_JWKS_URL; "
                "a shared HS256 secret (PARCOURS_JWT_SECRET) needs PARCOURS_ALLOW_HS256=true"
            )
        _long_enough("PARCOURS_JWT_SECRET", auth.jwt_secret)
    if auth.pseudonym_secret == DEV_PSEUDONYM_SECRET:
        raise ProductionSettingsError(
            "PARCOURS_PSEUDONYM_SECRET is the published default: set a secret of your own "
            "(auditor pseudonyms are computed with it)"
        )
    _long_enough("PARCOURS_PSEUDONYM_SECRET", auth.pseudonym_secret)


def _long_enough(variable: str, secret: str) -> None:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ProductionSettingsError(
            f"{variable} must be at least {MIN_SECRET_BYTES} bytes of random data"
        )
