"""``GET /dashboard``: a self-contained page for auditors (no CDN, chart code inline).

Behind the sign-in (``projections.api.pages``): signed in, the page reads the API with
its session cookie. Without a configured OpenID provider (development), it also takes
a token pasted into the page (kept in the tab's sessionStorage only) or
``?access_token=``, which opens a session and disappears from the URL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from litestar import Request, Response, get

from projections.api.pages import gate, render

_PAGE = Path(__file__).with_name("dashboard.html")


@lru_cache(maxsize=1)
def page() -> str:
    return _PAGE.read_text(encoding="utf-8")


@get("/dashboard", tags=["dashboard"], summary="The auditors' dashboard (HTML)")
async def dashboard(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await gate(request, "/dashboard")
    if isinstance(session, Response):
        return session
    return render(request, page(), session)
