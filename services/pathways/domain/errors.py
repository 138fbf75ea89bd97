"""Errors of the pathway decider; the HTTP layer maps each to a problem detail.

``IllegalTransitionError`` → 409 (with the current status and the allowed
actions), ``NotAllowedError`` → 403, ``UnknownTaskError`` and
``UnknownEnrolmentError`` → 404, ``EnrolmentConflictError`` → 409.
"""

from __future__ import annotations

from uuid import UUID


class DomainError(Exception):
    """Base of the decider's refusals: ``message`` is a sentence a person can act on."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class IllegalTransitionError(DomainError):
    def __init__(self, task_id: UUID, current_status: str, allowed: list[str], message: str):
        self.task_id, self.current_status, self.allowed = task_id, current_status, allowed
        super().__init__(message)


class NotAllowedError(DomainError):
    pass


class UnknownTaskError(DomainError):
    def __init__(self, task_id: UUID) -> None:
        self.task_id = task_id
        super().__init__(f"no task {task_id} in this patient's record")


class UnknownEnrolmentError(DomainError):
    def __init__(self, enrolment_id: UUID) -> None:
        self.enrolment_id = enrolment_id
        super().__init__(f"no enrolment {enrolment_id} in this patient's record")


class EnrolmentConflictError(DomainError):
    """The enrolment cannot be made in its current state (already enrolled, closed...)."""


class RequestStateError(DomainError):
    """An access request cannot take this step in its current status (taken by another
    GP, already closed...): 409 with the current status."""

    def __init__(self, request_id: UUID, current_status: str, message: str) -> None:
        self.request_id, self.current_status = request_id, current_status
        super().__init__(message)


class UnknownRequestError(DomainError):
    def __init__(self, request_id: UUID) -> None:
        self.request_id = request_id
        super().__init__(f"no access request {request_id} in this patient's record")
