"""RFC 9457 problem details: every client error says what is wrong and where.

Services raise ``Problem`` (or a subclass) and the handlers here render
``application/problem+json``. Unknown exceptions become a 500 that names the
correlation id but never the exception text (it could carry patient data).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("parcours.http")


class Problem(Exception):
    """An answer to a client error: status, title, a sentence to act on, and where."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field = status, title, detail, field
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://parcours.example/problems/{self.title.lower().replace(' ', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field:
            body["field"] = self.field
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def problem_response(problem: Problem, request: Request | None = None) -> Response[Any]:
    body = problem.body(request.url.path if request else None)
    correlation = request.scope.get("state", {}).get("correlation_id") if request else None
    if correlation:
        body["correlation_id"] = correlation
    return Response(
        body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


_ECHOED = re.compile(r"^(Invalid (?:enum )?value) .*$")
_NAMED_FIELD = re.compile(r"^`([A-Za-z_][A-Za-z0-9_]*)`: (.*)$", re.DOTALL)


def scrubbed(message: str) -> str:
    """A decoder's message without the value it quotes (``Invalid enum value 'x'``)."""
    return _ECHOED.sub(r"\1", message)


def schema_problem(message: str, accepted_types: Sequence[str] = ()) -> Problem:
    """The 422 for a ``msgspec.ValidationError`` message: what is wrong, at which path
    (``patient.ins``, ``care_team[0].rpps``), never the value that was sent."""
    reason, _, where = message.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").removeprefix(".") or None
    named = _NAMED_FIELD.match(reason)  # raised by a __post_init__: ``field_error``
    if named:
        path = f"{path}.{named[1]}" if path else named[1]
        reason = f"`{named[1]}` {named[2]}"
    elif reason.startswith(("Object missing required field `", "Object contains unknown field `")):
        name = reason.split("`")[1]
        path = f"{path}.{name}" if path else name
    if path == "type" and reason.startswith("Invalid value"):
        detail = "unknown type" + (
            f"; accepted: {', '.join(accepted_types)}" if accepted_types else ""
        )
        return Problem(422, "Unknown type", detail, field="type", accepted=list(accepted_types))
    reason = scrubbed(reason)
    if not path:  # the body as a whole (null, an array...) or a field without a name
        return Problem(422, "Invalid body", reason, reason="body")
    return Problem(422, "Invalid field", f"{reason} at `{path}`", field=path)


def _field_path(key: str | None) -> str | None:
    if not key or key == "data":
        return None
    return key


def _validation(request: Request, exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        {**e, "message": scrubbed(str(e.get("message", "")))} if isinstance(e, dict) else e
        for e in errors
    ]
    first = errors[0] if errors else {}
    message = first.get("message", "the request body does not match the schema") if first else ""
    field = _field_path(first.get("key")) if first else None
    if "JSON is malformed" in (exc.detail or "") or "malformed" in message.lower():
        return problem_response(
            Problem(400, "Malformed JSON", f"the body is not valid JSON: {exc.detail}"), request
        )
    if field == "type" and message.startswith("Invalid value"):
        accepted = request.scope.get("state", {}).get("accepted_types")
        detail = "unknown type" + (f"; accepted: {', '.join(accepted)}" if accepted else "")
        return problem_response(
            Problem(422, "Unknown type", detail, field="type", accepted=accepted or []), request
        )
    if not field and "unknown field" in message:
        field = message.split("`")[1] if "`" in message else None
    detail = f"{message} at `{field}`" if field else message
    return problem_response(
        Problem(422, "Invalid field", detail, field=field, errors=errors), request
    )


def _status_phrase(status: int) -> str:
    """The standard reason phrase of a status ("Not Found"), whatever class raised it."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _http(request: Request, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException):
        title = "Unauthorized"
    elif isinstance(exc, PermissionDeniedException):
        title = "Forbidden"
    elif status == 400:
        title = "Bad request"
    elif status == 413:
        title = "Body too large"
    else:
        title = _status_phrase(status)
    detail = exc.detail or title
    if status == 400 and "malformed" in detail.lower():
        title = "Malformed JSON"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem_response(Problem(status, title, detail, headers=headers), request)


def _problem(request: Request, exc: Problem) -> Response[Any]:
    return problem_response(exc, request)


def _unstorable_text(request: Request, exc: Exception) -> Response[Any]:
    """PostgreSQL refuses the NUL character in text and jsonb (SQLSTATE 22021, 22P05): only a
    client can have sent it, in a path, a query parameter or a JSON string, so it is a 422."""
    return problem_response(
        Problem(
            422,
            "Invalid character",
            "a text value contains the NUL character (\\u0000), which cannot be stored; "
            "remove it and send again",
            reason="nul-character",
        ),
        request,
    )


def _too_deep(request: Request, exc: Exception) -> Response[Any]:
    """A body nested deeper than the decoder's recursion limit (the edge's own bound,
    ``parcours.bodies.MAX_DEPTH``, answers first, with the same status)."""
    return problem_response(
        Problem(400, "Nesting too deep", "the JSON body is nested too deeply", reason="depth"),
        request,
    )


def _internal(request: Request, exc: Exception) -> Response[Any]:
    log.error("unhandled error", error_type=type(exc).__name__, path=request.url.path)
    return problem_response(
        Problem(
            HTTP_500_INTERNAL_SERVER_ERROR,
            "Internal error",
            "the server failed; the correlation id identifies the failure in the logs",
        ),
        request,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Problem: _problem,
    ValidationException: _validation,
    HTTPException: _http,
    asyncpg.CharacterNotInRepertoireError: _unstorable_text,
    asyncpg.UntranslatableCharacterError: _unstorable_text,
    RecursionError: _too_deep,
    Exception: _internal,
}
