"""``GET /dashboard``: a self-contained page for auditors (no CDN, chart code inline).

The page itself is public (it holds no data); it reads the API with the auditor's
token, taken from ``?access_token=`` or pasted into the page (kept in the tab's
sessionStorage only).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from litestar import Response, get

_PAGE = Path(__file__).with_name("dashboard.html")


@lru_cache(maxsize=1)
def page() -> str:
    return _PAGE.read_text(encoding="utf-8")


@get(
    "/dashboard", tags=["dashboard"], summary="The auditors' dashboard (HTML)", sync_to_thread=False
)
def dashboard() -> Response[str]:
    return Response(
        page(),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; img-src 'self' data:",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )
