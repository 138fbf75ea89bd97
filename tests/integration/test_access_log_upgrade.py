"""Upgrading a database keeps its access history: the rows of the two old logs
(pathways' ``identity_access_log``, projections' ``proj_access_log``) move into the shared
``access_log``, and the old tables go."""

from __future__ import annotations

import uuid

import asyncpg

from parcours.migrations import apply, discover
from tests.conftest import _run

PATIENT = uuid.UUID("00000000-0000-4000-8000-000000000061")


async def _before_need_to_know(url: str) -> None:
    """The schema as it was: every migration below the need-to-know ones (0060+)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """CREATE TABLE schema_migrations (component text NOT NULL, version integer NOT NULL,
                   name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, version))"""
        )
        for m in discover():
            if m.version < 60:
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                    m.component,
                    m.version,
                    m.name,
                )
        await conn.execute(
            """INSERT INTO identity_access_log (cpts, reader, reader_role, patient_id, route,
                                                granted, read_at)
               VALUES ('demo', '10000000001', 'gp', $1, '/v1/patients/x/identity', false,
                       '2026-04-01T10:00:00Z')""",
            PATIENT,
        )
        await conn.execute(
            """INSERT INTO proj_access_log (at, cpts, sub, role, route, purpose, patient_ids)
               VALUES ('2026-04-02T10:00:00Z', 'demo', 'COORD-1', 'coordinator',
                       'GET /v1/patients/{patient_id}/timeline', 'patient timeline', $1)""",
            [PATIENT],
        )
    finally:
        await conn.close()


async def test_the_old_access_logs_move_into_the_shared_one(database_url: str) -> None:
    await _before_need_to_know(database_url)
    applied = _run(apply(database_url))
    assert "parcours/0060_access_log.sql" in applied
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT sub, role, route, purpose, patient_ids, granted, break_glass FROM access_log "
            "ORDER BY at"
        )
        old = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename IN "
            "('identity_access_log', 'proj_access_log')"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("10000000001", "gp", "GET /v1/patients/x/identity", "patient identity", [PATIENT],
         False, False),
        ("COORD-1", "coordinator", "GET /v1/patients/{patient_id}/timeline", "patient timeline",
         [PATIENT], True, False),
    ]  # fmt: skip
    assert old == 0
