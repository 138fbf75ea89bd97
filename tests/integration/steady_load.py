"""Steady load for takeover tests: one patient event appended every 10 ms, in commit
order, while a test kills something; and the check that JetStream holds each once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from parcours.eventstore import ANY, EventStore
from pathways.relay import msg_id
from tests.integration.conftest import eventually
from tests.integration.test_event_store import event


class SteadyLoad:
    def __init__(self, store: EventStore) -> None:
        self.store, self.written = store, list[uuid.UUID]()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while not self._stop.is_set():
            e = event(len(self.written))
            await self.store.append(f"patient-{uuid.uuid4()}", ANY, [e])
            self.written.append(e.event_id)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task  # a failed append fails the test here

    async def published(self, js, stream: str) -> int:  # type: ignore[no-untyped-def]
        return (await js.stream_info(stream)).state.messages

    async def stream_holds_each_once_in_order(self, js, stream: str) -> None:  # type: ignore[no-untyped-def]
        """Stop writing, append a marker, and once it is on ``stream`` compare the stream's
        message ids with every written event's, in commit order: nothing lost, nothing twice."""
        await self.stop()
        marker = event(10_000)
        await self.store.append(f"patient-{uuid.uuid4()}", ANY, [marker])
        expected = [msg_id("demo", i) for i in [*self.written, marker.event_id]]
        count = lambda: self.published(js, stream)  # noqa: E731
        await eventually(lambda: _at_least(count, len(expected)), timeout=30)
        assert await stream_ids(js, stream) == expected


def how_they_differ(got: list, expected: list) -> str:
    """Says whether ``got`` lost, duplicated or reordered ``expected`` (empty: the same)."""
    if got == expected:
        return ""
    counts = Counter(got)
    twice = [x for x, n in counts.items() if n > 1]
    missing = [x for x in expected if x not in counts]
    extra = [x for x in counts if x not in set(expected)]
    unique = list(dict.fromkeys(got))
    reordered = (
        not twice and not missing and not extra or unique != [x for x in expected if x in counts]
    )
    first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
    return (
        f"{len(got)} got for {len(expected)} expected: {len(twice)} twice, {len(missing)} "
        f"missing, {len(extra)} unexpected, order {'differs' if reordered else 'kept'}; "
        f"first difference at {first}: got {got[first - 2 : first + 3]}, "
        f"expected {expected[first - 2 : first + 3]}"
    )


async def stream_ids(js, stream: str) -> list[str]:  # type: ignore[no-untyped-def]
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return []
    first, last = info.state.first_seq, info.state.last_seq
    return [
        (await js.get_msg(stream, seq)).headers["Nats-Msg-Id"] for seq in range(first, last + 1)
    ]


async def _at_least(count, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await count() >= n
