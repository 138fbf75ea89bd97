"""The circle view: each patient's care circle and break-the-glass grants, copied from the
events the pathways decider published (``CareCircleChanged``, ``BreakGlassGranted``), and
the patients' oppositions to sharing (``SharingOpposed`` facts: their pool tasks are not
shown to that professional), and the CPTS directory (``ProfessionalListed``: the zones
of the pools a professional may look into).

The rule of who belongs is never recomputed here: the view applies the published
changes in stream order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
        circle, grants = tables["proj_care_circle"], tables["proj_break_glass"]
        opposed, directory = tables["proj_sharing_opposed"], tables["proj_directory"]
        for item in items:
            env, data = item.envelope, item.envelope.data
            if isinstance(data, ProfessionalListed):
                await conn.execute(
                    f"""INSERT INTO {directory} (cpts, rpps, role, specialty, zones, active,
                                                 event_id)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        ON CONFLICT (cpts, rpps) DO UPDATE
                        SET role = EXCLUDED.role, specialty = EXCLUDED.specialty,
                            zones = EXCLUDED.zones, active = EXCLUDED.active,
                            event_id = EXCLUDED.event_id""",
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
                if data.change == "added":
                    await conn.execute(
                        f"""INSERT INTO {circle} (cpts, patient_id, rpps, role, source, since,
                                                  event_id)
                            VALUES ($1, $2, $3, $4, $5, $6, $7)
                            ON CONFLICT (cpts, patient_id, rpps) DO UPDATE
                            SET role = EXCLUDED.role, source = EXCLUDED.source""",
                        env.cpts,
                        patient,
                        data.rpps,
                        data.role,
                        data.source,
                        env.occurred_at,
                        env.event_id,
                    )
                else:
                    await conn.execute(
                        f"DELETE FROM {circle} WHERE cpts = $1 AND patient_id = $2 AND rpps = $3",
                        env.cpts,
                        patient,
                        data.rpps,
                    )
            elif isinstance(data, SharingOpposed):
                await conn.execute(
                    f"INSERT INTO {opposed} (cpts, patient_id, rpps) VALUES ($1, $2, $3) "
                    "ON CONFLICT DO NOTHING",
                    env.cpts,
                    patient,
                    data.rpps,
                )
            elif isinstance(data, ev.BreakGlassGranted):
                await conn.execute(
                    f"""INSERT INTO {grants} (access_id, cpts, patient_id, rpps, role, reason,
                                              granted_at, expires_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
                    data.access_id,
                    env.cpts,
                    patient,
                    data.rpps,
                    data.role,
                    data.reason,
                    data.granted_at,
                    data.expires_at,
                )
