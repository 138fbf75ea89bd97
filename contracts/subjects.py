"""NATS subject and JetStream stream names.

Every name takes a ``prefix`` (``parcours`` in production) so that several
isolated installations, or test modules, can share one NATS server.
"""

from __future__ import annotations

import re

from msgspec import Struct

DEFAULT_PREFIX = "parcours"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def subject_token(value: str) -> str:
    """Check that ``value`` can stand as one NATS subject token (no dots, no wildcards)."""
    if not _TOKEN.match(value):
        raise ValueError("a subject token is letters, digits, '-' or '_'")
    return value


class Subjects(Struct, frozen=True):
    prefix: str = DEFAULT_PREFIX

    # --- the events stream: every committed event, published by the relay
    @property
    def events_stream(self) -> str:
        return f"{self.prefix.upper()}_EVENTS"

    @property
    def events_wildcard(self) -> str:
        return f"{self.prefix}.*.events.>"

    def events(self, cpts: str, category: str) -> str:
        return f"{self.prefix}.{subject_token(cpts)}.events.{category}"

    # --- the notifications stream: what professionals' apps receive
    @property
    def notifications_stream(self) -> str:
        return f"{self.prefix.upper()}_NOTIFICATIONS"

    @property
    def notifications_wildcards(self) -> list[str]:
        p = self.prefix
        return [f"{p}.*.tasks.>", f"{p}.*.pool.>", f"{p}.*.coord"]

    def professional(self, cpts: str, role: str, rpps: str) -> str:
        return (
            f"{self.prefix}.{subject_token(cpts)}.tasks.{subject_token(role)}.{subject_token(rpps)}"
        )

    def pool(self, cpts: str, role: str, zone: str) -> str:
        return (
            f"{self.prefix}.{subject_token(cpts)}.pool.{subject_token(role)}.{subject_token(zone)}"
        )

    def coordinators(self, cpts: str) -> str:
        return f"{self.prefix}.{subject_token(cpts)}.coord"
