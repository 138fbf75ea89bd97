"""A small migration runner: versioned SQL files applied in order, recorded in a table.

Each component (the shared event store, then each service) keeps its files in a
``migrations`` folder of its package, named ``NNNN_what.sql``. ``apply`` runs
the missing ones in a transaction each, under an advisory lock so that several
processes starting together apply each file once.
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass

import asyncpg

COMPONENTS = ("parcours", "pathways", "notifications", "projections")
_FILE = re.compile(r"^([0-9]{4})_[A-Za-z0-9_-]+\.sql$")
_LOCK_KEY = 7_264_881_001


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str


def discover(components: tuple[str, ...] = COMPONENTS) -> list[Migration]:
    found: list[Migration] = []
    for component in components:
        try:
            folder = importlib.resources.files(component) / "migrations"
        except ModuleNotFoundError:
            continue
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            match = _FILE.match(entry.name)
            if match:
                found.append(
                    Migration(component, int(match.group(1)), entry.name, entry.read_text())
                )
    return found


async def apply(database_url: str, components: tuple[str, ...] = COMPONENTS) -> list[str]:
    """Apply every missing migration; return the names applied."""
    conn = await asyncpg.connect(database_url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   component text NOT NULL, version integer NOT NULL, name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, version))"""
        )
        done = {
            (r["component"], r["version"])
            for r in await conn.fetch("SELECT component, version FROM schema_migrations")
        }
        for m in discover(components):
            if (m.component, m.version) in done:
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                    m.component,
                    m.version,
                    m.name,
                )
            applied.append(f"{m.component}/{m.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
        await conn.close()
    return applied
