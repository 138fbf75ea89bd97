"""Who is calling: the identity every route reads from ``request.user``."""

from __future__ import annotations

import msgspec

from contracts.roles import Role


class Principal(msgspec.Struct, frozen=True):
    sub: str
    role: str
    cpts: str
    specialty: str | None = None
    zones: tuple[str, ...] = ()

    @property
    def actor_role(self) -> str:
        """The role acted in: a specialist acts as their specialty."""
        return self.specialty if self.role == Role.SPECIALIST and self.specialty else self.role
