"""Events of the professional directory (the notifications service keeps it): each change
of an entry is recorded whole, on the CPTS's ``directory-<cpts>`` stream, so that other
services keep their own copy (the projections check pool zones with it)."""

from __future__ import annotations

from contracts.base import EventPayload


class ProfessionalListed(EventPayload, frozen=True, tag="ProfessionalListed"):
    """A directory entry as it is after a change (added, or its role, zones, activity)."""

    rpps: str
    role: str
    specialty: str | None = None
    zones: list[str] = []
    active: bool = True


DIRECTORY_PAYLOADS: tuple[type[EventPayload], ...] = (ProfessionalListed,)


def directory_stream(cpts: str) -> str:
    return f"directory-{cpts}"
