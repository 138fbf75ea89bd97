"""A rebuilt read model equals the live one, also when events keep arriving during the
rebuild; after the swap the live consumer continues without applying anything twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from projections.cli import VIEWS, rebuild_views
from tests.integration.test_projections_helpers import flush, running
from tests.integration.test_projections_hf import cohort

TABLES = {
    "timeline": ["timeline"],
    "care": ["proj_enrolments", "proj_tasks", "proj_escalations"],
    "indicators": ["proj_case_state", "proj_indicator_cases", "proj_indicator_totals"],
}


TOTALS_OF_CASES = """
SELECT cpts, code, anchor_day, window_end, count(*) AS cases, sum(num) AS num, sum(den) AS den,
       count(*) FILTER (WHERE status = 'met') AS met,
       count(*) FILTER (WHERE status = 'excluded') AS excluded,
       count(*) FILTER (WHERE status = 'ineligible') AS ineligible,
       count(*) FILTER (WHERE status = 'not_met') AS not_met
FROM proj_indicator_cases WHERE valid_to IS NULL
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
TOTALS = """SELECT cpts, code, anchor_day, window_end, cases, num, den, met, excluded, ineligible,
                   not_met FROM proj_indicator_totals ORDER BY 1, 2, 3, 4"""


async def snapshot(pool) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    out = {}
    for tables in TABLES.values():
        for table in tables:
            rows = await pool.fetch(f"SELECT * FROM {table}")
            out[table] = sorted(tuple(str(v) for v in r.values()) for r in rows)
    return out


async def test_a_rebuilt_model_equals_the_live_one(settings):
    async with running(settings) as h:
        first = cohort()
        await flush(h.pool, *first.values())
        await h.settle()
        live = await snapshot(h.pool)
        assert all(live[t] for t in ("timeline", "proj_tasks", "proj_indicator_cases"))

        # rebuild every view while more events arrive and the consumers keep applying them
        more = [cohort() for _ in range(4)]

        async def keep_writing() -> None:
            for group in more:
                await flush(h.pool, *group.values())
                await asyncio.sleep(0.01)

        results, _ = await asyncio.gather(
            rebuild_views(settings, list(VIEWS), batch=50, show_progress=False), keep_writing()
        )
        assert [r.view for r in results] == list(VIEWS)
        await h.settle()
        after_live = await snapshot(h.pool)

        # the live totals are the live cases summed
        assert await h.pool.fetch(TOTALS_OF_CASES) == await h.pool.fetch(TOTALS)

        # a quiet rebuild of the same events gives exactly the same tables
        await rebuild_views(settings, list(VIEWS), show_progress=False)
        rebuilt = await snapshot(h.pool)
        for table in rebuilt:
            extra = set(rebuilt[table]) - set(after_live[table])
            missing = set(after_live[table]) - set(rebuilt[table])
            assert not extra and not missing, (
                table,
                [r[7:] for r in sorted(extra)[:3]],
                [r[7:] for r in sorted(missing)[:3]],
                len(extra),
                len(missing),
            )
        events = await h.pool.fetchval("SELECT count(*) FROM events")
        timeline = await h.pool.fetchval("SELECT count(*) FROM timeline")
        assert timeline == events  # every event once, none twice
        generations = await h.pool.fetch("SELECT view, generation FROM projection_checkpoints")
        assert {r["view"]: r["generation"] for r in generations} == {v: 2 for v in VIEWS}

        # and the live consumers go on from the swapped checkpoint
        last = cohort()
        await flush(h.pool, *last.values())
        await h.settle()
        assert await h.pool.fetchval("SELECT count(*) FROM timeline") == await h.pool.fetchval(
            "SELECT count(*) FROM events"
        )


def test_the_command_shows_a_progress_bar(settings):
    env = {**os.environ, **settings.env()}
    done = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "projections", "rebuild", "--view", "care"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "care" in done.stderr and "100%" in done.stderr
    assert "events/s" in done.stdout


async def test_a_rebuilt_timeline_is_stored_patient_by_patient(settings):
    async with running(settings) as h:
        for _ in range(3):
            await flush(h.pool, *cohort().values())
        await h.settle()
        await rebuild_views(settings, ["timeline"], show_progress=False)
        physical = await h.pool.fetch(
            "SELECT cpts, patient_id, occurred_at, version FROM timeline ORDER BY ctid"
        )
        patients = {r["patient_id"] for r in physical}
        assert len(patients) > 3
        # the heap in the order of the patient index: a patient's rows are neighbours
        assert [tuple(r) for r in physical] == sorted(tuple(r) for r in physical)


SHAPE = """SELECT c.relpersistence::text,
       (SELECT array_agg(regexp_replace(pg_get_indexdef(i.indexrelid),
                                        '^CREATE (UNIQUE )?INDEX \\S+ ON \\S+', '\\1'))
        FROM pg_index i WHERE i.indrelid = c.oid) AS indexes
FROM pg_class c WHERE c.oid = $1::regclass"""


async def shape(pool, table: str) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    persistence, indexes = await pool.fetchrow(SHAPE, table)
    return persistence, sorted(indexes or [])


async def test_a_rebuilt_table_is_logged_with_every_index_of_the_live_one(settings):
    """The shadow is filled unlogged with its unique indexes only (``_create_shadows``);
    what is swapped in is logged, with every index the migrations gave the live table."""
    async with running(settings) as h:
        await flush(h.pool, *cohort().values())
        await h.settle()
        tables = [t for ts in TABLES.values() for t in ts]
        before = {t: await shape(h.pool, t) for t in tables}
        assert all(p == "p" and ix for p, ix in before.values()), before
        await rebuild_views(settings, list(VIEWS), show_progress=False)
        after = {t: await shape(h.pool, t) for t in tables}
        assert after == before
