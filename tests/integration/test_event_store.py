"""The event store: optimistic, idempotent appends; reads in commit order that never skip."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from contracts.events import Actor, NewEvent
from contracts.facts import DeathReported, DeliveryReported
from parcours.eventstore import (
    ANY,
    NO_STREAM,
    Checkpoint,
    DuplicateEventError,
    EventStore,
    VersionConflictError,
    writes,
)

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def event(i: int = 0, event_id: uuid.UUID | None = None) -> NewEvent:
    return NewEvent(
        event_id=event_id or uuid.uuid4(),
        data=DeliveryReported(delivered_at=T0 + dt.timedelta(hours=i)),
        occurred_at=T0 + dt.timedelta(hours=i),
        correlation_id="corr-1",
        actor=Actor(id="SYS-1", role="discharge-system"),
        cpts="demo",
    )


@pytest.fixture(params=["insert", "copy"], autouse=True)
def append_path(request, monkeypatch) -> str:
    """Every test here runs twice: appends by the one-statement INSERT, and by COPY (the
    path of large batches, forced here from the first event)."""
    if request.param == "copy":
        monkeypatch.setattr(writes, "COPY_FROM", 1)
    return request.param


@pytest.fixture
async def pool(migrated_url: str):
    pool = await asyncpg.create_pool(migrated_url, min_size=1, max_size=12)
    await pool.execute("TRUNCATE events; DELETE FROM store_checkpoints")
    yield pool
    await pool.close()


async def test_an_append_gets_consecutive_versions_and_positions(pool) -> None:
    store = EventStore(pool)
    result = await store.append("patient-a", NO_STREAM, [event(0), event(1), event(2)])
    assert result.version == 3
    assert result.positions == sorted(result.positions) and len(set(result.positions)) == 3
    stored = await store.read_stream("patient-a")
    assert [e.version for e in stored] == [1, 2, 3]
    assert stored[0].envelope().data == DeliveryReported(delivered_at=T0)


async def test_a_stale_expected_version_is_a_conflict_naming_the_actual_version(pool) -> None:
    store = EventStore(pool)
    await store.append("patient-b", NO_STREAM, [event(0), event(1)])
    with pytest.raises(VersionConflictError) as err:
        await store.append("patient-b", 1, [event(2)])
    assert err.value.actual == 2 and err.value.expected == 1
    assert "version 2" in str(err.value)
    assert await store.stream_version("patient-b") == 2


async def test_sending_the_same_event_again_returns_the_original_position_and_writes_nothing(
    pool,
) -> None:
    store = EventStore(pool)
    e = event(0)
    first = await store.append("patient-c", ANY, [e])
    again = await store.append("patient-c", ANY, [e])
    assert again.duplicate and again.positions == first.positions
    assert await pool.fetchval("SELECT count(*) FROM events WHERE stream = 'patient-c'") == 1


async def test_the_same_id_with_different_content_is_a_conflict_not_an_overwrite(pool) -> None:
    store = EventStore(pool)
    e = event(0)
    await store.append("patient-d", ANY, [e])
    other = NewEvent(
        **{**{f: getattr(e, f) for f in e.__struct_fields__}, "data": DeathReported(died_at=T0)}
    )
    with pytest.raises(DuplicateEventError):
        await store.append("patient-d", ANY, [other])
    with pytest.raises(DuplicateEventError):  # same id, same content, another patient
        await store.append("patient-other", ANY, [e])
    stored = await store.read_stream("patient-d")
    assert [s.type for s in stored] == ["DeliveryReported"]


async def test_a_conflict_inside_a_callers_transaction_leaves_that_transaction_usable(
    pool,
) -> None:
    store = EventStore(pool)
    await store.append("patient-t", NO_STREAM, [event(0)])
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO store_checkpoints (name, txid, position) VALUES ('t', '1', 1)"
        )
        with pytest.raises(VersionConflictError):
            await store.append("patient-t", NO_STREAM, [event(1), event(2)], conn=conn)
        done = await store.append("patient-t", 1, [event(1), event(2)], conn=conn)
        assert done.version == 3
    assert await store.stream_version("patient-t") == 3
    assert await pool.fetchval("SELECT count(*) FROM store_checkpoints WHERE name = 't'") == 1


async def test_a_large_batch_gets_its_positions_in_version_order(pool) -> None:
    store = EventStore(pool)
    batch = [event(i) for i in range(300)]
    result = await store.append("patient-big", ANY, batch)
    stored = await store.read_stream("patient-big")
    assert [e.event_id for e in stored] == [e.event_id for e in batch]
    assert result.positions == [e.position for e in stored] and result.version == 300
    again = await store.append("patient-big", ANY, batch)
    assert again.duplicate and again.positions == result.positions[:1]


async def test_concurrent_appends_with_any_version_all_land_without_gaps(pool) -> None:
    """Eight writers append ten events each with ANY, retrying on a conflict: all 80 land,
    once each, at versions 1..80, and each writer's events keep its own order."""
    store = EventStore(pool)
    written: dict[int, list[uuid.UUID]] = {i: [] for i in range(8)}

    async def writer(i: int) -> None:
        for _ in range(10):
            e = event(i)
            for _attempt in range(50):
                try:
                    await store.append("patient-e", ANY, [e])
                    break
                except VersionConflictError:
                    await asyncio.sleep(0)
            else:
                raise AssertionError(f"writer {i} never got its event in")
            written[i].append(e.event_id)

    await asyncio.gather(*(writer(i) for i in range(8)))  # a writer's failure fails the test
    stored = await store.read_stream("patient-e")
    assert [e.version for e in stored] == list(range(1, 81))
    stored_ids = [e.event_id for e in stored]
    assert sorted(stored_ids) == sorted(i for ids in written.values() for i in ids)
    assert len(set(stored_ids)) == 80
    for ids in written.values():
        assert [x for x in stored_ids if x in ids] == ids


async def test_reading_after_a_position_returns_only_later_events(pool) -> None:
    store = EventStore(pool)
    await store.append("patient-f", ANY, [event(i) for i in range(5)])
    everything = await store.read_all()
    middle = everything[2].checkpoint
    rest = await store.read_all(middle)
    assert [e.event_id for e in rest] == [e.event_id for e in everything[3:]]
    assert await store.read_all(everything[-1].checkpoint) == []
    assert await store.read_all(Checkpoint(), limit=2) == everything[:2]


async def test_slow_transaction_is_not_skipped(pool) -> None:
    """A transaction that took its position early and commits late is read, once, in order."""
    store = EventStore(pool)
    slow = await pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        slow_event = event(99)
        await store.append("patient-slow", ANY, [slow_event], conn=slow)
        # others commit meanwhile, with larger positions
        for i in range(5):
            await store.append(f"patient-fast-{i}", ANY, [event(i)])
        seen: list[uuid.UUID] = []
        checkpoint = Checkpoint()
        batch = await store.read_all(checkpoint)
        # nothing past the slow transaction may be handed out while it is open
        assert slow_event.event_id not in {e.event_id for e in batch}
        assert batch == []
        await tx.commit()
        while batch := await store.read_all(checkpoint, limit=2):
            seen += [e.event_id for e in batch]
            checkpoint = batch[-1].checkpoint
        assert seen[0] == slow_event.event_id  # it took its transaction id first
        assert len(seen) == len(set(seen)) == 6
    finally:
        await pool.release(slow)


async def test_a_reader_racing_many_writers_sees_every_event_exactly_once(pool) -> None:
    store = EventStore(pool)
    written: list[uuid.UUID] = []

    async def writer(w: int) -> None:
        for i in range(25):
            e = event(i)
            await store.append(f"patient-w{w}-{i}", NO_STREAM, [e])
            written.append(e.event_id)

    async def reader(done: asyncio.Event) -> list[uuid.UUID]:
        seen: list[uuid.UUID] = []
        checkpoint = Checkpoint()
        while True:
            batch = await store.read_all(checkpoint, limit=7)
            seen += [e.event_id for e in batch]
            if batch:
                checkpoint = batch[-1].checkpoint
            elif done.is_set():
                return seen
            await asyncio.sleep(0)

    done = asyncio.Event()
    read = asyncio.create_task(reader(done))
    await asyncio.gather(*(writer(w) for w in range(6)))
    done.set()
    seen = await read
    assert len(seen) == len(set(seen)) == 150
    assert set(seen) == set(written)


async def test_appending_to_many_streams_at_once_keeps_each_streams_versions(pool) -> None:
    from parcours.eventstore import AppendRequest

    store = EventStore(pool)
    await store.append("patient-m1", NO_STREAM, [event(0)])
    results = await store.append_many(
        [
            AppendRequest("patient-m1", 1, [event(1), event(2)]),
            AppendRequest("patient-m2", NO_STREAM, [event(3)]),
            AppendRequest("patient-m3", ANY, [event(4), event(5), event(6)]),
        ]
    )
    assert [r.version for r in results] == [3, 1, 3]
    assert [e.version for e in await store.read_stream("patient-m1")] == [1, 2, 3]


async def test_one_conflicting_stream_does_not_sink_the_others_in_a_multi_stream_append(
    pool,
) -> None:
    from parcours.eventstore import AppendRequest

    store = EventStore(pool)
    replayed = event(0)
    await store.append("patient-n1", NO_STREAM, [replayed, event(1)])
    async with pool.acquire() as conn, conn.transaction():
        results = await store.append_many(
            [
                AppendRequest("patient-n1", 1, [event(2)]),  # stale: the stream is at 2
                AppendRequest("patient-n2", NO_STREAM, [event(3)]),
                AppendRequest("patient-n1", ANY, [replayed]),  # sent again
            ],
            conn=conn,
        )
    assert isinstance(results[0], VersionConflictError) and results[0].actual == 2
    assert results[1].version == 1
    assert results[2].duplicate
    assert await store.stream_version("patient-n2") == 1
    assert await store.stream_version("patient-n1") == 2
