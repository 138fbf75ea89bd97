"""The circle view: each patient's care circle and break-the-glass grants, copied from the
events the pathways decider published (``CareCircleChanged``, ``BreakGlassGranted``), the
patients' oppositions to sharing (``SharingOpposed`` facts: their pool tasks are not
shown to that professional), and the CPTS directory (``ProfessionalListed``: the zones
of the pools a professional may look into).

The rule of who belongs is never recomputed here: the view applies the published
changes in stream order. Within a batch the last change of a (patient, professional)
wins, so each table is written with one statement per kind of change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from contracts import pathway as ev
from contracts.directory import ProfessionalListed
from contracts.facts import SharingOpposed
from projections.domain.patients import patient_of
from projections.views import Item


class CircleView:
    name = "circle"
    tables = ("proj_care_circle", "proj_break_glass", "proj_sharing_opposed", "proj_directory")

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None:
        members: dict[tuple[str, Any, str], tuple[Any, ...] | None] = {}  # None: removed
        grants: list[tuple[Any, ...]] = []
        opposed: list[tuple[Any, ...]] = []
        listed: dict[tuple[str, str], tuple[Any, ...]] = {}
        for item in items:
            env, data = item.envelope, item.envelope.data
            if isinstance(data, ProfessionalListed):
                listed[(env.cpts, data.rpps)] = (
                    env.cpts,
                    data.rpps,
                    data.role,
                    data.specialty,
                    list(data.zones),
                    data.active,
                    env.event_id,
                )
                continue
            patient = patient_of(env.stream)
            if patient is None:
                continue
            if isinstance(data, ev.CareCircleChanged):
                key = (env.cpts, patient, data.rpps)
                members[key] = (
                    (*key, data.role, data.source, env.occurred_at, env.event_id)
                    if data.change == "added"
                    else None
                )
            elif isinstance(data, SharingOpposed):
                opposed.append((env.cpts, patient, data.rpps))
            elif isinstance(data, ev.BreakGlassGranted):
                grants.append(
                    (
                        data.access_id,
                        env.cpts,
                        patient,
                        data.rpps,
                        data.role,
                        data.reason,
                        data.granted_at,
                        data.expires_at,
                    )
                )
        circle = tables["proj_care_circle"]
        removed = [key for key, row in members.items() if row is None]
        if removed:
            await conn.executemany(
                f"DELETE FROM {circle} WHERE cpts = $1 AND patient_id = $2 AND rpps = $3",
                removed,
            )
        added = [row for row in members.values() if row is not None]
        if added:
            await conn.executemany(
                f"""INSERT INTO {circle} (cpts, patient_id, rpps, role, source, since, event_id)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    ON CONFLICT (cpts, patient_id, rpps) DO UPDATE
                    SET role = EXCLUDED.role, source = EXCLUDED.source""",
                added,
            )
        if opposed:
            await conn.executemany(
                f"INSERT INTO {tables['proj_sharing_opposed']} (cpts, patient_id, rpps) "
                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                opposed,
            )
        if grants:
            await conn.executemany(
                f"""INSERT INTO {tables["proj_break_glass"]} (access_id, cpts, patient_id, rpps,
                        role, reason, granted_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
                grants,
            )
        if listed:
            await conn.executemany(
                f"""INSERT INTO {tables["proj_directory"]} (cpts, rpps, role, specialty, zones,
                        active, event_id)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    ON CONFLICT (cpts, rpps) DO UPDATE
                    SET role = EXCLUDED.role, specialty = EXCLUDED.specialty,
                        zones = EXCLUDED.zones, active = EXCLUDED.active,
                        event_id = EXCLUDED.event_id""",
                list(listed.values()),
            )
