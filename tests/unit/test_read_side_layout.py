"""The read-side services keep their HTTP handlers in an ``api`` package."""

from __future__ import annotations

import pytest

from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from projections.app import create_app as projections_app

# added by parcours.service: for every service, and the browser sign-in where pages are
SHARED_ROUTES = {"/health", "/schema", "/auth/"}


@pytest.mark.parametrize(
    ("create_app", "package"),
    [(notifications_app, "notifications.api."), (projections_app, "projections.api.")],
)
def test_every_route_of_the_service_is_handled_in_its_api_package(create_app, package) -> None:
    settings = Settings.from_env(
        {}, database_url="postgresql://nobody@127.0.0.1:1/none", nats_url="nats://127.0.0.1:1"
    )
    app = create_app(settings)
    modules = {
        (route.path, handler.fn.__module__)
        for route in app.routes
        for handler in getattr(route, "route_handlers", None) or [route.route_handler]
        if not any(route.path.startswith(p) for p in SHARED_ROUTES)
        and not handler.fn.__module__.startswith("litestar.")  # its automatic OPTIONS
    }
    assert modules, "the service has routes"
    assert [(path, m) for path, m in modules if not m.startswith(package)] == []


# Documents whose format is someone else's: HTML, and FHIR R4 resources.
FOREIGN_DOCUMENTS = {
    "/dashboard",
    "/coordinator",
    "/v1/indicators/{code}/measure-report",
    "/fhir/r4/Task",
}


def test_every_json_answer_of_the_projections_has_a_schema_in_the_openapi_document() -> None:
    settings = Settings.from_env(
        {}, database_url="postgresql://nobody@127.0.0.1:1/none", nats_url="nats://127.0.0.1:1"
    )
    document = projections_app(settings).openapi_schema.to_schema()
    untyped = []
    for path, operations in document["paths"].items():
        if path in FOREIGN_DOCUMENTS or any(path.startswith(p) for p in SHARED_ROUTES):
            continue
        answer = operations["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" not in str(answer):  # a named Struct, not a free-form object
            untyped.append(path)
    assert len(document["paths"]) > 10
    assert untyped == []
