"""What the browser pages (``/dashboard``, ``/coordinator``) share: the sign-in gate,
the bar naming who is signed in with its sign-out form, and the security headers.

A page opened without a session goes to the sign-in (``/auth/login?next=…``) when an
OpenID provider is configured; the development path (``?access_token=``) opens a
session first (``parcours.signin.development_session``). The session's CSRF token is
written into the page (``<meta name="csrf-token">``): the page's scripts send it in
``X-CSRF-Token`` with every request that changes something.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response
from litestar.response import Redirect

from parcours import signin
from parcours.web_session import WebSession

CSP = (
    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
ROLE_LABELS = {"coordinator": "coordination", "auditor": "audit", "admin": "administration"}


async def gate(
    request: Request[Any, Any, Any], path: str, roles: frozenset[str] | None = None
) -> WebSession | Response[Any] | None:
    """The page's session; a response to send instead (sign-in, refusal); or ``None``
    when nobody is signed in and no provider is configured (development: the page asks)."""
    opened = await signin.development_session(request, path)
    if opened is not None:
        return opened
    session = await signin.current_session(request)
    if session is None:
        if request.app.state["token_verifier"].oidc is not None:
            query = request.url.query
            target = urlencode({"next": f"{path}?{query}" if query else path})
            return Redirect(f"/auth/login?{target}", status_code=303)
        return None
    if roles is not None and session.principal.role not in roles:
        return signin.message_page(
            "Accès refusé", "Cette page est réservée à la coordination de la CPTS.", 403
        )
    return session


def session_bar(session: WebSession | None) -> str:
    if session is None:
        return ""
    p = session.principal
    who = f"{ROLE_LABELS.get(p.role, p.role)} · {p.sub} · CPTS {p.cpts}"
    return (
        f'<span class="who" id="who">{html.escape(who)}</span>'
        '<form method="post" action="/auth/logout" class="signout">'
        f'<input type="hidden" name="csrf" value="{html.escape(session.csrf)}">'
        '<button type="submit" id="signout">Se déconnecter</button></form>'
    )


def content_security_policy(request: Request[Any, Any, Any]) -> str:
    """The page's CSP: forms post here only; sign-out then goes on to the provider
    (Chromium applies ``form-action`` to the redirect after a form too)."""
    oidc = request.app.state["token_verifier"].oidc
    if oidc is None:
        return CSP
    origin = urlsplit(oidc.issuer)
    return f"{CSP} {origin.scheme}://{origin.netloc}"


def render(
    request: Request[Any, Any, Any], template: str, session: WebSession | None
) -> Response[str]:
    csrf = html.escape(session.csrf) if session is not None else ""
    page = (
        template.replace("<!--SESSION-->", session_bar(session))
        .replace("__CSRF__", csrf)
        .replace("__SIGNED_IN__", "true" if session is not None else "false")
    )
    headers = {**HEADERS, "Content-Security-Policy": content_security_policy(request)}
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
