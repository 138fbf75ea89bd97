"""Rows by COPY, or by the idempotent INSERT when some are already there
(``parcours.copying``: the timeline's lines, the timer index's rows)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from projections.timeline import TimelineRow, insert_timeline_rows

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def line(n: int, patient: uuid.UUID) -> TimelineRow:
    at = T0 + dt.timedelta(minutes=n)
    return TimelineRow(
        event_id=uuid.UUID(int=patient.int ^ (n + 1)), cpts="demo", patient_id=patient, version=n + 1,
        type="LabResultReported", occurred_at=at, recorded_at=at, label_fr="Résultat",
        label_en="Result", data=f'{{"n": {n}}}',
    )  # fmt: skip


async def test_a_replayed_batch_writes_its_new_lines_once_and_skips_the_others(
    migrated_url: str,
) -> None:
    patient = uuid.uuid4()
    conn = await asyncpg.connect(migrated_url)
    try:
        async with conn.transaction():  # as a consumer applies: inside its transaction
            await insert_timeline_rows(conn, [line(n, patient) for n in range(100)])
            # half already there (a replay), half new, then a small batch all there
            await insert_timeline_rows(conn, [line(n, patient) for n in range(50, 150)])
            await insert_timeline_rows(conn, [line(n, patient) for n in range(10)])
            await conn.execute("SELECT 1")  # the transaction is still usable
        rows = await conn.fetch(
            "SELECT version, data->>'n' AS n FROM timeline WHERE patient_id = $1 ORDER BY version",
            patient,
        )
        assert [r["version"] for r in rows] == list(range(1, 151))
        assert [int(r["n"]) for r in rows] == list(range(150))
    finally:
        await conn.close()
