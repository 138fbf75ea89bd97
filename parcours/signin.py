"""Browser sign-in through the OpenID provider: authorization code flow with PKCE (S256).

``GET /auth/login?next=/coordinator`` sends the browser to the provider with a fresh
``state``, ``nonce`` and PKCE challenge (kept in ``web_sign_ins`` ten minutes);
``GET /auth/callback`` takes the code back, exchanges it (client secret + PKCE
verifier) for the ID token, verifies it (``parcours.oidc``, nonce included), finds the
professional in the directory and opens a session (``parcours.web_session``): an
HTTP-only, SameSite=Lax cookie, then a redirect to ``next``. No token ever travels in
a URL or a form: the code is single use and worthless without the verifier and the
secret. ``POST /auth/logout`` (with the session's CSRF token) ends the session here
and sends the browser to the provider's ``end_session_endpoint`` (with ``client_id``,
not the ID token).

Development only (never in production): a page opened with ``?access_token=<dev
token>`` (``parcours token``) opens a session with that token and reloads without it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import jwt
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import Parameter
from litestar.response import Redirect

from contracts import shapes
from parcours import directory_identity, web_session
from parcours.auth import TokenVerifier
from parcours.oidc import OidcError, rpps_of
from parcours.settings import Settings

SIGN_IN_SECONDS = 600
# where to go after the sign-in: a path of this site, maybe with a plain query
_NEXT = re.compile(r"^/[A-Za-z0-9/_-]{0,100}(\?[A-Za-z0-9_=&:.%-]{0,200})?$")


def _settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state["settings"]


def _verifier(request: Request[Any, Any, Any]) -> TokenVerifier:
    return request.app.state["token_verifier"]


def _pool(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.resources.pool


def safe_next(value: str | None) -> str:
    return value if value and _NEXT.match(value) and not value.startswith("//") else "/"


def message_page(title: str, text: str, status: int = 200) -> Response[str]:
    body = (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)}'
        '</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f'<body style="font-family:system-ui;max-width:40em;margin:2em auto">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        '<p><a href="/auth/login?next=/coordinator">Se connecter</a></p></body></html>'
    )
    return Response(body, status_code=status, media_type="text/html; charset=utf-8")


def session_cookie(settings: Settings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=web_session.COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: Lax lets it in
        secure=web_session.cookie_secure(settings),
    )


async def current_session(request: Request[Any, Any, Any]) -> web_session.WebSession | None:
    return await web_session.load_session(_pool(request), request.cookies.get(web_session.COOKIE))


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@get(
    "/auth/login",
    tags=["sign-in"],
    include_in_schema=False,
    summary="Sign in through the OpenID provider",
)
async def login(
    request: Request[Any, Any, Any],
    next: str | None = None,  # noqa: A002
    cpts: str | None = None,  # for an RPPS listed in several CPTS: the one chosen
) -> Response[Any]:
    settings, verifier = _settings(request), _verifier(request)
    if cpts is not None and not re.match(shapes.CPTS_PATTERN, cpts):
        return message_page("Connexion impossible", "Cette CPTS n'existe pas.", 400)
    if verifier.oidc is None:
        return message_page(
            "Connexion indisponible",
            "Aucun fournisseur OpenID n'est configuré (PARCOURS_OIDC_ISSUER). En développement, "
            "ouvrez la page avec ?access_token= (parcours token).",
            503,
        )
    try:
        meta = await verifier.oidc.metadata()
    except OidcError as exc:
        return message_page("Connexion indisponible", str(exc), 503)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    code_verifier = secrets.token_urlsafe(48)
    await _pool(request).execute("DELETE FROM web_sign_ins WHERE expires_at < now()")
    await _pool(request).execute(
        """INSERT INTO web_sign_ins (state, code_verifier, nonce, next_path, cpts, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))""",
        state,
        code_verifier,
        nonce,
        safe_next(next),
        cpts,
        float(SIGN_IN_SECONDS),
    )
    query = {
        "response_type": "code",
        "client_id": settings.auth.oidc_client_id,
        "redirect_uri": redirect_uri(request),
        "scope": settings.auth.oidc_scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": _challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    if settings.auth.oidc_acr:
        query["acr_values"] = settings.auth.oidc_acr
    return Redirect(f"{meta.authorization_endpoint}?{urlencode(query)}", status_code=303)


def redirect_uri(request: Request[Any, Any, Any]) -> str:
    configured = _settings(request).auth.oidc_redirect_uri
    return configured or str(request.base_url).rstrip("/") + "/auth/callback"


@get(
    "/auth/callback",
    tags=["sign-in"],
    include_in_schema=False,
    summary="The OpenID provider's redirect back",
)
async def callback(
    request: Request[Any, Any, Any],
    code: str | None = None,
    sign_in_state: Annotated[str | None, Parameter(query="state")] = None,
    error: str | None = None,
) -> Response[Any]:
    verifier, pool = _verifier(request), _pool(request)
    if verifier.oidc is None:
        return message_page("Connexion indisponible", "Aucun fournisseur OpenID configuré.", 503)
    if error:
        return message_page("Connexion refusée", "Le fournisseur a refusé la connexion.", 401)
    pending = await pool.fetchrow(
        """DELETE FROM web_sign_ins WHERE state = $1 AND expires_at > now()
           RETURNING code_verifier, nonce, next_path, cpts""",
        (sign_in_state or "")[:100],
    )
    await pool.execute("DELETE FROM web_sign_ins WHERE expires_at < now()")
    if pending is None or not code:
        return message_page("Connexion expirée", "Cette connexion a expiré : recommencez.", 400)
    try:
        id_token = await _exchange(request, code, pending["code_verifier"])
        claims = await verifier.oidc.verify(id_token, nonce=pending["nonce"])
        rpps = rpps_of(claims["SubjectNameID"])
        principal = await directory_identity.principal_for(pool, rpps, pending["cpts"])
    except directory_identity.SeveralCpts as exc:
        return _choose_cpts(exc.cpts, pending["next_path"])
    except directory_identity.NotInDirectory as exc:
        return message_page("Accès refusé", str(exc), 403)
    except (OidcError, httpx.HTTPError) as exc:
        return message_page("Connexion refusée", f"Jeton refusé : {exc}", 401)
    return await _open(request, principal, id_token, float(claims["exp"]), pending["next_path"])


def _choose_cpts(choices: list[str], next_path: str) -> Response[str]:
    """Listed in several CPTS: sign in again (at once: the provider remembers) into one."""
    links = "".join(
        f'<li><a class="cpts" href="/auth/login?{html.escape(urlencode({"next": next_path, "cpts": c}))}">'
        f"{html.escape(c)}</a></li>"
        for c in choices
    )
    body = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Choisir la CPTS'
        '</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        '<body style="font-family:system-ui;max-width:40em;margin:2em auto">'
        f"<h1>Choisir la CPTS</h1><p>Vous êtes inscrit·e dans plusieurs CPTS :</p><ul>{links}</ul>"
        "</body></html>"
    )
    return Response(body, status_code=200, media_type="text/html; charset=utf-8")


async def _exchange(request: Request[Any, Any, Any], code: str, code_verifier: str) -> str:
    verifier, auth = _verifier(request), _settings(request).auth
    assert verifier.oidc is not None
    meta = await verifier.oidc.metadata()
    async with httpx.AsyncClient(timeout=10.0) as http:
        answer = await http.post(
            meta.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(request),
                "code_verifier": code_verifier,
            },
            auth=(auth.oidc_client_id or "", auth.oidc_client_secret or ""),
        )
    if answer.status_code != 200:
        raise OidcError(f"the provider refused the code (HTTP {answer.status_code})")
    id_token = answer.json().get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("the provider's answer holds no ID token")
    return id_token


async def _open(
    request: Request[Any, Any, Any], principal: Any, token: str, exp: float, next_path: str
) -> Response[Any]:
    settings = _settings(request)
    until = min(time.time() + settings.auth.session_ttl_seconds, exp)
    expires = dt.datetime.fromtimestamp(until, dt.UTC)
    value, _ = await web_session.open_session(_pool(request), principal, token, expires)
    response = Redirect(next_path, status_code=303)
    response.cookies.append(session_cookie(settings, value, max(int(until - time.time()), 1)))
    return response


async def development_session(request: Request[Any, Any, Any], path: str) -> Response[Any] | None:
    """Development only: ``?access_token=<dev token>`` opens a session and reloads without it."""
    token = request.query_params.get("access_token")
    if not token or _settings(request).environment == "production":
        return None
    try:
        principal = await _verifier(request).verify(token, _pool(request))
    except (NotAuthorizedException, PermissionDeniedException) as exc:
        return message_page("Jeton refusé", str(exc.detail), 401)
    exp = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    rest = [(k, v) for k, v in request.query_params.items() if k != "access_token"]
    return await _open(
        request, principal, token, exp, path + ("?" + urlencode(rest) if rest else "")
    )


@post(
    "/auth/logout",
    tags=["sign-in"],
    include_in_schema=False,
    summary="Sign out (form with the session's csrf)",
)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await current_session(request)
    form = await request.form()
    if session is None:
        return Redirect("/auth/signed-out", status_code=303)
    if not web_session.csrf_matches(session, form.get("csrf")):
        return message_page("Requête refusée", "Jeton CSRF absent ou incorrect.", 403)
    await web_session.close_session(_pool(request), request.cookies.get(web_session.COOKIE))
    target = "/auth/signed-out"
    verifier = _verifier(request)
    if verifier.oidc is not None and verifier.oidc.issued_here(session.token):
        meta = await verifier.oidc.metadata()
        if meta.end_session_endpoint:
            # client_id only: the ID token stays out of the URL (id_token_hint is optional)
            target = (
                f"{meta.end_session_endpoint}?{urlencode({'client_id': verifier.oidc.client_id})}"
            )
    response = Redirect(target, status_code=303)
    response.delete_cookie(web_session.COOKIE, path="/")
    return response


@get(
    "/auth/signed-out",
    tags=["sign-in"],
    include_in_schema=False,
    summary="Signed out",
    sync_to_thread=False,
)
def signed_out() -> Response[str]:
    return message_page("Déconnecté", "Vous êtes déconnecté de Parcours.")


ROUTES = [login, callback, logout, signed_out]
