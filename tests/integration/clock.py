"""Instants for fact bodies, and settings on the virtual clock (shared by scenario tests)."""

from __future__ import annotations

import datetime as dt

from parcours.settings import Settings


def iso(t: dt.datetime) -> str:
    """An instant as the API takes it: RFC 3339 in UTC with a ``Z``."""
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def on_virtual_clock(settings: Settings, start: dt.datetime) -> Settings:
    """These settings in simulation mode, the clock starting at ``start``."""
    return settings.replace(clock="virtual", clock_start=start)
