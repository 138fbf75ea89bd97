"""The write path's folded patient states: folding stored rows, and the cache of
states (see ``pathways.streams``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import asyncpg

from contracts.events import payload_decoder
from pathways.domain import PatientState, evolve

EMPTY = PatientState()  # a stream with no event (states are immutable: one is enough)


class StateCache:
    """Folded patient states by stream, each with the stream version it was folded to.

    Events are immutable and versions unique, so a cached state plus the events
    after its version is exactly the fold of the stream. Only states of committed
    versions are put here. The least recently used states are dropped beyond
    ``capacity``.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._states: OrderedDict[str, tuple[int, PatientState]] = OrderedDict()

    def get(self, stream: str) -> tuple[int, PatientState]:
        found = self._states.get(stream)
        if found is None:
            return 0, EMPTY
        self._states.move_to_end(stream)
        return found

    def put(self, stream: str, version: int, state: PatientState) -> None:
        current = self._states.get(stream)
        if current is not None and current[0] >= version:
            return
        self._states[stream] = (version, state)
        self._states.move_to_end(stream)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)


class UnfoldableEventError(Exception):
    """A stored event a state cannot be folded with (``version``; the cause chained)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"the event at version {version} cannot be folded")
        self.version = version


def fold_rows(
    base: tuple[int, PatientState], rows: Sequence[asyncpg.Record]
) -> tuple[int, PatientState]:
    """A state fast-forwarded with stored rows (``version``, ``event_id``, ``data``)."""
    version, state = base
    for r in rows:
        if r["version"] > version:
            try:
                state = evolve(state, payload_decoder.decode(r["data"]), r["event_id"])
            except Exception as exc:
                raise UnfoldableEventError(r["version"]) from exc
            version = r["version"]
    return version, state
