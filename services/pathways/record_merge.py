"""An identity merge on the one write path: the merged patient record's open tasks move
to the surviving record (``pathways.domain.merging`` decides what), duplicates are
cancelled. Both records get new events, appended together in one statement (both or
neither); nothing stored is rewritten. Deciding a merge again changes nothing, so a
re-sent A40 (a crash before its ACK) is harmless."""

from __future__ import annotations

import datetime as dt

import msgspec

from pathways.domain import HandOverTasks, TakeOverTasks
from pathways.domain.merging import plan_merge
from pathways.fastids import new_uuid4
from pathways.streams import Origin, PatientStreams, StreamWrite


class Merged(msgspec.Struct, frozen=True):
    moved: int
    duplicates: int


class RecordMerge:
    def __init__(self, streams: PatientStreams) -> None:
        self.streams = streams

    async def merge(self, merged: str, surviving: str, origin: Origin, now: dt.datetime) -> Merged:
        """Move the open work of stream ``merged`` to stream ``surviving``."""
        into, out = StreamWrite(surviving, []), StreamWrite(merged, [])
        await self.streams.load([into, out])
        moved, duplicates, superseded = plan_merge(out.state, into.state, new_uuid4)
        if not moved and not duplicates:
            return Merged(0, 0)
        actor = (origin.actor.id, origin.actor.role)
        into.commands = [
            (
                TakeOverTasks(
                    merged_stream=merged, tasks=moved, actor_id=actor[0], actor_role=actor[1]
                ),
                origin,
            )
        ]
        out.commands = [
            (
                HandOverTasks(
                    surviving_stream=surviving,
                    moved=[m.task_id for m in moved],
                    duplicates=duplicates,
                    superseded=superseded,
                    actor_id=actor[0],
                    actor_role=actor[1],
                ),
                origin,
            )
        ]
        await self.streams.write([into, out], now)
        into.only(), out.only()  # a refusal or the store's error is raised
        return Merged(len(moved), len(duplicates))
