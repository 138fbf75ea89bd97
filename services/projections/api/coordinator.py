"""``GET /coordinator``: the coordinators' page, behind the sign-in (light JavaScript, no CDN).

It shows today's worklist, overdue and escalated tasks (``/v1/worklists/coordinator``,
this service), the urgent tasks nobody has seen (the notifications service's
``/v1/coordinator/unseen``), the access report (``/v1/access-report``, this
service), and enrols, assigns, reassigns and cancels through the pathways
service's commands.

Why a proxy (``/ui/…``): the page talks to one origin only, with its session cookie,
so the cookie (HTTP-only) never leaves this service, no token reaches the page's
scripts, and neither service needs CORS. The proxy is a short allow-list, not a
gateway: each route forwards one pathways or notifications call with the session's
token as the bearer, and the other service decides (its own rules, its own 403s);
the answer comes back as it was. A POST needs the session's CSRF token
(``X-CSRF-Token``, checked by the authentication middleware before the route runs).
The proxy routes stay out of the OpenAPI document (they are the page's plumbing; the
operations they forward are documented, and fuzzed, on their own services).
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import httpx
from litestar import Request, Response, get, post

from contracts.roles import Role
from parcours.auth import CPTS_HEADER, requires
from parcours.settings import Settings
from projections.api.pages import gate, render

_PAGE = Path(__file__).with_name("coordinator.html")
STAFF = frozenset({str(Role.COORDINATOR), str(Role.ADMIN)})
FORWARDED_HEADERS = ("content-type",)
TIMEOUT_SECONDS = 15.0


@lru_cache(maxsize=1)
def page() -> str:
    return _PAGE.read_text(encoding="utf-8")


@get("/coordinator", tags=["coordinator"], summary="The coordinators' page (HTML)")
async def coordinator_page(request: Request[Any, Any, Any]) -> Response[Any]:
    session = await gate(request, "/coordinator", STAFF)
    if isinstance(session, Response):
        return session
    return render(request, page(), session)


def service_url(settings: Settings, service: Literal["pathways", "notifications"]) -> str:
    http = settings.http
    configured = http.pathways_url if service == "pathways" else http.notifications_url
    port = http.pathways_port if service == "pathways" else http.notifications_port
    return (configured or f"http://{http.host}:{port}").rstrip("/")


async def _forward(
    request: Request[Any, Any, Any],
    service: Literal["pathways", "notifications"],
    method: str,
    path: str,
) -> Response[bytes]:
    settings: Settings = request.app.state["settings"]
    headers = {"Authorization": f"Bearer {request.auth}", CPTS_HEADER: request.user.cpts}
    body = await request.body() if method == "POST" else None
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
            answer = await http.request(
                method,
                service_url(settings, service) + path,
                headers=headers,
                content=body,
                params=dict(request.query_params),
            )
    except httpx.HTTPError:
        return Response(
            b'{"title": "Service unavailable", "status": 503, '
            b'"detail": "the ' + service.encode() + b' service cannot be reached"}',
            status_code=503,
            media_type="application/problem+json",
        )
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type", "application/json"),
    )


_GUARDS = [requires(*STAFF)]


@get(
    "/ui/pathways/v1/protocols",
    guards=_GUARDS,
    tags=["coordinator"],
    summary="(page proxy)",
    include_in_schema=False,
)
async def ui_protocols(request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _forward(request, "pathways", "GET", "/v1/protocols")


@post(
    "/ui/pathways/v1/enrolments",
    guards=_GUARDS,
    tags=["coordinator"],
    include_in_schema=False,  # the page's plumbing, not an API (see the module docstring)
    summary="(page proxy) enrol a patient",
)
async def ui_enrol(request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _forward(request, "pathways", "POST", "/v1/enrolments")


@post(
    "/ui/pathways/v1/tasks/{task_id:uuid}/{action:str}",
    guards=_GUARDS,
    tags=["coordinator"],
    include_in_schema=False,  # the page's plumbing, not an API (see the module docstring)
    summary="(page proxy) assign, reassign or cancel a task",
)
async def ui_task_command(
    request: Request[Any, Any, Any], task_id: uuid.UUID, action: Literal["reassign", "cancel"]
) -> Response[bytes]:
    return await _forward(request, "pathways", "POST", f"/v1/tasks/{task_id}/{action}")


@get(
    "/ui/notifications/v1/coordinator/unseen",
    guards=_GUARDS,
    tags=["coordinator"],
    include_in_schema=False,  # the page's plumbing, not an API (see the module docstring)
    summary="(page proxy) urgent tasks nobody has seen",
)
async def ui_unseen(request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _forward(request, "notifications", "GET", "/v1/coordinator/unseen")


ROUTES = [coordinator_page, ui_protocols, ui_enrol, ui_task_command, ui_unseen]
