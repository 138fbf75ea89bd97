"""Base classes for event payloads and inbound commands.

Stored events never forbid unknown fields (an older reader must keep decoding a
newer event); every event Struct has an explicit, permanent ``type`` tag so that
renaming a class never changes stored data.
"""

from __future__ import annotations

import msgspec


class EventPayload(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every stored event payload. Subclasses set ``tag="PermanentName"``."""


class Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of commands sent to a decider (inbound, tagged by ``type``)."""
