"""Bodies of the need-to-know routes: care circle changes and break-the-glass requests."""

from __future__ import annotations

from typing import Literal

import msgspec

from contracts import shapes


class CareCircleChangeBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A coordinator adds a professional to a patient's care circle, or removes one."""

    rpps: shapes.Rpps
    role: shapes.ProfessionalRole  # type: ignore[valid-type]
    change: Literal["added", "removed"]
    reason: shapes.Note  # type: ignore[valid-type]


class BreakGlassBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A professional outside the care circle asks for access and says why."""

    reason: shapes.Note  # type: ignore[valid-type]
