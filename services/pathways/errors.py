"""Refusals of the decider as problem details."""

from __future__ import annotations

from parcours.problems import Problem
from pathways.domain import (
    EnrolmentConflictError,
    IllegalTransitionError,
    NotAllowedError,
    RequestStateError,
    UnknownEnrolmentError,
    UnknownProtocolError,
    UnknownRequestError,
    UnknownTaskError,
)


def domain_problem(exc: Exception) -> Exception:
    """The problem detail of a domain refusal; other exceptions pass through unchanged."""
    match exc:
        case IllegalTransitionError():
            return Problem(
                409,
                "Illegal transition",
                exc.message,
                current_status=exc.current_status,
                allowed=exc.allowed,
            )
        case NotAllowedError():
            return Problem(403, "Not allowed", exc.message)
        case RequestStateError():
            return Problem(409, "Request conflict", exc.message, current_status=exc.current_status)
        case UnknownTaskError() | UnknownEnrolmentError() | UnknownRequestError():
            return Problem(404, "Not found", exc.message)
        case EnrolmentConflictError():
            return Problem(409, "Enrolment conflict", exc.message)
        case UnknownProtocolError():
            return Problem(422, "Unknown protocol", str(exc), field="protocol")
    return exc
