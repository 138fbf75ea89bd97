"""The PostgreSQL event store: idempotent, optimistic appends and gap-free reads.

Shared runtime: the pathways service writes through it; the relay and the
projections' rebuild read through it.

Appends
    One INSERT statement per append, so an append is atomic without an explicit
    transaction (one round trip). ``expected_version`` is the version the writer
    saw; the unique ``(stream, version)`` constraint turns a concurrent writer
    into a ``VersionConflictError`` naming the actual version. Every event has
    a UUID chosen by its sender or the service and is unique forever: sending
    the same events again returns the original positions and writes nothing;
    the same id with different content is a ``DuplicateEventError``. Ids are unique
    per CPTS (``UNIQUE (event_id, cpts)``): the same id from another CPTS is another event.

Reads in commit order, never skipping a late commit
    A sequence hands out positions at INSERT time, but transactions commit in
    any order: a reader that remembers "last position seen" skips a position
    that becomes visible after a larger one. We chose *transaction-id
    visibility*: each row records its writing transaction (``txid xid8``), and
    ``read_all`` only returns rows whose transaction is older than the oldest
    transaction still in flight (``txid < pg_snapshot_xmin(pg_current_snapshot())``),
    ordered by ``(txid, position)``. Every such transaction has finished, so
    no row can later appear before the reader's checkpoint ``(txid, position)``:
    nothing is skipped, nothing is returned twice. The price is that one long
    transaction anywhere in the database holds readers back until it ends; no
    writer blocks on another, which a per-category advisory lock would do
    (serialising every append of a tenant). Appends must therefore keep their
    transactions short; the test ``test_slow_transaction_is_not_skipped`` holds
    one open while others commit.

The package: ``records`` (results, errors, rows), ``writes`` (appends), ``reads`` (by
stream), ``ordered`` (commit order, checkpoints), ``visible`` (the read side's places and
rebuild reads). Only this package holds SQL on the ``events`` table.
"""

from __future__ import annotations

import asyncpg

from parcours.eventstore.ordered import _CommitOrder
from parcours.eventstore.reads import _Reads, read_events
from parcours.eventstore.records import (
    ANY,
    NO_STREAM,
    AppendRequest,
    AppendResult,
    Checkpoint,
    DuplicateEventError,
    EventStoreError,
    PreconditionFailedError,
    RecordedEvent,
    StoredEvent,
    VersionConflictError,
)
from parcours.eventstore.visible import (
    EventPlaces,
    VisibleEvent,
    count_events,
    places_of_events,
    stream_visible_events,
    visible_instants,
)
from parcours.eventstore.writes import BEFORE_FIRST_PARAM, _Writes


class EventStore(_Writes, _Reads, _CommitOrder):
    """Appends and reads events. Pass a pool, or a connection inside a transaction."""

    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = pool


__all__ = [
    "ANY",
    "BEFORE_FIRST_PARAM",
    "NO_STREAM",
    "AppendRequest",
    "AppendResult",
    "Checkpoint",
    "DuplicateEventError",
    "EventPlaces",
    "EventStore",
    "EventStoreError",
    "PreconditionFailedError",
    "RecordedEvent",
    "StoredEvent",
    "VersionConflictError",
    "VisibleEvent",
    "count_events",
    "places_of_events",
    "read_events",
    "stream_visible_events",
    "visible_instants",
]
