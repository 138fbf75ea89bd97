"""The patient of a stream, parsed once: every view asks it of every event, and parsing a
UUID from text costs more than the rest of a timeline row."""

from __future__ import annotations

import uuid
from functools import lru_cache

from contracts.events import patient_of_stream


@lru_cache(maxsize=1 << 17)
def patient_of(stream: str) -> uuid.UUID | None:
    return patient_of_stream(stream)
